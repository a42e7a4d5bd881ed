from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from pipeline.data.preprocess import preprocess, save_splits
from tests.helpers import REPO_ROOT


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory, mirror_dir):
    """The tiny Fashion-MNIST, preprocessed as the DVC stage would (read-only use)."""
    root = tmp_path_factory.mktemp("processed")
    classes = list(
        OmegaConf.load(REPO_ROOT / "conf" / "data" / "default.yaml").datasets.fashion_mnist.classes
    )
    splits = preprocess(
        "fashion_mnist", "idx", mirror_dir / "fashion-mnist", classes, {"validation": 10}, seed=0
    )
    save_splits(splits, root / "fashion_mnist")
    return root
