"""``python -m pipeline.server`` (``make server``, ``optlab server``): a team's tracking
server on PostgreSQL (see :mod:`pipeline.servers.team`)."""

from pipeline.servers.team import main

if __name__ == "__main__":
    raise SystemExit(main())
