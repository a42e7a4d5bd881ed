"""The course's figures, drawn from the very objects the project trains with.

``python -m pipeline.figures`` (and the DVC stage ``figures``) writes PNGs under
``reports/figures/`` and logs them to the MLflow experiment ``lecture``. Each module
draws one kind, with its settings from ``figures.<section>`` (``conf/figures/``,
schemas in :mod:`pipeline.config.schemas`), through one function::

    draw(settings: DictConfig, out: Path, seed: int) -> list[Path]

which writes its files into ``out`` (each atomically) and returns their paths:

- :mod:`~pipeline.figures.gallery`: every activation and its derivative (autodiff);
- :mod:`~pipeline.figures.trajectories`: the optimizers' paths on 2-D functions;
- :mod:`~pipeline.figures.vanishing`: per-layer gradient norms, trained and at init;
- :mod:`~pipeline.figures.softmax`: the stable softmax against the naive one;
- :mod:`~pipeline.figures.update_rules`: one Keras step beside the course's formula.

They may import :mod:`pipeline.compare`, :mod:`pipeline.training` and the layers below
(docs/architecture.md); only the entry points (their ``__main__``, the stage) import them.
"""
