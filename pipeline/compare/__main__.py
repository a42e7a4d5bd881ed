"""``python -m pipeline.compare``: the compare stage's entry point (pipeline.stages.compare)."""

from pipeline.exiting import exit_now
from pipeline.stages.compare import main
from pipeline.stages.entry import run

exit_now(run(main))
