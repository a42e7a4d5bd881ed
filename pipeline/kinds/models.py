"""Model builders: an MLP for every dataset and a small CNN for the image datasets.

Every hidden layer is a linear layer followed by the configured hidden
activation (``pipeline.kinds.activations``); maxout widens the linear layer by its
number of pieces.  The output layer's size and activation come from the task
(``pipeline.kinds.losses.LossPlan``) unless the model config overrides the activation.
Image models take raw pixel values (0-255, as stored) and rescale inside the
model, so a saved model needs no preprocessing code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from pipeline.config.schemas import OPTION_SCHEMAS, CNNConfig, MLPConfig, pick
from pipeline.kinds import activations
from pipeline.kinds.layers import Dense


def _hidden_block(
    linear: Callable[[int, str], keras.layers.Layer],
    units: int,
    activation_cfg: Mapping[str, Any],
    index: int,
) -> list[keras.layers.Layer]:
    width = units * activations.width_factor(activation_cfg)
    return [linear(width, f"hidden_{index}"), activations.build(activation_cfg, f"act_{index}")]


def _dense(initializer: str) -> Callable[[int, str], keras.layers.Layer]:
    return lambda units, name: Dense(units, kernel_initializer=initializer, name=name)


def _assemble(
    name: str,
    input_shape: Sequence[int],
    layers: list[keras.layers.Layer],
    output_units: int,
    output_activation: str,
    initializer: str,
) -> keras.Model:
    """Input -> layers -> the Dense output layer, as a Sequential model."""
    output = Dense(
        output_units,
        activation=activations.output(output_activation),
        kernel_initializer=initializer,
        name="output",
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), *layers, output], name=name)


def build_mlp(
    cfg: Mapping[str, Any],
    activation_cfg: Mapping[str, Any],
    input_shape: Sequence[int],
    output_units: int,
    output_activation: str,
    image: bool,
) -> keras.Model:
    """Flatten -> [Dense -> activation (-> Dropout)] per hidden layer -> Dense output."""
    layers: list[keras.layers.Layer] = [keras.layers.Flatten(name="flatten")]
    if image:
        layers.append(keras.layers.Rescaling(1 / 255, name="rescale"))
    for i, units in enumerate(cfg["hidden_units"], start=1):
        layers += _hidden_block(_dense(cfg["kernel_initializer"]), units, activation_cfg, i)
        if cfg["dropout"]:
            layers.append(keras.layers.Dropout(cfg["dropout"], name=f"dropout_{i}"))
    return _assemble(
        "mlp", input_shape, layers, output_units, output_activation, cfg["kernel_initializer"]
    )


def build_cnn(
    cfg: Mapping[str, Any],
    activation_cfg: Mapping[str, Any],
    input_shape: Sequence[int],
    output_units: int,
    output_activation: str,
    image: bool,
) -> keras.Model:
    """[Conv -> activation -> MaxPool] per filter count -> [Dense -> activation] -> output."""
    if not image or len(input_shape) != 2:
        raise ValueError(
            f"model 'cnn' needs images (rows x cols), got inputs of shape {tuple(input_shape)}; "
            "valid models for tabular data: mlp"
        )
    init = cfg["kernel_initializer"]

    def conv(filters: int, name: str) -> keras.layers.Layer:
        return keras.layers.Conv2D(
            filters, cfg["kernel_size"], padding="same", kernel_initializer=init, name=name
        )

    layers: list[keras.layers.Layer] = [
        keras.layers.Reshape((*input_shape, 1), name="channels"),
        keras.layers.Rescaling(1 / 255, name="rescale"),
    ]
    for i, filters in enumerate(cfg["filters"], start=1):
        layers += _hidden_block(conv, filters, activation_cfg, i)
        layers.append(keras.layers.MaxPooling2D(name=f"pool_{i}"))
    layers.append(keras.layers.Flatten(name="flatten"))
    for j, units in enumerate(cfg["dense_units"], start=len(cfg["filters"]) + 1):
        if cfg["dropout"]:
            layers.append(keras.layers.Dropout(cfg["dropout"], name=f"dropout_{j}"))
        layers += _hidden_block(_dense(init), units, activation_cfg, j)
    if cfg["dropout"]:
        layers.append(keras.layers.Dropout(cfg["dropout"], name="dropout_out"))
    return _assemble("cnn", input_shape, layers, output_units, output_activation, init)


# Keyed by schema: the names are the registry's (pipeline.config.schemas), written nowhere else.
BUILDERS: dict[type, Callable[..., keras.Model]] = {MLPConfig: build_mlp, CNNConfig: build_cnn}


def get(name: str) -> Callable[..., keras.Model]:
    """The builder for a model name; a ValueError listing the valid names otherwise."""
    return BUILDERS[pick(OPTION_SCHEMAS["model"], name, "model")]


def build(
    cfg: Mapping[str, Any],
    activation_cfg: Mapping[str, Any],
    input_shape: Sequence[int],
    output_units: int,
    output_activation: str,
    image: bool,
) -> keras.Model:
    """Build the configured model.

    Args:
        cfg: The ``model`` config (``name`` plus the builder's keys).
        activation_cfg: The ``activation`` config for the hidden layers.
        input_shape: Shape of one example (e.g. ``(28, 28)`` or ``(4,)``).
        output_units: Units of the output layer.
        output_activation: Activation of the output layer (``LossPlan.output_activation``:
            from the task, or ``cfg.output_activation`` when set).
        image: Whether inputs are raw 0-255 pixels to rescale.
    """
    builder = get(cfg["name"])
    return builder(cfg, activation_cfg, input_shape, output_units, output_activation, image)
