from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import LocalServer, make_mirror


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
