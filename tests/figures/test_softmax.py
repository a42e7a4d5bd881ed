"""Softmax: the course's stable code against the naive formula, in float32."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.config.compose import compose_config
from pipeline.figures import softmax
from tests.figures.pngs import assert_png_not_blank


@pytest.fixture(scope="module")
def settings():
    return compose_config().figures.softmax


@pytest.fixture(scope="module")
def rows(settings):
    return softmax.compare(settings)


def by_offset(rows):
    return {r["offset"]: r for r in rows}


def test_the_course_example_gives_the_courses_numbers():
    # The course's own cell: softmax(np.array([1.0, 1.0, 2.0])).
    y = softmax.softmax(np.array([1.0, 1.0, 2.0]))
    np.testing.assert_allclose(y, [0.21194156, 0.21194156, 0.57611688], atol=1e-8)
    assert y.sum() == pytest.approx(1.0)


def test_naive_is_nan_where_exp_overflows_float32_and_stable_is_not(rows):
    rows = by_offset(rows)
    for offset in (86.0, 88.0, 1000.0):  # exp(89) > float32's max, about 3.4e38
        assert rows[offset]["overflow"] and rows[offset]["naive_nan"]
        assert not rows[offset]["stable_nan"]
    # +86: exp(87) and exp(88) are finite, over an infinite sum: 0, 0, then inf/inf.
    np.testing.assert_array_equal(rows[86.0]["naive"], [0.0, 0.0, np.nan])
    for offset in (0.0, 10.0, 50.0):
        assert not rows[offset]["overflow"] and not rows[offset]["naive_wrong"]
        np.testing.assert_allclose(rows[offset]["naive"], rows[offset]["stable"], atol=1e-7)


def test_an_overflowed_sum_alone_makes_naive_silently_zero(rows):
    row = by_offset(rows)[85.5]  # every exp finite, their sum not
    assert np.isfinite(np.exp(row["inputs"])).all()
    np.testing.assert_array_equal(row["naive"], [0.0, 0.0, 0.0])
    assert row["overflow"] and row["naive_wrong"] and not row["naive_nan"]


def test_stable_is_shift_invariant_sums_to_one_and_is_float32(rows):
    first = rows[0]["stable"]
    for r in rows:
        assert r["inputs"].dtype == r["naive"].dtype == r["stable"].dtype == np.float32
        np.testing.assert_allclose(r["stable"], first, atol=1e-6)
        assert r["stable_sum"] == pytest.approx(1.0, abs=1e-6)


def test_stable_agrees_with_the_projects_output_activation(rows):
    for r in rows:
        assert r["max_diff_keras"] <= 1e-6
        np.testing.assert_allclose(r["stable"], r["keras"], rtol=0, atol=1e-6)


def test_float32_is_the_point_float64_would_not_overflow_yet():
    x = np.array([89.0, 90.0, 91.0])
    assert not np.isnan(softmax.naive_softmax(x)).any()  # float64 overflows past ~709
    assert np.isnan(softmax.naive_softmax(x.astype(np.float32))).all()


def test_tables_list_every_offset_and_mark_nan(rows):
    text = softmax.table(rows)
    lines = [line for line in text.splitlines() if line.startswith("| ") and "offset" not in line]
    assert [line.split("|")[1].strip() for line in lines] == ["0", "10", "50", "85.5", "86",
                                                             "88", "1000"]  # fmt: skip
    assert "| **nan** |" in lines[-1] and "| right |" in lines[0]
    assert "**wrong (sum = inf)**" in lines[3]
    parsed = list(csv.DictReader(io.StringIO(softmax.csv_text(rows))))
    assert [float(r["offset"]) for r in parsed] == [r["offset"] for r in rows]
    assert parsed[-1]["naive"] == "nan nan nan" and parsed[-1]["naive_nan"] == "True"
    assert [float(v) for v in parsed[-1]["stable"].split()] == pytest.approx(rows[-1]["stable"])


def test_empty_settings_fail_in_one_line():
    bad = OmegaConf.create({"logits": [1.0], "offsets": []})
    with pytest.raises(ValueError, match=r"^figures.softmax.offsets is empty: give at least"):
        softmax.compare(bad)


def test_draw_writes_the_figure_and_the_tables(settings, tmp_path):
    paths = softmax.draw(settings, tmp_path, seed=42)
    assert paths == [tmp_path / "softmax.png", tmp_path / "softmax.md", tmp_path / "softmax.csv"]
    assert_png_not_blank(paths[0])
    assert paths[1].read_text() == softmax.table(softmax.compare(settings))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
