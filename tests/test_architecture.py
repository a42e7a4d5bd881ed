"""The code's shape: imports run one way, every DVC stage depends on all it imports, and
the tests mirror the modules.

Read statically (ast), so a lazy import inside a function counts too: hiding an
edge in a function cannot hide a cycle or a missing stage dependency.
"""

from __future__ import annotations

import ast
import re

import yaml

from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "pipeline"


# The entry points' folder: on the package's __path__ (pipeline/__init__.py), so its
# modules are pipeline.<name>, not pipeline.commands.<name>.
COMMANDS = PACKAGE / "commands"


def module_files() -> dict[str, str]:
    """``{module name: path relative to the repository}`` for every pipeline module."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if path.parent == COMMANDS:
            parts = (PACKAGE.name, path.stem)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path.relative_to(REPO_ROOT).as_posix()
    return files


def imports(files: dict[str, str]) -> dict[str, set[str]]:
    """Each module's imports of other pipeline modules (``from a import b`` may be either)."""
    graph = {}
    for name, rel in files.items():
        found = set()
        for node in ast.walk(ast.parse((REPO_ROOT / rel).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            found |= {c for c in candidates if c in files and c != name}
        graph[name] = found
    return graph


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """``start`` and every module it imports, directly or not; a package brings its
    ``__init__`` and a submodule its package."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
        todo += [*graph[module], *(p for p in parents if p in graph)]
    return seen


def inert(rel: str) -> bool:
    """A package ``__init__`` with nothing but a docstring and constants: no behaviour
    for a stage to depend on."""
    body = ast.parse((REPO_ROOT / rel).read_text()).body
    return rel.endswith("__init__.py") and all(
        isinstance(node, ast.Expr | ast.Assign) for node in body
    )


def test_imports_have_no_cycle():
    graph = imports(module_files())
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


# The layers, top to bottom: a folder of pipeline/ may import the folders of the rows
# below its own, never its own row's other folders or a row above. The one place the
# layers are written (docs/architecture.md draws them). Outside the table: the entry
# points (pipeline/commands/cli.py, the `python -m` shims beside it, each folder's __main__.py),
# which may import anything, and pipeline/__init__.py.
LAYERS = (
    ("stages",),
    ("sweep", "reproducibility", "figures", "lessons"),
    ("compare", "servers"),
    ("training",),
    ("tracking", "data"),
    ("kinds",),
    ("config",),
    ("system",),
)


def layer_of(module: str) -> str | None:
    """The folder of ``module`` that the table rules (None for an entry point)."""
    parts = module.split(".")
    if len(parts) < 3 or parts[-1] == "__main__":
        return None  # pipeline/<file>.py at the top (cli, shims, __init__) or a __main__
    return parts[1]


def allowed(folder: str) -> set[str]:
    """The folders ``folder`` may import: its own, and every one in a row below."""
    row = next(i for i, names in enumerate(LAYERS) if folder in names)
    return {folder, *(name for names in LAYERS[row + 1 :] for name in names)}


def against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs sideways or up the table, as ``a -> b``."""
    found = []
    for module, targets in sorted(graph.items()):
        folder = layer_of(module)
        for target in sorted(targets):
            if folder is not None and target.split(".")[1] not in allowed(folder):
                found.append(f"{module} -> {target}")
    return found


def test_every_folder_is_in_the_layer_table_and_has_a_docstring():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == {name for names in LAYERS for name in names}
    # Beside them: the package's own __init__ and the entry points' folder, nothing else.
    loose = {p.name for p in PACKAGE.iterdir() if p.name not in folders | {"__pycache__"}}
    assert loose == {"__init__.py", COMMANDS.name}
    assert {layer_of(m) for m in module_files() if m.count(".") == 1} == {None}
    for folder in folders:
        assert ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))


def test_imports_follow_the_layers():
    assert against_the_layers(imports(module_files())) == []


def test_an_import_against_the_layers_is_caught():
    graph = imports(module_files())
    graph["pipeline.config.paths"] = {*graph["pipeline.config.paths"], "pipeline.training.train"}
    graph["pipeline.tracking.store"] = {*graph["pipeline.tracking.store"], "pipeline.data.idx"}
    graph["pipeline.cli"] = {*graph["pipeline.cli"], "pipeline.stages.train"}  # an entry point
    assert against_the_layers(graph) == [
        "pipeline.config.paths -> pipeline.training.train",
        "pipeline.tracking.store -> pipeline.data.idx",  # a peer in its row
    ]


