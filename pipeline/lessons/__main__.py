"""``python -m pipeline.lessons``: the lessons' entry point (pipeline.lessons.cli)."""

from pipeline.exiting import exit_now
from pipeline.lessons.cli import main
from pipeline.stages.entry import run

# Guarded: a lesson's isolated trainings start fresh processes that import this module.
if __name__ == "__main__":
    exit_now(run(main))
