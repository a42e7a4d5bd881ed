"""The shared PNG check must fail on what it is there to catch."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from pipeline.training.plots import save_figure  # noqa: E402
from tests.figures.pngs import assert_png_not_blank, pixel_variance  # noqa: E402


def test_a_drawn_figure_passes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 0])
    ax.set_title("a line")
    path = save_figure(fig, tmp_path / "line.png")
    assert_png_not_blank(path)


def test_a_blank_white_png_fails(tmp_path):
    fig = plt.figure(figsize=(3, 2))  # white, nothing drawn
    path = save_figure(fig, tmp_path / "blank.png")
    assert pixel_variance(path) == 0.0
    with pytest.raises(AssertionError, match="blank.png: blank"):
        assert_png_not_blank(path)


def test_a_non_png_fails_even_when_large(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"GIF89a" + bytes(range(256)) * 100)
    with pytest.raises(AssertionError, match="fake.png: not a PNG"):
        assert_png_not_blank(path)


def test_a_truncated_png_fails(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    whole = save_figure(fig, tmp_path / "whole.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises((OSError, SyntaxError, ValueError)):
        assert_png_not_blank(path)


def test_a_missing_file_fails(tmp_path):
    with pytest.raises(AssertionError, match="no such file"):
        assert_png_not_blank(tmp_path / "none.png")
