"""The lecture's kinds of choice, each a registry built from its objects: hidden-layer
activations (:mod:`~pipeline.kinds.activations`), the task / output / loss table
(:mod:`~pipeline.kinds.losses`), optimizers by name (:mod:`~pipeline.kinds.optimizers`),
model builders (:mod:`~pipeline.kinds.models`) and the linear layers they are made of
(:mod:`~pipeline.kinds.layers`).

They may import the configuration's schemas (:mod:`pipeline.config.schemas`, the layer below)
and each other, Keras and NumPy; never the training, tracking or entry points above.
"""
