import numpy as np
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.analysis.bootstrap import score_intervals
from voicesae_core.analysis.probe import scores


def test_a_perfect_predictor_has_a_point_interval():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], bool)
    ci = score_intervals(y, y, n_boot=200)
    assert ci.precision == (1.0, 1.0) and ci.recall == (1.0, 1.0) and ci.f1 == (1.0, 1.0)


def test_the_interval_holds_the_score_and_narrows_with_more_rows():
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 10000):
        y = rng.random(n) < 0.4
        pred = np.where(rng.random(n) < 0.8, y, ~y)  # 80 % of rows right
        s, ci = scores(y, pred), score_intervals(y, pred, n_boot=500, seed=2)
        assert ci.precision.low < s.precision < ci.precision.high
        assert ci.recall.low < s.recall < ci.recall.high
        widths.append(ci.recall.high - ci.recall.low)
    assert widths[1] < widths[0] / 5  # ~1/sqrt(n): 10x narrower for 100x the rows


def test_coverage_of_the_true_recall_is_near_the_level():
    # Many test sets drawn from one known predictor (recall 0.7): the 90 % interval should hold
    # the true value about 90 % of the time (percentile bootstrap, so not exactly).
    rng = np.random.default_rng(3)
    hits = 0
    for i in range(200):
        y = np.ones(200, bool)
        pred = rng.random(200) < 0.7
        ci = score_intervals(y, pred, n_boot=300, level=0.9, seed=i)
        hits += ci.recall.low <= 0.7 <= ci.recall.high
    assert 0.82 <= hits / 200 <= 0.97


def test_undefined_precision_is_left_out_not_counted_as_zero():
    y = np.array([1] * 5 + [0] * 95, bool)
    pred = np.zeros(100, bool)
    pred[0] = True  # one true positive; most resamples predict nothing positive
    ci = score_intervals(y, pred, n_boot=400)
    assert ci.precision == (1.0, 1.0)  # every resample with a predicted positive has precision 1


def test_bad_input_is_named():
    with pytest.raises(VoicesaeError, match="labels and .* predictions"):
        score_intervals([1, 0], [1, 0, 1])
    with pytest.raises(VoicesaeError, match="n_boot >= 1"):
        score_intervals([1, 0], [1, 0], n_boot=0)
