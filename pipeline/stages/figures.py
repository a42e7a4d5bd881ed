"""The course's figures' entry points (:func:`pipeline.figures.app.make_figures`):

- the DVC stage ``figures``, from ``params.yaml`` as every stage reads it, so ``dvc exp
  run -S figures.paths.steps=300`` reaches it:
  ``python -m pipeline.stages.figures [--params params.yaml] [--data D] [--out O]``;
- ``python -m pipeline.figures [OVERRIDE ...]``, a Hydra app composing ``conf/``
  (settings in the ``figures`` group), drawing into the layout's ``figures``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from omegaconf import DictConfig

from pipeline.config.compose import load_params
from pipeline.config.hydra_app import run_app
from pipeline.config.paths import PARAMS_FILE, layout
from pipeline.figures.app import make_figures
from pipeline.system.entry import report, run, user_errors
from pipeline.system.exiting import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=PARAMS_FILE, help="params file (default: %(default)s)")
    parser.add_argument("--data", help="preprocessed data root (default: processed)")
    parser.add_argument("--out", help="the figures' folder (default: figures)")
    args = parser.parse_args(argv)
    cfg = load_params(args.params)
    where = layout()  # make_figures checks every name and the store before drawing
    files = make_figures(cfg, args.out or where.figures, args.data or where.processed)
    print(f"figures: {len(files)} files in {args.out or where.figures}")
    return 0


def figures_task(cfg: DictConfig) -> None:
    """The Hydra app's task: draw into the layout's ``figures`` folder."""
    try:
        files = make_figures(cfg, layout().figures)
    except user_errors() as error:
        raise SystemExit(report(error)) from None  # one line, past Hydra's traceback
    for path in files:
        print(f"figures: wrote {path}")


def app_main() -> None:
    """``python -m pipeline.figures``: compose ``conf/`` with Hydra and draw."""
    run_app(figures_task)


if __name__ == "__main__":
    exit_now(run(main))
