"""Optimizers by name: the lecture's update rules as Keras optimizers.

``get(cfg)`` turns an ``optimizer`` config section (``conf/optimizer/<name>.yaml``,
schemas in ``pipeline.config``) into a ``keras.optimizers.Optimizer``, passing
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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

if TYPE_CHECKING:  # pragma: no cover
    import keras

NAMES: tuple[str, ...] = (
    "gd",
    "sgd",
    "momentum",
    "nag",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "nadam",
    "adamax",
    "adadelta",
    "lion",
)

# The Keras class behind each name.
KERAS_CLASSES: dict[str, str] = {
    "gd": "SGD",
    "sgd": "SGD",
    "momentum": "SGD",
    "nag": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "adamax": "Adamax",
    "adadelta": "Adadelta",
    "lion": "Lion",
}

_COMMON = ("learning_rate", "clipnorm")
_SGD = (*_COMMON, "momentum", "nesterov")
_ADAM = (*_COMMON, "beta_1", "beta_2", "epsilon", "amsgrad")
_NADAM = (*_COMMON, "beta_1", "beta_2", "epsilon")

# The hyperparameters each optimizer takes (the keys of its schema in
# pipeline.config.OPTION_SCHEMAS["optimizer"], ``name`` aside).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "gd": _SGD,
    "sgd": _SGD,
    "momentum": _SGD,
    "nag": _SGD,
    "adagrad": (*_COMMON, "initial_accumulator_value", "epsilon"),
    "rmsprop": (*_COMMON, "rho", "momentum", "epsilon", "centered"),
    "adam": _ADAM,
    "adamw": (*_ADAM, "weight_decay"),
    "nadam": _NADAM,
    "adamax": _NADAM,
    "adadelta": (*_COMMON, "rho", "epsilon"),
    "lion": (*_COMMON, "beta_1", "beta_2"),
}


def _as_dict(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain ``dict`` of an optimizer section (a DictConfig or any mapping)."""
    if OmegaConf.is_config(cfg):
        cfg = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"an optimizer config must be a mapping with a 'name', not {type(cfg).__name__}"
        )
    return dict(cfg)


def _check_name(name: Any) -> str:
    """Return ``name`` if it is a known optimizer; raise ``ValueError`` otherwise."""
    if name not in NAMES:
        raise ValueError(f"unknown optimizer {name!r}; valid optimizers: {', '.join(NAMES)}")
    return name


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
        cfg: A mapping or DictConfig with ``name`` (one of ``NAMES``) and the
            optimizer's hyperparameters (``HYPERPARAMETERS[name]``).

    Returns:
        A fresh, unbuilt ``keras.optimizers.Optimizer``.

    Raises:
        ValueError: On an unknown name (listing the valid ones), a hyperparameter
            the optimizer does not take (listing the ones it takes), or
            momentum / nesterov values that contradict the name (``nag`` needs
            ``nesterov=True`` and momentum > 0, ``momentum`` needs momentum > 0).
    """
    params = _as_dict(cfg)
    name = _check_name(params.pop("name", None))
    valid = HYPERPARAMETERS[name]
    unexpected = [key for key in params if key not in valid]
    if unexpected:
        raise ValueError(
            f"optimizer {name!r} does not take {', '.join(map(repr, unexpected))}; "
            f"its hyperparameters: {', '.join(valid)}"
        )
    kwargs = {key: value for key, value in params.items() if value is not None}
    if KERAS_CLASSES[name] == "SGD":
        _check_sgd_family(name, kwargs)

    import keras

    return getattr(keras.optimizers, KERAS_CLASSES[name])(**kwargs)


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
    return _check_name(name) == "gd"
