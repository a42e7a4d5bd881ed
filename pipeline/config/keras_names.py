"""The names Keras resolves from a config's strings, read from Keras' own tables without
importing Keras.

``model.kernel_initializer`` and ``model.output_activation`` are names Keras looks up
(``keras.initializers.get``, ``keras.activations.get``). Importing Keras loads TensorFlow
(5 to 8 s on 2 cores), and a typo there should be one line before that, as every other
config mistake is (:func:`pipeline.config.compose.validate`). So this module reads the tables
those functions look up, ``ALL_OBJECTS`` and ``ALL_OBJECTS_DICT`` of
``keras/src/initializers/__init__.py`` and ``keras/src/activations/__init__.py``, from
the installed Keras' source, with :mod:`ast`: the names are Keras' own, for the Keras
installed, never a second list. ``tests/config/test_keras_names.py`` compares them with the
loaded Keras' tables.

The standard library only.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

# The config keys whose value Keras resolves by name, and the kind of name: a key means
# the same in every schema that has it (as in pipeline.config.ranges.RANGES).
KEYS: dict[str, str] = {"kernel_initializer": "initializer", "output_activation": "activation"}
# Each kind of name: Keras' module that resolves it, and whether its table holds classes
# (named by class name and by its snake_case, as Keras derives them) or functions.
TABLES: dict[str, tuple[str, bool]] = {
    "initializer": ("initializers", True),
    "activation": ("activations", False),
}
# In Keras' tables, but of no use by a bare name: the abstract base class; Constant and
# threshold, which need arguments a name cannot carry (Keras fails on them); STFT, for
# Conv1D's 3-D kernels (the models here have 2-D and 4-D ones); glu, which halves the
# output layer's units. tests/config/test_keras_names.py shows each failing in Keras.
NOT_BY_NAME = frozenset(
    {"Initializer", "initializer", "Constant", "constant", "STFT", "STFTInitializer", "stft"}
    | {"threshold", "glu"}
)


def _to_snake_case(name: str) -> str:
    """Keras' ``keras.src.utils.naming.to_snake_case``: ``GlorotUniform`` ->
    ``glorot_uniform``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras_source(module: str) -> str:
    spec = importlib.util.find_spec("keras")  # finds the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("Keras is not installed (pip install keras)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "src" / module / "__init__.py").read_text(encoding="utf-8")


def _objects(node: ast.stmt) -> list[str]:
    """``ALL_OBJECTS = {a, B, ...}``: the names of its objects."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Set)):
        return []
    if not any(isinstance(t, ast.Name) and t.id == "ALL_OBJECTS" for t in node.targets):
        return []
    return sorted(e.id for e in node.value.elts if isinstance(e, ast.Name))


def _aliases(node: ast.stmt) -> list[str]:
    """``ALL_OBJECTS_DICT.update({"name": ...})`` or ``ALL_OBJECTS_DICT["name"] = ...``:
    the names it adds."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if ast.unparse(call.func) == "ALL_OBJECTS_DICT.update" and call.args:
            table = call.args[0]
            return [k.value for k in getattr(table, "keys", ()) if isinstance(k, ast.Constant)]
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
        target = node.targets[0]
        key = target.slice
        if ast.unparse(target.value) == "ALL_OBJECTS_DICT" and isinstance(key, ast.Constant):
            return [key.value]
    return []


def _table(tree: ast.Module, classes: bool) -> list[str]:
    """The keys of ``ALL_OBJECTS_DICT``: each object of ``ALL_OBJECTS`` by name (classes
    also by snake_case), then the aliases added to it."""
    names: list[str] = []
    for node in tree.body:
        objects = _objects(node)
        names += objects + ([_to_snake_case(n) for n in objects] if classes else [])
        names += _aliases(node)
    return names


@functools.cache
def names(kind: str) -> tuple[str, ...]:
    """The names ``keras.<kind>s.get`` resolves (``kind``: ``initializer`` or
    ``activation``), snake_case first, without duplicates, less :data:`NOT_BY_NAME`.

    Raises:
        ValueError: ``kind`` is not one of :data:`TABLES`.
        LookupError: the installed Keras' table could not be read (a layout this
            module does not know): the message names the file.
    """
    if kind not in TABLES:
        raise ValueError(f"unknown Keras name kind {kind!r}; valid kinds: {', '.join(TABLES)}")
    module, classes = TABLES[kind]
    found = _table(ast.parse(_keras_source(module)), classes)
    if not found:
        raise LookupError(f"no ALL_OBJECTS table in keras/src/{module}/__init__.py")
    unique = dict.fromkeys(n for n in found if n not in NOT_BY_NAME)
    # snake_case (what a config writes) before Keras' class names, each group sorted
    return tuple(sorted(unique, key=lambda n: (n[:1].isupper(), n)))


def unknown(path: str, value: object) -> str | None:
    """Why ``value`` is not a name Keras resolves for the key at ``path`` (its last part,
    :data:`KEYS`), as ``<path>='x': not a Keras <kind>; valid: ...``, the valid names in
    snake_case; None when it is one, when it is None (unset) or the key names nothing."""
    kind = KEYS.get(path.rsplit(".", 1)[-1])
    if kind is None or value is None or value in names(kind):
        return None
    valid = ", ".join(n for n in names(kind) if not n[:1].isupper())
    return f"{path}={value!r}: not a Keras {kind} name; valid: {valid}"
