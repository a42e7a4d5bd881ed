"""The model builders (pipeline.kinds.models): layers, widths and the errors of a bad choice."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.kinds import activations, crossentropy, models

MLP = {"name": "mlp", "hidden_units": [8, 4], "dropout": 0.0, "kernel_initializer": "ones"}
CNN = {
    "name": "cnn",
    "filters": [4],
    "kernel_size": 3,
    "dense_units": [6],
    "dropout": 0.5,
    "kernel_initializer": "glorot_uniform",
}
RELU = {"name": "relu"}


def _layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers]


def test_mlp_on_tabular_data_is_dense_blocks_and_the_output():
    model = models.build(MLP, RELU, (4,), 3, "softmax", image=False)
    assert _layer_names(model) == ["flatten", "hidden_1", "act_1", "hidden_2", "act_2", "output"]
    assert [model.get_layer(n).units for n in ("hidden_1", "hidden_2", "output")] == [8, 4, 3]
    assert model.get_layer("output").activation is activations.softmax  # the exact division
    # kernel "ones", zero biases: each hidden unit is the sum of its inputs, then relu
    x = np.array([[1.0, 2.0, -0.5, 0.5]], dtype="float32")
    probs = model(x).numpy()
    np.testing.assert_allclose(probs, [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_image_inputs_are_rescaled_inside_the_model():
    model = models.build(MLP, RELU, (2, 2), 2, "softmax", image=True)
    assert _layer_names(model)[:2] == ["flatten", "rescale"]
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_maxout_widens_the_linear_layer_by_its_pieces():
    model = models.build(MLP, {"name": "maxout", "pieces": 3}, (4,), 2, "softmax", image=False)
    assert model.get_layer("hidden_1").units == 8 * 3
    assert model.get_layer("act_1").output.shape == (None, 8)


def test_dropout_follows_each_hidden_block_when_set():
    model = models.build({**MLP, "dropout": 0.2}, RELU, (4,), 2, "sigmoid", image=False)
    assert [n for n in _layer_names(model) if n.startswith("dropout")] == [
        "dropout_1",
        "dropout_2",
    ]
    assert model.get_layer("dropout_1").rate == pytest.approx(0.2)


def test_cnn_on_images():
    model = models.build(CNN, RELU, (8, 8), 10, "softmax", image=True)
    assert _layer_names(model) == [
        "channels",
        "rescale",
        "hidden_1",
        "act_1",
        "pool_1",
        "flatten",
        "dropout_2",
        "hidden_2",
        "act_2",
        "dropout_out",
        "output",
    ]
    assert model.get_layer("pool_1").output.shape == (None, 4, 4, 4)
    assert model.output_shape == (None, 10)


def test_cnn_refuses_tabular_data_naming_the_valid_model():
    with pytest.raises(
        ValueError, match=r"model 'cnn' needs images .* shape \(4,\); valid .*: mlp"
    ):
        models.build(CNN, RELU, (4,), 3, "softmax", image=False)


def test_an_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet'; valid models: mlp, cnn"):
        models.get("resnet")
    assert models.get("cnn") is models.build_cnn


# TensorFlow ops whose CPU kernels reach Eigen's preciprocal or prsqrt (the CPU's RCPPS
# or RSQRTPS estimate, refined by one Newton step): their last bits differ between Intel
# and AMD CPUs whatever the pin (docs/reproducibility.md).
VENDOR_DEPENDENT_OPS = frozenset({"Softmax", "Reciprocal", "Inv", "Rsqrt", "Erfc", "Atan"})


def _op_types(fn, *specs) -> set[str]:
    """Every op type of ``fn``'s graph, those of the functions it calls included."""
    graph = fn.get_concrete_function(*specs).graph.as_graph_def()
    found = {node.op for node in graph.node}
    for function in graph.library.function:
        found |= {node.op for node in function.node_def}
    return found


@pytest.mark.parametrize("activation", activations.NAMES)
@pytest.mark.parametrize(
    ("output", "loss"),
    [
        ("softmax", "categorical_crossentropy"),
        ("softmax", "sparse_categorical_crossentropy"),
        ("softmax", "mse"),
        ("softmax", "binary_crossentropy"),
        ("sigmoid", "binary_crossentropy"),
        ("sigmoid", "hinge"),
        ("linear", "mae"),
        ("gelu", "mse"),
    ],
)
def test_no_training_or_prediction_reaches_a_vendor_dependent_kernel(activation, output, loss):
    """A training step (forward, loss, gradients) and a prediction of every hidden
    activation and output use no op that rounds differently on Intel and AMD."""
    units = 3 if output == "softmax" else 1
    model = models.build(MLP, {"name": activation}, (4,), units, output, image=False)
    loss_fn = keras.losses.get(crossentropy.get(loss))  # as the model is compiled
    labels = 1 if loss == "sparse_categorical_crossentropy" else units

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            predicted = model(x, training=True)
            value = tf.reduce_mean(loss_fn(y, predicted))
        return predicted, tape.gradient(value, model.trainable_variables)

    found = _op_types(step, tf.TensorSpec([None, 4]), tf.TensorSpec([None, labels]))
    found |= _op_types(tf.function(lambda x: model(x, training=False)), tf.TensorSpec([None, 4]))
    assert found & VENDOR_DEPENDENT_OPS == set()
    assert "MatMul" in found  # it did look


def test_keras_own_softmax_and_gelu_would_reach_them():
    """What the test above guards against: Keras' softmax is TensorFlow's Softmax op, its
    gelu TensorFlow's erfc."""
    softmax = tf.function(lambda x: keras.activations.softmax(x))
    gelu = tf.function(lambda x: keras.activations.gelu(x))
    assert "Softmax" in _op_types(softmax, tf.TensorSpec([None, 3]))
    assert "Erfc" in _op_types(gelu, tf.TensorSpec([None, 3]))
