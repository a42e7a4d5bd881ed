"""MLflow bookkeeping: where the store is, what a run is called, what it records.

The embedded default store is ``sqlite:///<project root>/mlflow.db`` with
artifacts in ``<project root>/mlartifacts``, both absolute, so runs started from
anywhere (a Hydra run folder, a ``dvc exp run --queue`` temporary copy) land in
the same store.  ``$MLFLOW_TRACKING_URI`` points runs at a team server instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import contract
from pipeline.config.paths import project_root
from pipeline.kinds import keras_file
from pipeline.system import quiet
from pipeline.system.redact import redact
from pipeline.tracking import provenance

if TYPE_CHECKING:  # mlflow takes seconds to import: only functions that need it do
    from mlflow.tracking import MlflowClient

DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
# MLflow caps a param value at 6,000 characters and a log_batch call at 100 params.
PARAM_BATCH = 100
# MLflow prints each run's link when it ends, built from the tracking URI's host part.
QUIET_LINKS_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
# MLflow's tag for a run's or an experiment's description (markdown, in the UI).
NOTE_TAG = "mlflow.note.content"
# Never logged as params: the other datasets' baselines, how the data was fetched
# (URLs, per-file hashes and sizes, retries: config.yaml and the data tags keep
# them), where and how a run is logged (mlflow.*, sweep.*; a tracking URI can
# hold credentials), and the course's figures' settings (figures.*: no training reads them).
# How runs are compared (compare.*) and swept (sweep.*) change no training: a training
# that logged them would change its run key, and be trained again, when a margin changes.
UNLOGGED_PREFIXES = (
    "baselines.",
    "compare.",
    "data.download.",
    "figures.",
    "mlflow.",
    "sweep.",
)
UNLOGGED_DATASET_KEYS = ("urls", "files", "mirror_dir")


def tracking_uri(configured: str | None = None, root: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI: the configured one, else ``$MLFLOW_TRACKING_URI``, else the
    SQLite store at the project root.

    A relative SQLite URI (``sqlite:///mlflow.db``, the form MLflow's docs use) is
    made absolute against the working directory, so the store, its lock and its
    artifacts stay where it named even if the working directory changes.  For a URI
    with a password or token, MLflow's printed run links are switched off
    (:data:`QUIET_LINKS_ENV`): they would show it.
    """
    uri = (
        configured
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{Path(root or project_root(store=True)) / DB_NAME}"
    )
    uri = store_uri(uri)
    if redact(uri) != uri:
        os.environ[QUIET_LINKS_ENV] = "true"
    return uri


# SQLAlchemy 2.1 reads a plain postgresql:// as psycopg 3; the project installs psycopg2.
PG_SCHEME, PG_DRIVER = "postgresql", "postgresql+psycopg2"


def store_uri(uri: str) -> str:
    """``uri`` as MLflow should open it: a relative SQLite path made absolute (against
    the working directory), a plain ``postgresql://`` given the installed driver."""
    if uri.startswith(f"{PG_SCHEME}://"):
        return PG_DRIVER + uri.removeprefix(PG_SCHEME)
    db = sqlite_path(uri)
    return uri if db is None else f"sqlite:///{db}" + "".join(uri.partition("?")[1:])


@contextlib.contextmanager
def global_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at ``uri`` for the block, then restore it.

    The fluent API (``mlflow.start_run``, ``mlflow.search_runs``) reads only the
    global URI, and ``mlflow.set_tracking_uri`` also exports it as
    ``$MLFLOW_TRACKING_URI``, which :func:`tracking_uri` reads: left set, one run
    would redirect every later run of the same process to its store.
    """
    import mlflow

    env = os.environ.get("MLFLOW_TRACKING_URI")
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local SQLite store (``sqlite:///<path>``, a relative path
    taken from the working directory, as SQLAlchemy does), absolute; None for others."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(os.path.abspath(uri.removeprefix("sqlite:///").partition("?")[0]))


def artifacts_root(uri: str) -> Path | None:
    """Where a local SQLite store keeps its artifacts (beside it); None for other stores."""
    db = sqlite_path(uri)
    return None if db is None else db.parent / ARTIFACTS_DIR


def artifact_location(uri: str, name: str) -> str | None:
    """Artifact root for a new experiment: beside a local SQLite store, else the server's."""
    root = artifacts_root(uri)
    return None if root is None else (root / name).as_uri()


