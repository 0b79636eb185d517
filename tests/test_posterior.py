"""Bernoulli posterior in natural parameters, and the posterior file format."""
import numpy as np
import pytest

from lowprec_rbm.posterior import BernoulliPosterior, log2cosh, signs
from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior


def test_map_sample_flip_and_moments():
    lam = np.array([-2.0, -0.3, 0.0, 0.4, 3.0])
    q = BernoulliPosterior(lam)
    np.testing.assert_array_equal(q.map(), [-1, -1, 1, 1, 1])
    s = q.sample(np.random.default_rng(0), size=200_000).astype(np.float64)
    # Standard error of a ±1 mean over n samples is sqrt((1 - m^2)/n) <= 1/sqrt(2e5) = 0.0022; 5 s.e. = 0.011.
    np.testing.assert_allclose(s.mean(0), np.tanh(lam), atol=0.011)
    flips = (s != q.map()).mean(0)
    np.testing.assert_allclose(flips, q.flip_prob(), atol=0.011)
    assert q.flip_prob()[2] == 0.5


def test_same_seed_same_bits():
    q = BernoulliPosterior(np.linspace(-1, 1, 50))
    a = q.sample(np.random.default_rng(7), size=3)
    b = q.sample(np.random.default_rng(7), size=3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Generator"):
        q.sample(np.random.RandomState(0))


def test_entropy_and_kl_against_direct_formulas():
    lam = np.array([-30.0, -1.0, 0.0, 0.7, 25.0])
    q = BernoulliPosterior(lam)
    p = 0.5 * (1 + np.tanh(lam))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nan_to_num(p * np.log(p)) - np.nan_to_num((1 - p) * np.log(1 - p))
    np.testing.assert_allclose(q.entropy(), h, atol=1e-12)
    np.testing.assert_allclose(q.kl(0.0), np.sum(np.log(2) - h), rtol=1e-12)
    lam0 = 0.5
    p0 = 0.5 * (1 + np.tanh(lam0))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.nan_to_num(p * np.log(p / p0)) + np.nan_to_num((1 - p) * np.log((1 - p) / (1 - p0)))
    np.testing.assert_allclose(q.kl(lam0), kl.sum(), rtol=1e-10)
    np.testing.assert_allclose(log2cosh(np.array([800.0])), [800.0 + 0.0])


def test_invalid_natural_parameters():
    with pytest.raises(ValueError, match="NaN"):
        BernoulliPosterior(np.array([np.nan]))
    with pytest.raises(TypeError, match="floating"):
        BernoulliPosterior(np.array([1, 2]))


def test_posterior_file_round_trip_and_errors(tmp_path):
    p = tmp_path / "post.npz"
    lam = np.random.default_rng(0).standard_normal((4, 3))
    save_posterior(p, {"lam": lam}, {"kind": "rbm", "config": {"beta": 1.0}, "history": []})
    arrays, meta = load_posterior(p, kind="rbm")
    np.testing.assert_array_equal(arrays["lam"], lam)
    assert meta["config"] == {"beta": 1.0} and meta["format_version"] == 1 and "numpy" in meta["versions"]
    with pytest.raises(PosteriorFileError, match="expected a posterior of kind 'mlp'"):
        load_posterior(p, kind="mlp")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PosteriorFileError, match="cannot read"):
        load_posterior(tmp_path / "junk.npz")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(2))
    with pytest.raises(PosteriorFileError, match="not a lowprec posterior"):
        load_posterior(tmp_path / "foreign.npz")
    with pytest.raises(TypeError, match="only bool, integer and float"):
        save_posterior(tmp_path / "o.npz", {"o": np.array(["a"], dtype=object)}, {"kind": "rbm"})
    with pytest.raises(FileNotFoundError, match="folder"):
        save_posterior(tmp_path / "nope" / "x.npz", {"lam": lam}, {"kind": "rbm"})
    # A failed write leaves the previous file intact and no temporary files behind.
    with pytest.raises(ValueError, match="JSON"):
        save_posterior(p, {"lam": lam}, {"kind": "rbm", "bad": object()})
    assert load_posterior(p)[1]["kind"] == "rbm"
    assert sorted(f.name for f in tmp_path.iterdir() if f.name.startswith(".")) == []


def test_signs_maps_zero_to_plus_one_and_keeps_float_dtype():
    x = np.array([-2.5, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=np.float32)
    out = signs(x)
    np.testing.assert_array_equal(out, np.array([-1, -1, 1, 1, 1, 1], dtype=np.float32))
    assert out.dtype == np.float32
    assert signs(x.astype(np.float64)).dtype == np.float64
    rng = np.random.default_rng(3)
    big = rng.standard_normal((64, 300)).astype(np.float32)
    np.testing.assert_array_equal(signs(big), np.where(big >= 0, 1, -1).astype(np.float32))
    # integer input gives float64 (the ±1 of a count), not a wrapped integer
    np.testing.assert_array_equal(signs(np.array([-3, 0, 2])), np.array([-1.0, 1.0, 1.0]))
