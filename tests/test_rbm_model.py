"""BinaryRBM: input validation, determinism, history, persistence, convergence reporting, rising bound."""
import warnings

import numpy as np
import pytest

from lowprec_rbm.data import binarize, load_dataset
from lowprec_rbm.posterior_file import PosteriorFileError, save_posterior
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.rbm.planted import planted_data


@pytest.fixture(scope="module")
def planted():
    return planted_data(30, 2, 4, np.random.default_rng(0))


@pytest.fixture(scope="module")
def images():
    return binarize(load_dataset("sample").x_train[:300])


def test_bad_inputs_raise_clear_errors(planted):
    _, X = planted
    model = BinaryRBM(n_hidden=2, epochs=1)
    bad = X.astype(float)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad)
    with pytest.raises(ValueError, match=r"only -1 and \+1.*\[0\]"):
        model.fit(np.where(X > 0, 1, 0))
    with pytest.raises(ValueError, match=r"shape \(M, N\)"):
        model.fit(X[0])
    with pytest.raises(ValueError, match=r"shape \(M, N\)"):
        model.fit(X.reshape(X.shape[0], 5, 6))
    with pytest.raises(TypeError, match="numeric"):
        model.fit(X.astype(str))
    with pytest.raises(TypeError, match="numpy array"):
        model.fit("data")
    for kwargs, exc, msg in [
            ({"n_hidden": 0}, ValueError, r"BinaryRBM: n_hidden must be an int >= 1, got 0"),
            ({"beta": 0.0}, ValueError, r"beta must be a float > 0, got 0.0"),
            ({"beta": -1.0}, ValueError, r"beta must be a float > 0"),
            ({"rule": "sgd"}, ValueError, r"rule must be one of 'blr', 'huang', got 'sgd'"),
            ({"n_hidden": 2.5}, TypeError, r"n_hidden must be an int >= 1, got 2.5"),
            ({"bp_damping": 1.0}, ValueError, r"bp_damping must be a float in \[0, 1\)"),
            ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1 or None"),
            ({"partition": "x"}, ValueError, "partition must be one of"),
            ({"random_state": -1}, ValueError, "random_state must be None, an int >= 0"),
            ({"random_state": "0"}, TypeError, "random_state must be None"),
            ({"warm_start": 1}, TypeError, "warm_start must be True or False"),
            ({"binarize": float("nan")}, ValueError, "binarize must be a finite number or None"),
            ({"transform_mode": "bits"}, ValueError, "transform_mode must be one of 'probability', 'map'"),
            ({"ais_chains": 1}, ValueError, "ais_chains must be an int >= 2")]:
        params = {"n_hidden": 2, **kwargs}
        with pytest.raises(exc, match=msg):
            BinaryRBM(**params).fit(X)
    with pytest.raises(ValueError, match="teacher must have shape"):
        BinaryRBM(n_hidden=2, epochs=1).fit(X, teacher=np.ones((30, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        BinaryRBM(n_hidden=2).lower_bound(X)


def test_same_seed_same_bits_and_different_seed_differs(images):
    kw = dict(epochs=2, batch_size=100)
    a = BinaryRBM(n_hidden=4, random_state=3, **kw).fit(images)
    b = BinaryRBM(n_hidden=4, random_state=3, **kw).fit(images)
    c = BinaryRBM(n_hidden=4, random_state=4, **kw).fit(images)
    np.testing.assert_array_equal(a.posterior_.lam, b.posterior_.lam)
    assert a.history_[-1]["lower_bound"] == b.history_[-1]["lower_bound"]
    assert not np.array_equal(a.posterior_.lam, c.posterior_.lam)


def test_history_and_rising_lower_bound_on_images(images):
    # Default BLR (ρ = 1e-3) on 300 Fashion-MNIST images, minibatch 100: the lower bound rises every epoch
    # (measured for seeds 0-2: +24, +31 nats then +17, +21 nats; fixed evaluation z-samples, so no z-noise).
    model = BinaryRBM(n_hidden=8, epochs=3, batch_size=100, random_state=0).fit(images)
    lbs = [r["lower_bound"] for r in model.history_]
    assert lbs[0] < lbs[1] < lbs[2]
    rec = model.history_[-1]
    for key in ("epoch", "steps", "lower_bound", "lower_bound_per_sample", "data_term", "log_partition", "kl",
                "map_flips", "bp_iterations_mean", "bp_iterations_max", "bp_residual_max",
                "bp_converged_fraction", "bp_all_converged", "lb_bp_converged", "seconds"):
        assert key in rec
    assert rec["steps"] == 9 and rec["bp_all_converged"] and "overlap" not in rec
    assert rec["lower_bound"] == pytest.approx(rec["data_term"] - 300 * rec["log_partition"] - rec["kl"])
    # lower_bound() re-evaluates with the same fixed z-samples, warm-started: equal up to the BP tolerance.
    assert model.lower_bound(images) == pytest.approx(rec["lower_bound"], rel=1e-6)
    assert model.receptive_fields().shape == (8, 784)


def test_bp_non_convergence_is_reported(planted):
    _, X = planted
    model = BinaryRBM(n_hidden=2, epochs=2, bp_max_iter=1, learning_rate=0.1)
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        model.fit(X)
    assert not any(r["bp_all_converged"] for r in model.history_)
    assert all(r["bp_converged_fraction"] < 1 and r["bp_residual_max"] > model.bp_tol for r in model.history_)


def test_save_load_round_trip(tmp_path, planted):
    teacher, X = planted
    model = BinaryRBM(n_hidden=2, epochs=3, learning_rate=0.2, rule="huang", random_state=5)
    model.fit(X, teacher=teacher, data_info={"source": "planted", "binarize_threshold": None})
    path = model.save(tmp_path / "rbm.npz")
    loaded = BinaryRBM.load(path)
    np.testing.assert_array_equal(loaded.posterior_.lam, model.posterior_.lam)
    np.testing.assert_array_equal(loaded.posterior_.map(), model.posterior_.map())
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_ and loaded.data_info_["source"] == "planted"
    assert loaded.lower_bound(X) == pytest.approx(model.history_[-1]["lower_bound"], rel=1e-6)
    save_posterior(tmp_path / "mlp.npz", {"w": np.zeros(2)}, {"kind": "mlp"})
    with pytest.raises(PosteriorFileError, match="kind 'rbm'"):
        BinaryRBM.load(tmp_path / "mlp.npz")


def test_blr_training_goes_past_any_clip():
    # With decisive data (α = 20) the BLR's λ grows far past atanh(1 - 1e-5) = 6.1 (measured ~30; no clipping
    # anywhere); Huang's rule keeps every |m| <= 1 - clip_eps.
    _, X = planted_data(30, 2, 20, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        blr = BinaryRBM(n_hidden=2, epochs=40, learning_rate=0.5, random_state=1).fit(X)
        hu = BinaryRBM(n_hidden=2, rule="huang", epochs=40, learning_rate=0.4, clip_eps=1e-3, random_state=1).fit(X)
    assert np.abs(blr.posterior_.lam).max() > 2 * np.arctanh(1 - 1e-5)
    assert np.abs(hu.posterior_.mean).max() <= 1 - 1e-3 + 1e-12


def test_receptive_field_grid_and_png(tmp_path):
    from lowprec_rbm.report.plots import receptive_field_grid, receptive_fields

    lam = np.arange(12 * 5, dtype=float).reshape(12, 5) - 30.0         # 5 units of 3x4 pixels
    grid = receptive_field_grid(np.sign(lam), (3, 4), ncols=3, pad=1, pad_value=7.0)
    assert grid.shape == (2 * 4 - 1, 3 * 5 - 1)
    np.testing.assert_array_equal(grid[0:3, 5:9], np.sign(lam[:, 1]).reshape(3, 4))
    np.testing.assert_array_equal(grid[4:7, 10:14], 7.0)                # the empty sixth tile is padding
    with pytest.raises(ValueError, match="N = 3\\*4"):
        receptive_field_grid(lam[:10], (3, 4))
    pytest.importorskip("matplotlib")
    receptive_fields(np.sign(lam), tmp_path / "rf.png", image_shape=(3, 4))
    assert (tmp_path / "rf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
