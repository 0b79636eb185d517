"""The report's PNG figures (real matplotlib, Agg): what each figure shows is chosen as specified, and bad input
is refused. How they look was checked by eye (README, Measuring); here: the choices behind them."""
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from lowprec_rbm.report.plots import (PRECISIONS, abs_mean_histogram, cost_bars, receptive_field_grid,
                                      receptive_fields, training_curves, training_panels)

PNG = b"\x89PNG\r\n\x1a\n"

RBM_EPOCH = {"epoch": 1, "steps": 20, "map_flips": 900, "bp_iterations_mean": 50.0, "bp_iterations_max": 80,
             "bp_residual_max": 1e-7, "bp_converged_fraction": 0.99, "bp_all_converged": False,
             "lower_bound": -700000.0, "lower_bound_per_sample": -350.0, "data_term": -1.0, "log_partition": 2.0,
             "kl": 1000.0, "lb_bp_iterations": 40, "lb_bp_residual": 1e-7, "lb_bp_converged": True, "seconds": 3.0}
MLP_EPOCH = {"epoch": 1, "lr": 1.0, "loss": 0.9, "train_acc_running": 0.6, "train_acc": 0.7, "val_acc": 0.65,
             "val_nll": 1.1, "val_ece": 0.1, "logit_scale": 2.0, "abs_lam_quantiles": {"q50": 0.9},
             "abs_lam_max": 3.0, "entropy_nats": 0.4, "mean_flip_prob": 0.2, "frac_uncertain": 0.5,
             "seconds": 1.0, "eval_seconds": 0.1}


def _history(epoch, n=3):
    return [{**epoch, "epoch": i + 1} for i in range(n)]


def test_rbm_curves_are_the_bound_kl_flips_and_bp():
    panels = training_panels(_history(RBM_EPOCH), "rbm")
    labels = [label for _, lines in panels for label, _, _ in lines]
    assert labels == ["lower bound on ln p(image)", "KL of the posterior from the prior",
                      "weights whose sign changed this epoch", "belief-propagation sweeps",
                      "belief-propagation runs converged"]
    assert panels[0][1][0][2] == [-350.0] * 3            # per image, not the sum over the data set
    assert panels[-1][1][0][2] == pytest.approx([99.0] * 3)


def test_mlp_curves_are_accuracy_nll_ece_and_posterior_not_timings():
    hist = _history(MLP_EPOCH)
    hist[-1]["val_mean_acc"] = 0.7                        # the posterior mean is scored at the last epoch only
    panels = training_panels(hist, "mlp")
    ylabels = [y for y, _ in panels]
    assert ylabels[0] == "accuracy (%)"
    acc = {label: (xs, ys) for label, xs, ys in panels[0][1]}
    assert acc["train (deployable network)"][1] == pytest.approx([70.0] * 3)
    assert acc["validation (posterior mean)"] == ([3.0], [70.0])
    flat = " ".join(ylabels + [label for _, lines in panels for label, _, _ in lines])
    for wanted in ("NLL", "ECE", "|λ| median", "entropy"):
        assert wanted in flat
    for unwanted in ("seconds", "lr", "eval", "logit"):
        assert unwanted not in flat


def test_figures_are_pngs(tmp_path):
    rng = np.random.default_rng(0)
    paths = [
        receptive_fields(np.sign(rng.standard_normal((784, 10))), tmp_path / "rf.png", (28, 28)),
        receptive_fields(np.sign(rng.standard_normal((6, 100))), tmp_path / "rf2.png", (10, 10)),
        abs_mean_histogram({"layer 1": rng.standard_normal(500)}, tmp_path / "m.png"),
        training_curves(_history(RBM_EPOCH), tmp_path / "t.png", "rbm"),
        training_curves(_history(MLP_EPOCH), tmp_path / "t2.png", "mlp"),
        cost_bars([("this model", "binary", 1.0), ("int8", "int8", 20.0), ("float32", "float32", 170.0)],
                  tmp_path / "e.png", "nJ", "energy"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == PNG


def test_one_colour_per_precision():
    colours = [c for c, _ in PRECISIONS.values()]
    assert len(set(colours)) == len(colours) and set(PRECISIONS) == {"binary", "ternary", "int8", "float32"}


def test_grid_pads_with_nan_so_ternary_zero_is_not_padding():
    grid = receptive_field_grid(np.zeros((4, 2)), (2, 2), ncols=2)
    assert grid.shape == (2, 5)
    assert np.isnan(grid[:, 2]).all() and (grid[:, [0, 1, 3, 4]] == 0).all()


def test_bad_plot_input(tmp_path):
    with pytest.raises(ValueError, match="784 pixels"):
        receptive_fields(np.ones((10, 10)), tmp_path / "x.png", (28, 28))
    with pytest.raises(ValueError, match="none of the per-epoch series"):
        training_curves([{"epoch": 1, "note": "x", "seconds": 1.0}], tmp_path / "x.png", "mlp")
    with pytest.raises(ValueError, match="kind must be one of"):
        training_curves(_history(MLP_EPOCH), tmp_path / "x.png", "cnn")
    with pytest.raises(ValueError, match="precision must be one of"):
        cost_bars([("a", "int4", 1.0)], tmp_path / "x.png", "nJ", "t")
    with pytest.raises(ValueError, match="finite number"):
        cost_bars([("a", "int8", float("nan"))], tmp_path / "x.png", "nJ", "t")
