"""``python -m pipeline.lessons``: the lessons' entry point (pipeline.lessons.cli)."""

from pipeline.lessons.cli import main
from pipeline.stages.entry import run

raise SystemExit(run(main))
