"""``python -m pipeline.compare``: the compare stage's entry point (pipeline.stages.compare)."""

from pipeline.stages.entry import run
from pipeline.stages.compare import main

raise SystemExit(run(main))
