"""Activity statistics of ±1 layers and the posterior certainty profile, against direct counts."""
import numpy as np
import pytest

from lowprec_rbm.report import certainty_profile
from targets.measure.activity import activity_stats


def test_activity_by_hand():
    v = np.array([[1, -1, 1], [1, 1, -1], [1, -1, -1], [1, -1, -1]], dtype=np.int8)
    s = activity_stats({"h": v})["h"]
    assert s["fraction_plus"] == 6 / 12
    # toggles between rows: (0,1,1) + (0,1,0) + (0,0,0) = 3 of 9 unit-transitions.
    assert s["toggle_rate"] == 3 / 9
    assert s["always_on_units"] == 1 and s["dead_units"] == 0
    assert activity_stats({"one": v[:1]})["one"]["toggle_rate"] is None
    with pytest.raises(ValueError, match="expected ±1"):
        activity_stats({"bad": np.zeros((2, 2), np.int8)})


def test_certainty_profile():
    lam = np.array([0.0, np.arctanh(0.95), np.arctanh(0.995), 10.0])
    c = certainty_profile(lam)
    assert c["frac_abs_m_above_0.9"] == 0.75 and c["frac_abs_m_above_0.99"] == 0.5
    assert c["frac_abs_m_above_0.999"] == 0.25
    # flip probability sigmoid(-2|λ|) = (1 - |m|)/2.
    expected = 0.5 + 0.025 + 0.0025 + (1 - np.tanh(10.0)) / 2
    assert c["expected_flips_map_vs_sample"] == pytest.approx(expected, rel=1e-9)
    assert c["mean_entropy_nats"] < np.log(2)
