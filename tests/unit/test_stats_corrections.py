"""Multiple-testing corrections against values worked by hand and against their definitions."""

import numpy as np
import pytest

from mlplat.stats import benjamini_hochberg, holm

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_matches_the_step_down_worked_by_hand() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm(P) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_bh_matches_the_step_up_worked_by_hand() -> None:
    # sorted: 0.005*4/1=0.02, 0.01*4/2=0.02, 0.03*4/3=0.04, 0.04*4/4=0.04 -> running min from the top
    assert benjamini_hochberg(P) == pytest.approx([0.02, 0.04, 0.04, 0.02], abs=1e-15)


def test_adjusted_values_are_capped_keep_order_and_skip_missing() -> None:
    p = [0.9, float("nan"), 0.5, 0.2]
    for method in (holm, benjamini_hochberg):
        out = method(p)
        assert np.isnan(out[1])
        assert np.all(out[[0, 2, 3]] <= 1.0)
        assert np.all(out[[0, 2, 3]] >= np.array([0.9, 0.5, 0.2]))
    assert holm([])[:].size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_holm_controls_the_family_wise_error_and_bh_the_false_discovery_rate() -> None:
    rng = np.random.default_rng(7)
    runs, m = 4000, 10
    null = rng.uniform(size=(runs, m))
    fwer = np.mean([np.any(holm(row) < 0.05) for row in null])
    assert fwer <= 0.06
    # five true effects among ten: BH keeps the share of false discoveries under alpha
    effects = np.concatenate([rng.uniform(size=(runs, 5)), rng.uniform(0, 0.002, size=(runs, 5))], axis=1)
    fdp = []
    for row in effects:
        rejected = benjamini_hochberg(row) < 0.05
        fdp.append(rejected[:5].sum() / max(1, rejected.sum()))
    assert np.mean(fdp) <= 0.05
