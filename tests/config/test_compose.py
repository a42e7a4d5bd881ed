"""Every option file of every group composes and builds its Keras object; typos fail loudly."""

from pathlib import Path

import keras
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from pipeline.config.compose import compose_config, composition_error, load_params, validate
from pipeline.kinds import activations, losses, models, optimizers
from pipeline.training.planning import plan
from tests.helpers import REPO_ROOT

CONF = REPO_ROOT / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))]
APPENDED = {"experiment", "batching"}  # @package _global_ presets


def compose(*overrides):
    return compose_config(list(overrides), config_dir=CONF)


def test_every_group_has_options():
    # training, runtime, mlflow and sweep have no folder: their values are the schemas'
    # defaults, set project-wide in config.yaml or per run on the command line.
    assert set(GROUPS) == {
        "activation",
        "batching",
        "data",
        "dataset",
        "experiment",
        "figures",
        "loss",
        "model",
        "optimizer",
    }


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_builds(group, option):
    if group in APPENDED:  # presets: not in the defaults list, appended with +
        cfg = validate(compose(f"+{group}={option}"))
        if group == "experiment":  # its runs go to an experiment named after it
            assert cfg.mlflow.experiment_name == f"{option}-{cfg.dataset.name}"
        elif option == "full":  # full batch is gradient descent
            assert cfg.optimizer.name == "gd"
        else:  # bs<N> sets the batch size
            assert cfg.training.batch_size == int(option.removeprefix("bs"))
        return
    cfg = compose(f"{group}={option}")
    node = cfg[group]
    if "name" in node and group != "dataset":
        assert node.name == option  # file name = choice name
    if group == "activation":
        assert isinstance(activations.build(node), keras.layers.Layer)
    elif group == "optimizer":
        assert isinstance(optimizers.get(node), keras.optimizers.Optimizer)
    elif group == "loss":
        assert losses.resolve("multiclass", node.name, 10).loss in losses.LOSSES
    elif group == "model":
        model = models.build(node, cfg.activation, (28, 28), 10, "softmax", image=True)
        assert model.output_shape == (None, 10)
    elif group == "dataset":
        assert node.name == option
        assert plan(cfg).dataset == option
    elif group == "figures":  # the course's figures: the lecture experiment, every section
        assert node.experiment_name == "lecture"
        assert set(node) == {
            "experiment_name",
            "gallery",
            "paths",
            "vanishing",
            "softmax",
            "update_rules",
        }
    else:  # data: the catalogue of raw files
        assert set(node.datasets) == {"iris", "mnist", "fashion_mnist"}
        assert node.datasets.mnist.format == "idx"


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (
            ["optimizer=adma"],
            "unknown optimizer 'adma'; valid optimizers: adadelta, adagrad, adam, adamax, "
            "adamw, gd, lion, momentum, nadam, nag, rmsprop, sgd",
        ),
        (
            ["activation=relu", "activation.alpha=0.3"],
            "unknown activation key 'alpha'; valid activation keys: name",
        ),
        (
            ["optimizer=adam", "optimizer.momentum=0.9"],
            "unknown optimizer key 'momentum'; valid optimizer keys: name, learning_rate, "
            "clipnorm, beta_1, beta_2, epsilon, amsgrad",
        ),
        (
            ["training.batch_size=abc"],
            "training.batch_size: Value 'abc' of type 'str' could not be converted to Integer",
        ),
        (["+experiment=nope"], "unknown experiment 'nope'; valid experiments: activation_x_opt"),
    ],
)
def test_a_composition_error_is_one_line_in_validates_words(overrides, said):
    """What python -m pipeline.train and pipeline.figures print instead of Hydra's message."""
    with pytest.raises(ConfigCompositionException) as info:
        compose(*overrides)
    assert composition_error(info.value).startswith(said)
    assert "\n" not in composition_error(info.value)
    assert composition_error(ValueError("other")) is None  # not Hydra's: left as it is


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optimizer=adma"], "Could not find 'optimizer/adma'"),
        (["activation=relu", "activation.alpha=0.3"], "Could not override 'activation.alpha'"),
        (["optimizer=adam", "optimizer.momentum=0.9"], "Could not override 'optimizer.momentum'"),
        (["training.batchsize=64"], "Could not override 'training.batchsize'"),
        (["training.batch_size=abc"], "training.batch_size=abc"),
        (["dataset.task=ranking"], "dataset.task=ranking"),
    ],
)
def test_typos_fail_at_composition(overrides, message):
    with pytest.raises(ConfigCompositionException, match=message):
        compose(*overrides)


def test_unknown_option_error_lists_the_valid_ones():
    with pytest.raises(ConfigCompositionException) as info:
        compose("optimizer=adma")
    text = str(info.value)
    for name in optimizers.NAMES:
        assert f"\t{name}\n" in text or text.endswith(f"\t{name}")


def test_params_file_is_validated_too(tmp_path: Path):
    cfg = OmegaConf.to_container(compose(), resolve=True)
    cfg["optimizer"]["momentun"] = 0.9
    path = tmp_path / "params.yaml"
    OmegaConf.save(cfg, path)
    with pytest.raises(ValueError, match="unknown optimizer key 'momentun'; valid optimizer keys"):
        load_params(path)

    cfg["optimizer"] = {"name": "adamm"}
    OmegaConf.save(cfg, path)
    with pytest.raises(
        ValueError, match="unknown optimizer 'adamm'; valid optimizers: gd, sgd, momentum, nag"
    ):
        load_params(path)


def test_committed_params_file_is_the_composition_of_conf():
    """params.yaml is generated: it must equal conf/'s composition (dvc.lock records it)."""
    assert OmegaConf.load(REPO_ROOT / "params.yaml") == compose()


def test_composing_inside_a_running_hydra_app_leaves_the_apps_hydra_in_place():
    """python -m pipeline.figures composes presets while its own Hydra is initialised."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        app_hydra = GlobalHydra.instance().hydra
        cfg = compose("+experiment=vanishing_gradient", "activation=sigmoid")
        assert cfg.model.kernel_initializer == "he_normal"
        assert cfg.activation.name == "sigmoid"
        assert GlobalHydra.instance().hydra is app_hydra
    assert not GlobalHydra.instance().is_initialized()