def store_lock(uri: str) -> contextlib.AbstractContextManager:
    """A lock file beside a local SQLite store; no lock for any other store.

    Opening a fresh SQLite store creates its schema: two processes doing that at
    once (two `dvc queue` workers, parallel sweep jobs) corrupt it.
    """
    db = sqlite_path(uri)
    if db is None:
        return contextlib.nullcontext()
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{db}.lock", timeout=300)


EXPERIMENT_DESCRIPTION = """\
optimizer-lab runs of **{name}**: one run per training, with its choices as params,
per-epoch curves and test metrics as metrics, and its data as dataset inputs.

How to compare them:
- A sweep is one **parent run** (`sweep-…`). Its Overview holds the ranking table
  and verdict; its metrics hold each configuration's mean test metric; its
  artifacts hold the report (`report/`). Expand it (the **+** beside its name) to
  see one child run per configuration and seed.
- **Group by → Tags → `configuration`** gathers the seeds of each configuration;
  the chart view then compares the configurations (a bar is a mean, a curve the
  mean with a min–max band).
- Select two or more runs and press **Compare** to see the params that differ.
"""


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store's schema and the experiment if missing; return the experiment id.

    The experiment gets a description (shown in the UI) saying what it holds and
    how to compare its runs, unless it has one. Safe to call from several
    processes at once on a local SQLite store (see :func:`store_lock`); sweeps
    still call it before their jobs fan out.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    with store_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                # experimentKind tells MLflow 3's UI these are training runs, so an
                # experiment opens on its runs table rather than on GenAI pages.
                tags = {
                    "mlflow.experimentKind": "custom_model_development",
                    NOTE_TAG: EXPERIMENT_DESCRIPTION.format(name=name),
                }
                location = artifact_location(uri, name)
                return client.create_experiment(name, artifact_location=location, tags=tags)
            except mlflow.exceptions.MlflowException:
                # A server-side store raced us to it: use theirs.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if NOTE_TAG not in experiment.tags:  # made before descriptions; a user's stays
            client.set_experiment_tag(
                experiment.experiment_id, NOTE_TAG, EXPERIMENT_DESCRIPTION.format(name=name)
            )
        return experiment.experiment_id


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists become their string form."""
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value.value if hasattr(value, "value") else value)[
                : contract.PARAM_MAX
            ]
    return flat


def run_params(params: Mapping[str, str], dataset: str) -> dict[str, str]:
    """The flattened config a run logs as params: its choices and every value that
    changes its results.

    Left out (:data:`UNLOGGED_PREFIXES`): the other datasets' entries, download
    facts, where the run is logged and how runs are swept and compared, which would
    only bury the few choices that differ.
    """
    own = f"data.datasets.{dataset}."
    unlogged = tuple(f"{own}{key}" for key in UNLOGGED_DATASET_KEYS)
    return {
        k: v
        for k, v in params.items()
        if not k.startswith(UNLOGGED_PREFIXES + unlogged)
        and (not k.startswith("data.datasets.") or k.startswith(own))
    }


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
    """Log many params in as few store writes as MLflow allows."""
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), PARAM_BATCH):
        client.log_batch(run_id, params=items[i : i + PARAM_BATCH])


def log_metrics(client: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int) -> None:
    """Log a step's metrics in one store write (one SQLite write costs milliseconds)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
    for i in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[i : i + 1000])


@contextlib.contextmanager
def recording_errors(client: MlflowClient, run_id: str) -> Iterator[None]:
    """Tag the run with :data:`~pipeline.config.contract.ERROR_TAG` if the block raises
    (then re-raise)."""
    try:
        yield
    except Exception as error:
        client.set_tag(run_id, contract.ERROR_TAG, contract.error_message(error))
        raise


def log_data_inputs(
    client: MlflowClient,
    run_id: str,
    dataset: str,
    data_dir: Path,
    digest: str,
    splits: Mapping[str, tuple[Any, Any]],
) -> None:
    """Log each split as an MLflow dataset input (the UI's Dataset column).

    Each is named ``<dataset>/<split>``, carries ``digest`` (the data tag) and its
    split as ``mlflow.data.context``, with the arrays' schema and row count.
    """
    from mlflow.data.schema import TensorDatasetSchema
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types import Schema, TensorSpec
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    def spec(array: Any) -> Schema:
        return Schema([TensorSpec(array.dtype, (-1, *array.shape[1:]))])

    inputs = []
    for split, (x, y) in splits.items():
        schema = TensorDatasetSchema(features=spec(x), targets=spec(y)).to_dict()
        profile = {"rows": len(x), "features_shape": list(x.shape), "targets_shape": list(y.shape)}
        entity = Dataset(
            name=f"{dataset}/{split}",
            digest=digest,
            source_type="local",
            source=json.dumps({"uri": str(data_dir.resolve())}),
            schema=json.dumps(schema),
            profile=json.dumps(profile),
        )
        inputs.append(DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, split)]))
    for attempt in range(DATASET_RACE_RETRIES + 1):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except Exception as error:
            if attempt == DATASET_RACE_RETRIES or not lost_dataset_race(error):
                raise


