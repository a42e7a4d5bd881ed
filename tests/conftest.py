from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.data.preprocess import preprocess, save_splits
from tests.fake_runs import build_store
from tests.helpers import IRIS_CLASSES, LocalServer, make_mirror
from tests.mlflow_servers import pg_server, tracking_server  # noqa: F401 - session fixtures for all
from tests.ray_cluster import ray_cluster  # noqa: F401 - a session fixture for all

# pytester: tests of the time limit's plugin; time_limit: fails a run with a slow test.
pytest_plugins = ["pytester", "tests.time_limit"]
DIGITS = [str(i) for i in range(10)]


@pytest.fixture(scope="session", autouse=True)
def _pinned_threads() -> None:
    """In-process trainings run as the CPU pin runs them, on one intra-op thread
    (pipeline.training.runtime.PINNED_THREADS), fixed before TensorFlow's first op."""
    from pipeline.training import runtime  # lazy, for cost: configure_runtime loads TensorFlow
    from pipeline.training.seed import configure_runtime

    configure_runtime(runtime.PINNED_THREADS)


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror set in the developer's shell must not leak into tests."""
    monkeypatch.delenv("OPTLAB_DATA_MIRROR", raising=False)


@pytest.fixture(scope="session")
def mirror_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny iris, MNIST and Fashion-MNIST files in the mirror layout (read-only use)."""
    return make_mirror(tmp_path_factory.mktemp("mirror"))


@pytest.fixture
def server(mirror_dir: Path):
    """A real HTTP server on 127.0.0.1 serving the tiny mirror."""
    srv = LocalServer(mirror_dir)
    yield srv
    srv.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so fixtures can see a failure
    (the browser tests save a screenshot of it)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One fake MLflow store of finished, failed and report runs (tests.fake_runs), shared:
    creating a store's schema takes seconds."""
    return build_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, mirror_dir):
    """The tiny iris and MNIST, preprocessed as the DVC stage would (read-only use)."""
    root = tmp_path_factory.mktemp("processed")
    for name, folder, fmt, classes, split in (
        ("iris", "iris", "iris_csv", IRIS_CLASSES, {"validation": 0.2, "test": 0.2}),
        ("mnist", "mnist", "idx", DIGITS, {"validation": 10}),
    ):
        splits = preprocess(name, fmt, mirror_dir / folder, classes, split, seed=0)
        save_splits(splits, root / name)
    return root
