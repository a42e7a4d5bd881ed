"""``python -m pipeline.compare``: the compare stage's entry point (pipeline.stages.compare)."""

from pipeline.stages.compare import main
from pipeline.stages.entry import run

raise SystemExit(run(main))
