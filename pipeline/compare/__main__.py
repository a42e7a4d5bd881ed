"""``python -m pipeline.compare``: the compare stage's entry point (pipeline.stages.compare)."""

from pipeline.stages.compare import main
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now

exit_now(run(main))