def stage_entries() -> dict[str, tuple[str, list[str]]]:
    """``{stage: (entry module, deps)}`` from dvc.yaml (foreach stages by their template)."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    entries = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        module = re.search(r"python -m (\S+)", body["cmd"])[1]
        entries[name] = (module, [d for d in body.get("deps", []) if "${" not in d])
    return entries


def uncovered(entry: str, deps: list[str]) -> list[str]:
    """The modules ``entry`` imports (transitively) that none of ``deps`` covers."""
    files = module_files()
    needed = {files[m] for m in closure(imports(files), entry)}
    covered = {f for f in needed for d in deps if f == d or f.startswith(d.rstrip("/") + "/")}
    return sorted(f for f in needed - covered if not inert(f))


def test_every_stage_depends_on_every_module_it_imports():
    missing = {stage: uncovered(*entry) for stage, entry in stage_entries().items()}
    assert {stage: files for stage, files in missing.items() if files} == {}


def superfluous(entry: str, deps: list[str]) -> list[str]:
    """The deps under ``pipeline/`` that hold no module ``entry`` imports (transitively)."""
    files = module_files()
    needed = {files[m] for m in closure(imports(files), entry)}
    return [
        d
        for d in deps
        if d.startswith(f"{PACKAGE.name}/")
        and not any(f == d or f.startswith(d.rstrip("/") + "/") for f in needed)
    ]


def test_no_stage_depends_on_a_module_it_does_not_import():
    # Such a dep reruns the stage (and all after it) on an edit that cannot change its
    # outputs, and costs every `dvc repro` a longer dvc.lock to read and rewrite.
    extra = {stage: superfluous(*entry) for stage, entry in stage_entries().items()}
    assert {stage: deps for stage, deps in extra.items() if deps} == {}


def test_a_dropped_dependency_is_caught():
    entry, deps = stage_entries()["train"]
    assert uncovered(entry, [d for d in deps if d != "pipeline/training/train.py"]) == [
        "pipeline/training/train.py"
    ]
    entry, deps = stage_entries()["compare"]
    missing = uncovered(entry, [d for d in deps if d != "pipeline/compare"])
    assert "pipeline/compare/stats.py" in missing and "pipeline/compare/core.py" in missing
    entry, deps = stage_entries()["download"]
    assert superfluous(entry, [*deps, "pipeline/data/idx.py"]) == ["pipeline/data/idx.py"]


# Modules with no test module of their own, and why.
UNMIRRORED = {
    "pipeline/commands/train.py": "a `python -m` shim of pipeline.cli.train_main "
    "(tests/test_cli.py)",
    "pipeline/compare/__main__.py": "a `python -m` shim of pipeline.stages.compare",
    "pipeline/lessons/__main__.py": "a `python -m` shim of pipeline.lessons.cli (tests/lessons)",
    "pipeline/figures/__main__.py": "a `python -m` shim of pipeline.stages.figures (tests/figures)",
    "pipeline/commands/cleanup.py": "a `python -m` shim of `optlab cleanup` "
    "(tests/training/test_resume.py)",
    "pipeline/commands/ui.py": "a `python -m` shim of pipeline.servers.ui "
    "(tests/servers/test_ui.py)",
    "pipeline/commands/server.py": "a `python -m` shim of pipeline.servers.team "
    "(tests/servers/test_team.py)",
    "pipeline/commands/doctor.py": "a `python -m` shim of pipeline.reproducibility.doctor "
    "(tests/reproducibility/test_doctor.py)",
}


def test_every_module_has_its_test_module():
    """pipeline/<path>/<module>.py is tested in tests/<path>/test_<module>.py (an entry
    point of pipeline/commands/ in tests/test_<module>.py: its module is pipeline.<module>)."""
    missing = []
    for rel in module_files().values():
        path = REPO_ROOT / rel
        if path.name == "__init__.py" or rel in UNMIRRORED:
            continue
        folder = path.parent.relative_to(COMMANDS if path.parent == COMMANDS else PACKAGE)
        test = REPO_ROOT / "tests" / folder / f"test_{path.stem}.py"
        if not test.is_file():
            missing.append(f"{rel}: no {test.relative_to(REPO_ROOT)}")
    assert missing == []
    assert all((REPO_ROOT / rel).is_file() for rel in UNMIRRORED)


def _test_names(path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_row_of_the_reliability_table_names_tests_that_exist():
    """docs/reliability.md: each fault row cites test files and tests that are there."""
    rows = [
        line
        for line in (REPO_ROOT / "docs" / "reliability.md").read_text().splitlines()
        if line.startswith("| ") and not line.startswith(("| fault", "|---"))
    ]
    assert len(rows) >= 30
    missing = []
    for row in rows:
        cited = row.rsplit("|", 2)[1]
        file = None
        for ref in re.findall(r"`([^`]+)`", cited):
            path, _, name = ref.partition("::")
            if path.endswith(".py"):
                file = REPO_ROOT / "tests" / path
            if file is None or not file.is_file():
                missing.append(f"{ref}: no such file")
            elif name and name.split("[")[0] not in _test_names(file):
                missing.append(f"{ref}: no such test in {file.name}")
        if file is None:
            missing.append(f"row cites no test: {row[:60]}")
    assert missing == []
