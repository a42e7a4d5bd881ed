"""``python -m pipeline.figures``: the course's figures as a Hydra app
(pipeline.stages.figures.app_main)."""

from pipeline.stages.figures import app_main

app_main()
