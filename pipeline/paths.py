"""Where things are: the project root (and, under ``dvc exp run``, the user's repository).

The bottom of the import graph with :mod:`pipeline.config`: it imports nothing of
the project, so every module may ask it.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | os.PathLike[str] | None = None, *, store: bool = False) -> Path:
    """The nearest folder above ``start`` (default: cwd) holding ``dvc.yaml``, else ``start``.

    With ``store``, the folder whose MLflow store to use: ``$DVC_ROOT`` under
    ``dvc exp run``, which DVC points at the user's repository also from the
    temporary copies of ``--queue``/``--temp`` runs, so every run lands in one store.
    The code and data a run uses are those of the copy: without ``store``.
    """
    if store and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here
