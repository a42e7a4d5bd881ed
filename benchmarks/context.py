"""What every benchmark of one invocation shares: its settings, its scratch folder, and the
project copy with the real data (prepared once, on first use)."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import project
from benchmarks.procs import CommandFailed

PYTHON = sys.executable
DATASET = "fashion_mnist"  # the training benchmarks all use it


@dataclass
class Context:
    """Settings and shared state of one ``python -m benchmarks`` invocation."""

    work: Path  # scratch folder, removed at the end unless --keep
    repeats: int = 3
    epochs: int = 2  # of each training benchmark's fit
    sweep_repeats: int = 1
    sweep_overrides: list[str] = field(default_factory=list)
    # measurements shared by several benchmarks (the training runs feed three of them)
    shared: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def mirror(self) -> str:
        """The mirror URL (raises :class:`~benchmarks.project.Skip` without one)."""
        return project.mirror_url()

    @property
    def data_project(self) -> Path:
        """A project copy whose data stages ran (from the mirror), shared read-only.

        Prepared on first use; a failure is kept, so every benchmark that needs the
        data skips with the same one line.
        """
        if "data_project" not in self.shared:
            try:
                path, seconds = project.data_project(self.work / "project", self.mirror)
                self.shared["data_project"], self.shared["prepare_seconds"] = path, seconds
            except project.Skip as skip:  # no mirror: said as it is
                self.shared["data_project"] = skip
            except CommandFailed as error:
                self.shared["data_project"] = project.Skip(f"preparing the data failed: {error}")
        if isinstance(self.shared["data_project"], project.Skip):
            raise self.shared["data_project"]
        return self.shared["data_project"]

    def processed(self, dataset: str = DATASET) -> Path:
        """The preprocessed folder of ``dataset`` in :attr:`data_project`."""
        from pipeline.config.paths import layout  # lazy: only with a project

        return layout(self.data_project).processed / dataset

    def scratch(self, name: str) -> Path:
        """A fresh folder ``name`` under the scratch folder."""
        path = self.work / name
        path.mkdir(parents=True, exist_ok=False)
        return path
