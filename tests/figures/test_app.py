"""The figures app: every figure drawn into a folder replaced whole, logged to the
`lecture` experiment; bad settings refused in one line before anything heavy loads."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config.compose import compose_config
from pipeline.figures import app
from tests.figures.pngs import assert_png_not_blank
from tests.helpers import REPO_ROOT, run_listing_loaded

# Small settings: the same code, a few seconds.
SMALL = [
    "figures.gallery.points=41",
    "figures.paths.steps=10",
    "figures.vanishing.depth=3",
    "figures.vanishing.width=8",
    "figures.vanishing.samples=16",
    "runtime.grad_norm_samples=32",
]
HEAVY = {"tensorflow", "keras", "mlflow", "matplotlib"}


def small_config(tmp_path, *overrides: str):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return compose_config([*SMALL, f"mlflow.tracking_uri={uri}", *overrides], REPO_ROOT / "conf")


@pytest.mark.slow
def test_every_figure_is_drawn_logged_and_the_folder_replaced_whole(tmp_path, data_root):
    out = tmp_path / "figures"
    out.mkdir()
    (out / "stale.png").write_bytes(b"from an earlier configuration")
    files = app.make_figures(small_config(tmp_path), out, data_root)
    names = [f.name for f in files]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # the stale file is gone
    for expected in (
        "activations.png",
        "paths_elongated_quadratic.png",
        "paths_rosenbrock.png",
        "paths_beale.png",
        "paths_saddle.png",
        "vanishing_runs.png",
        "vanishing_init.png",
        "softmax.png",
        "update_rules.md",
    ):
        assert expected in names
    for path in files:
        if path.suffix == ".png":
            assert_png_not_blank(path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("lecture")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "figures" and run.info.status == "FINISHED"
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == sorted(names)
    assert "`activations.png`" in run.data.tags["mlflow.note.content"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("figures.paths.optimizers=[sgd,adma]", "unknown optimizer 'adma'; valid optimizers: gd,"),
        ("figures.vanishing.activations=[relu,rleu]", "unknown activation 'rleu'; valid"),
        ("figures.paths.functions=[beale,himmelblau]", "'himmelblau'"),
        ("figures.paths.steps=0", "figures.paths.steps=0: must be ≥ 1"),
        ("figures.gallery.x_min=9", "x_min"),
    ],
)
def test_a_bad_setting_is_one_line_before_any_heavy_import(tmp_path, override, message):
    done, loaded = run_listing_loaded("pipeline.figures", override, f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1, done.stderr
    assert message in done.stderr, done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1
    assert [m for m in loaded if m in HEAVY] == []
    assert not (tmp_path / "figures").exists()


def test_a_store_mlflow_cannot_open_fails_before_anything_is_drawn(tmp_path):
    """python -m pipeline.figures checks the store as the stage does: before drawing."""
    done, loaded = run_listing_loaded(
        "pipeline.figures", "mlflow.tracking_uri=foo://host", f"hydra.run.dir={tmp_path}"
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(
        "error: tracking URI foo://host (mlflow.tracking_uri or MLFLOW_TRACKING_URI): MLflow "
        "has no tracking store for scheme 'foo'"
    )
    assert {"tensorflow", "keras", "matplotlib"} & set(loaded) == set()
    assert not (tmp_path / "figures").exists()
