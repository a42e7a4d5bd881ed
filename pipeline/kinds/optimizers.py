"""Optimizers by name: the lecture's update rules as Keras optimizers.

``get(cfg)`` turns an ``optimizer`` config section (``conf/optimizer/<name>.yaml``,
schemas in ``pipeline.config.schemas``) into a ``keras.optimizers.Optimizer``, passing
every configured hyperparameter explicitly, so nothing silently falls back to
a Keras default that differs from the lecture's.

=========  ==========================  ==============================================
name       Keras class                 rule
=========  ==========================  ==============================================
gd         SGD (full batch)            w <- w - lr * g, one update per epoch
sgd        SGD                         w <- w - lr * g, one update per mini-batch
momentum   SGD(momentum=m)             V <- m V - lr g;  w <- w + V
nag        SGD(momentum=m, nesterov)   Nesterov: gradient at the look-ahead point
adagrad    Adagrad                     G <- G + g^2;  w <- w - lr g / sqrt(G + eps)
rmsprop    RMSprop                     h <- rho h + (1 - rho) g^2;  w <- w - lr g / sqrt(h + eps)
adam       Adam                        momentum's first moment + RMSProp's second
adamw      AdamW                       Adam with decoupled weight decay
nadam      Nadam                       Adam with Nesterov momentum
adamax     Adamax                      Adam with the infinity norm
adadelta   Adadelta                    RMSProp of the updates themselves
lion       Lion                        sign of an interpolated momentum
=========  ==========================  ==============================================

Keras is imported lazily (inside ``get``), so importing this module is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import OmegaConf

from pipeline.config.schemas import OPTION_SCHEMAS, pick

if TYPE_CHECKING:  # pragma: no cover
    import keras

# The registry (pipeline.config.schemas): each name's schema, whose fields are the
# optimizer's hyperparameters and whose ``keras_class`` is the class built.
SCHEMAS = OPTION_SCHEMAS["optimizer"]
NAMES: tuple[str, ...] = tuple(SCHEMAS)


def schema(name: Any) -> type:
    """The schema of optimizer ``name``; a ValueError listing the valid names otherwise."""
    return pick(SCHEMAS, name, "optimizer")


def hyperparameters(name: str) -> tuple[str, ...]:
    """The hyperparameters optimizer ``name`` takes: its schema's fields, ``name`` aside."""
    return tuple(f.name for f in fields(schema(name)) if f.name != "name")


def _as_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain ``dict`` of an optimizer section (a DictConfig or any mapping)."""
    if OmegaConf.is_config(cfg):
        cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"an optimizer config must be a mapping with a 'name', not {type(cfg).__name__}"
        )
    return dict(cfg)


def _check_sgd_family(name: str, params: Mapping[str, Any]) -> None:
    """Check that momentum / nesterov match the rule the name promises.

    Missing keys mean Keras' defaults (momentum 0, nesterov False).
    """
    momentum = params.get("momentum", 0.0)
    nesterov = bool(params.get("nesterov", False))
    got = f"got momentum={momentum}, nesterov={nesterov}"
    if name == "nag" and not (nesterov and momentum > 0):
        raise ValueError(
            "optimizer 'nag' (Nesterov accelerated gradient) needs nesterov=True and "
            f"momentum > 0 (the lecture uses 0.9); {got}"
        )
    if name == "momentum":
        if not momentum > 0:
            raise ValueError(
                "optimizer 'momentum' needs momentum > 0 (the lecture uses 0.9); with "
                f"momentum 0 it is plain SGD (use optimizer=sgd); {got}"
            )
        if nesterov:
            raise ValueError(
                f"optimizer 'momentum' is classical momentum: use optimizer=nag for "
                f"Nesterov momentum; {got}"
            )
    if name in ("gd", "sgd") and nesterov and not momentum > 0:
        raise ValueError(
            f"optimizer {name!r}: nesterov=True has no effect without momentum > 0 "
            f"(Keras would silently run plain SGD); {got}"
        )


def get(cfg: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """Build the Keras optimizer an ``optimizer`` config section describes.

    Every hyperparameter in ``cfg`` is passed to the Keras constructor explicitly;
    ``None`` values (e.g. ``clipnorm: null``) are left out, and a hyperparameter
    missing from ``cfg`` takes Keras' default.

    Args:
        cfg: A mapping or DictConfig with ``name`` (a key of :data:`SCHEMAS`) and
            the optimizer's hyperparameters (:func:`hyperparameters`).

    Returns:
        A fresh, unbuilt ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: On an unknown name (listing the valid ones), a hyperparameter
            the optimizer does not take (listing the ones it takes), or
            momentum / nesterov values that contradict the name (``nag`` needs
            ``nesterov=True`` and momentum > 0, ``momentum`` needs momentum > 0).
    """
    params = _as_dict(cfg)
    name = params.pop("name", None)
    keras_class = schema(name).keras_class
    valid = hyperparameters(name)
    unexpected = [key for key in params if key not in valid]
    if unexpected:
        raise ValueError(
            f"optimizer {name!r} does not take {', '.join(map(repr, unexpected))}; "
            f"its hyperparameters: {', '.join(valid)}"
        )
    kwargs = {key: value for key, value in params.items() if value is not None}
    if keras_class == "SGD":
        _check_sgd_family(name, kwargs)

    import keras  # lazy, for cost

    return getattr(keras.optimizers, keras_class)(name=keras_name(keras_class), **kwargs)


def keras_name(keras_class: str) -> str:
    """The name Keras gives the first optimizer of ``keras_class`` in a session, snake case
    as Keras writes it (``RMSprop`` -> ``rm_sprop``).

    Passed explicitly: left to Keras, the name would depend on how many optimizers the
    process had built since its last ``clear_session`` (``adam_1``), and it is saved in
    the ``.keras`` file, which must not depend on that (:mod:`pipeline.kinds.keras_file`).
    """
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", keras_class)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_full_batch(cfg: Mapping[str, Any] | str) -> bool:
    """Whether the optimizer is full-batch gradient descent (``gd``).

    The training code then uses ``batch_size`` = number of training rows: one
    update per epoch over the whole training set.

    Args:
        cfg: An optimizer config section (with ``name``), or just the name.

    Raises:
        ValueError: On an unknown optimizer name.
    """
    name = cfg if isinstance(cfg, str) else _as_dict(cfg).get("name")
    schema(name)  # an unknown name is an error, not "not full batch"
    return name == "gd"


# The optimizers whose step size adapts per weight: the Keras attribute holding each
# weight's accumulated squared gradients (Adagrad's G, RMSProp's h).
_SQUARE_ACCUMULATORS = {"Adagrad": "_accumulators", "RMSprop": "_velocities"}


def effective_step(optimizer: keras.optimizers.Optimizer) -> float | None:
    """The mean step size over all weights, ``lr / sqrt(G + eps)``, of an optimizer
    that scales its step by accumulated squared gradients (Adagrad, RMSProp); None for
    the others.

    Adagrad's only grows ``G``, so its step can only shrink: the course's point, which
    RMSProp's moving average fixes.
    """
    attribute = _SQUARE_ACCUMULATORS.get(type(optimizer).__name__)
    accumulators = getattr(optimizer, attribute, None) if attribute else None
    if not accumulators:
        return None
    lr = float(np.asarray(optimizer.learning_rate))
    steps = [lr / np.sqrt(np.asarray(a, np.float64) + optimizer.epsilon) for a in accumulators]
    return float(np.concatenate([s.ravel() for s in steps]).mean())