# Runs that log the same new dataset at once (a sweep's parallel jobs) race in MLflow's
# store: it looks the dataset up, then inserts it, so the second insert breaks the
# datasets table's primary key (PostgreSQL reports it; SQLite serialises its writers).
# The row exists by then, and logging again links it; nothing was half-written (the
# failed request's transaction rolled back).
DATASET_RACE_RETRIES = 2
DATASET_RACE_SIGNS = ("dataset_pk", "UNIQUE constraint failed: datasets")


def lost_dataset_race(error: BaseException) -> bool:
    """Whether ``error`` is MLflow's store losing that race (see above)."""
    return any(sign in str(error) for sign in DATASET_RACE_SIGNS)


def run_name(dataset: str, activation: str, optimizer: str, batch: int | str) -> str:
    """A readable run name from the choices, e.g. ``mnist-relu-adam-bs32``."""
    return f"{dataset}-{activation}-{optimizer}-bs{batch}"


def default_run_name(cfg: Any, full_batch: bool) -> str:
    """``mlflow.run_name``, else one built from the config's choices (:func:`run_name`)."""
    batch = "full" if full_batch else cfg.training.batch_size
    return cfg.mlflow.run_name or run_name(
        cfg.dataset.name, cfg.activation.name, cfg.optimizer.name, batch
    )


def _save_keras_model(path: str, validate_serving_input: bool = True, **kwargs: Any) -> None:
    import mlflow.keras

    # MLflow 3.17's keras flavor writes the input example into the model folder
    # before creating it (mlflow/mlflow#16183): create it first.
    os.makedirs(path, exist_ok=True)
    # Model.log hands its own options to the flavor too; the keras flavor takes none.
    del validate_serving_input
    mlflow.keras.save_model(path=path, **kwargs)
    # Byte-stable, and loadable with Keras alone (pipeline.kinds.keras_file.PORTABLE).
    for saved in Path(path).rglob("*.keras"):
        keras_file.rewrite(saved)


def model_requirements() -> list[str]:
    """A logged model's pip requirements: the :data:`~pipeline.config.contract.LIBRARIES` it
    needs, pinned to the installed versions (without a local label such as ``+cpu``, as
    MLflow writes them; MLflow adds its own pin).

    Given explicitly, so that MLflow does not infer them: its inference loads the saved
    model in a new Python process, importing TensorFlow a second time (10 s or more
    per run), to find these same packages.
    """
    from packaging.version import Version

    pinned = provenance.library_versions()
    return sorted(f"{name}=={Version(v).public}" for name, v in pinned.items() if name != "mlflow")


def log_model(model: Any, example: Any) -> None:
    """Log a Keras model to the active run (the mlflow.keras flavor), with its signature,
    an input example and its pip requirements (:func:`model_requirements`).

    MLflow's check that the model serves its input example is left out: it loads the
    saved model again (about a second per run), and every model here is a Keras model
    of float32 inputs (``tests/tracking/test_store.py`` serves one the way that check does).
    """
    from types import SimpleNamespace

    import numpy as np
    from mlflow.models import Model, infer_signature

    example = np.asarray(example, np.float32)
    # Saving makes TensorFlow print a NodeDef line that means nothing (pipeline/system/quiet.py).
    with quiet.held_back():
        signature = infer_signature(example, model.predict(example, verbose=0))
        # What mlflow.keras.log_model does, with a flavor whose save_model has the fix above.
        flavor = SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)
        Model.log(
            artifact_path=None,
            name="model",
            flavor=flavor,
            model=model,
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(),
            validate_serving_input=False,
        )


def artifact_files(client: MlflowClient, run_id: str, path: str = "") -> Iterable[str]:
    """Every artifact path of a run (recursively)."""
    for info in client.list_artifacts(run_id, path or None):
        if info.is_dir:
            yield from artifact_files(client, run_id, info.path)
        else:
            yield info.path
