"""``python -m pipeline.figures``: the course's figures' entry point (pipeline.figures.app)."""

from pipeline.figures.app import main

main()
