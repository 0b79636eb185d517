"""The report's PNG figures are written (real matplotlib, Agg) and bad input is refused."""
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from lowprec_rbm.report.plots import abs_mean_histogram, cost_bars, receptive_fields, training_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_figures_are_pngs(tmp_path):
    rng = np.random.default_rng(0)
    paths = [
        receptive_fields(np.sign(rng.standard_normal((784, 10))), tmp_path / "rf.png"),
        abs_mean_histogram({"layer0": rng.standard_normal(500)}, tmp_path / "m.png"),
        training_curves([{"epoch": 1, "lower_bound": -2.0}, {"epoch": 2, "lower_bound": -1.5}], tmp_path / "t.png"),
        cost_bars({"binary": 1.0, "int8": 20.0, "float32": 170.0}, tmp_path / "e.png", "nJ", "energy"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == PNG


def test_bad_plot_input(tmp_path):
    with pytest.raises(ValueError, match="784 pixels"):
        receptive_fields(np.ones((10, 10)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no numeric"):
        training_curves([{"epoch": 1, "note": "x"}], tmp_path / "x.png")
