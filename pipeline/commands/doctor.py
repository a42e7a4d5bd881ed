"""``python -m pipeline.doctor`` (``make check-machine``, ``optlab doctor``): does this
machine compute the reference runs' bits? (see :mod:`pipeline.reproducibility.doctor`)."""

from pipeline.reproducibility.doctor import main
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now

if __name__ == "__main__":
    exit_now(run(main))
