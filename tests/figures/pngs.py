"""The check every figure test shares: a file is a real PNG with something drawn on it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pixel values are in [0, 1]. A blank (one-colour) image has variance 0; a figure's thin
# lines and text on white already give ~1e-2 (a fraction p of dark pixels: about p(1-p)).
MIN_VARIANCE = 1e-3


def pixel_variance(path: Path) -> float:
    """The variance of a PNG's colour values (alpha left out: it is uniform on figures)."""
    pixels = np.asarray(matplotlib.image.imread(path), np.float64)
    colours = pixels[..., :3] if pixels.ndim == 3 else pixels
    return float(colours.var())


def assert_png_not_blank(path: Path, min_variance: float = MIN_VARIANCE) -> None:
    """``path`` exists, starts with the PNG signature, decodes, and its pixels vary."""
    path = Path(path)
    assert path.is_file(), f"{path}: no such file"
    with path.open("rb") as f:
        assert f.read(len(SIGNATURE)) == SIGNATURE, f"{path}: not a PNG (signature)"
    variance = pixel_variance(path)  # raises if the PNG does not decode
    assert variance > min_variance, f"{path}: blank (pixel variance {variance:.2e})"
