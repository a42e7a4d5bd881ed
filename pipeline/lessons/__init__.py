"""The course's claims, tested on the real data: ``python -m pipeline.lessons``.

- :mod:`~pipeline.lessons.catalogue`: the lessons' registry; the lessons, each a
  function that trains the course's presets and judges the course's claims, are in
  :mod:`~pipeline.lessons.gradients` and :mod:`~pipeline.lessons.optimization`, with
  what they share in :mod:`~pipeline.lessons.base`;
- :mod:`~pipeline.lessons.runner`: trains a configuration over seeds (or finds its
  finished runs) as child runs of the lessons' parent run;
- :mod:`~pipeline.lessons.measure`: what a run's metrics lack (dead units, peak memory);
- :mod:`~pipeline.lessons.verdicts`: the rules that turn measurements into verdicts;
- :mod:`~pipeline.lessons.table`: the table, as markdown and CSV;
- :mod:`~pipeline.lessons.cli`: the command line.

They may import :mod:`pipeline.compare`, :mod:`pipeline.training` and the layers below
(docs/architecture.md); only the entry points import them.
"""
