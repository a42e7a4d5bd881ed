"""Byte-stable ``.keras`` files: the same weights and architecture give the same bytes.

A ``.keras`` file is a zip of ``config.json``, ``metadata.json`` and
``model.weights.h5``.  Keras writes three things into it that differ between two
trainings with identical results: the save time (``metadata.json``'s
``date_saved`` and the weights entry's zip timestamp) and Python object ids
(``shared_object_id`` in ``config.json``, which only link shared objects within the
file).  :func:`normalize` rewrites those, so a DVC-tracked model depends only on
config, data and code.  It also names :class:`pipeline.kinds.layers.Dense` as Keras' own
``Dense`` (:data:`PORTABLE`), and the output's softmax and a hidden gelu as Keras' own
(:data:`PORTABLE_FUNCTIONS`): each pair computes the same function, ours in an order every
machine follows, so a saved model loads and predicts with Keras alone, in a process that
never imported this package (``mlflow models serve``, a notebook).  (The runtime's
speed settings never reach the file: a model is compiled with Keras' defaults, see
:mod:`pipeline.training.runtime`.)

It imports nothing heavy (zipfile and json only).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from pipeline.system.io import atomic_write_bytes

# The earliest date a zip entry can carry: every entry gets it.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
CONFIG_ENTRY = "config.json"
METADATA_ENTRY = "metadata.json"
SHARED_ID_KEY = "shared_object_id"
# A registered class of ours -> the Keras class a saved file names instead (see above).
PORTABLE = {
    "optlab>Dense": {"module": "keras.layers", "class_name": "Dense", "registered_name": None}
}
# A registered function of ours -> the Keras function a saved file names instead: the same
# math, ours with an exact division where Keras' rounds by CPU vendor
# (pipeline.kinds.activations).
PORTABLE_FUNCTIONS = {"optlab>softmax": "softmax", "optlab>gelu": "gelu"}


def _normalize_node(node: Any, ids: dict[int, int]) -> Any:
    """Replace each ``shared_object_id`` (a Python ``id()``) by its order of appearance,
    each :data:`PORTABLE` class reference by Keras' own and each
    :data:`PORTABLE_FUNCTIONS` function by the name of Keras' own."""
    if isinstance(node, dict):
        if node.get("class_name") == "function" and node.get("config") in PORTABLE_FUNCTIONS:
            return PORTABLE_FUNCTIONS[node["config"]]  # as Keras names its own
        out = {}
        for key, value in node.items():
            if key == SHARED_ID_KEY and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids) + 1)
            else:
                out[key] = _normalize_node(value, ids)
        out.update(PORTABLE.get(out.get("registered_name"), {}))  # type: ignore[arg-type]
        return out
    if isinstance(node, list):
        return [_normalize_node(v, ids) for v in node]
    return node


def normalized_config(config: dict[str, Any]) -> dict[str, Any]:
    """A model's ``config.json`` without what differs between identical trainings, its
    :data:`PORTABLE` classes named as Keras' own."""
    return _normalize_node(config, {})


def normalized_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata.json`` without its save time (Keras does not read it back)."""
    return {k: v for k, v in metadata.items() if k != "date_saved"}


def normalize(data: bytes) -> bytes:
    """The bytes of a ``.keras`` zip rewritten reproducibly: entries in Keras' order,
    each dated :data:`ZIP_EPOCH` with fixed permissions, JSON entries normalized."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info)
            if info.filename == CONFIG_ENTRY:
                content = json.dumps(normalized_config(json.loads(content))).encode()
            elif info.filename == METADATA_ENTRY:
                content = json.dumps(normalized_metadata(json.loads(content))).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            entry.compress_type = info.compress_type
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return out.getvalue()


def save(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a Keras model to ``path`` (``.keras``) reproducibly and atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # Keras insists on the suffix
    try:
        model.save(tmp)
        return atomic_write_bytes(path, normalize(tmp.read_bytes()))
    finally:
        tmp.unlink(missing_ok=True)


def rewrite(path: str | os.PathLike[str]) -> Path:
    """Normalize a ``.keras`` file another library saved (MLflow's flavor), in place."""
    path = Path(path)
    return atomic_write_bytes(path, normalize(path.read_bytes()))
