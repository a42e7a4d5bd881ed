"""``python -m pipeline.ui`` (``make ui``): the MLflow UI on the project's store
(see :mod:`pipeline.servers.ui`)."""

from pipeline.servers.ui import main

if __name__ == "__main__":
    raise SystemExit(main())
