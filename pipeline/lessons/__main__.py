"""``python -m pipeline.lessons``: the lessons' entry point (pipeline.lessons.cli)."""

from pipeline.lessons.cli import main
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now

# Guarded: a lesson's isolated trainings start fresh processes that import this module.
if __name__ == "__main__":
    exit_now(run(main))
