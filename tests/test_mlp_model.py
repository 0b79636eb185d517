"""MLPClassifier end to end on the embedded sample: learning, predictions, posterior files, seeds, bad input."""
import numpy as np
import pytest

from lowprec_rbm.data import load_embedded_sample
from lowprec_rbm.nn import MLPClassifier, deployable_mlp, prepare_inputs
from lowprec_rbm.posterior_file import PosteriorFileError, load_posterior, save_posterior

SMALL = dict(hidden="48,48", epochs=3, batch_size=50, bn_calib=400, test_samples=3)


@pytest.fixture(scope="module")
def data():
    d = load_embedded_sample()
    return d.x_train[:1000], d.y_train[:1000].astype(np.int64), d.x_test[:300], d.y_test[:300].astype(np.int64)


CASES = {
    "bayesbinn-bw": dict(rule="bayesbinn", activation="relu", input_encoding="real"),
    "bayesbinn-bin8": dict(rule="bayesbinn", activation="sign", input_encoding="bitplanes"),
    "ste-bin": dict(rule="ste", activation="sign", input_encoding="binary"),
    "adam": dict(rule="adam", activation="relu", input_encoding="real"),
    "ternary": dict(rule="ternary-vi", activation="sign", input_encoding="real", rule_params={"kl_weight": 0.1}),
}


@pytest.fixture(scope="module")
def fitted(data):
    x, y, xt, yt = data
    return {name: MLPClassifier(**SMALL, **kw, random_state=1).fit(x, y, xt[:100], yt[:100]) for name, kw in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_learns_above_chance(fitted, data, name):
    """10 balanced classes: chance is ~10%; 300 test images give a binomial SE of ~1.7% at 10%, so 40% is
    more than 15 SE above chance, and far below what 3 epochs on 1,000 images reach."""
    _, _, xt, yt = data
    model = fitted[name]
    assert model.score(xt, yt) > 0.40
    if model.rule in ("bayesbinn", "ternary-vi"):
        assert model.score(xt, yt, mode="mean") > 0.40
    h = model.history_
    assert len(h) == 3 and all(np.isfinite(r["loss"]) for r in h)
    assert {"val_acc", "val_nll", "val_ece", "train_acc", "seconds"} <= set(h[-1])


def test_history_tracks_posterior(fitted):
    h = fitted["bayesbinn-bw"].history_[-1]
    assert set(h["abs_lam_quantiles"]) == {"q05", "q25", "q50", "q75", "q95"}
    assert 0 < h["entropy_nats"] <= np.log(2)
    assert "val_mean_nll" in h and "val_mean_ece" in h
    t = fitted["ternary"].history_[-1]
    assert 0 <= t["sparsity"] <= 1 and t["kl_nats"] >= 0


def test_predict_proba_is_a_distribution(fitted, data):
    _, _, xt, _ = data
    for mode in ("map", "mean"):
        p = fitted["bayesbinn-bw"].predict_proba(xt[:20], mode=mode)
        assert p.shape == (20, 10)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    p = fitted["ternary"].predict_proba(xt[:20], mode="pfp", n_samples=4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="pfp"):
        fitted["ste-bin"].predict_proba(xt[:5], mode="pfp")


def test_same_seed_same_bits(data):
    x, y, _, _ = data
    kw = dict(SMALL, epochs=2, rule="bayesbinn", activation="sign", input_encoding="binary")
    a = MLPClassifier(**kw, random_state=7).fit(x, y)
    b = MLPClassifier(**kw, random_state=7).fit(x, y)
    c = MLPClassifier(**kw, random_state=8).fit(x, y)
    for pa, pb in zip(a.params_, b.params_):
        np.testing.assert_array_equal(pa, pb)
    assert any(not np.array_equal(pa, pc) for pa, pc in zip(a.params_, c.params_))


@pytest.mark.parametrize("name", list(CASES))
def test_posterior_file_round_trip(fitted, data, tmp_path, name):
    _, _, xt, _ = data
    model = fitted[name]
    path = model.save(tmp_path / f"{name}.npz", extra={"config": {"data": {"source": "test"}}})
    arrays, meta = load_posterior(path, kind="mlp")
    cfg = meta["config"]
    assert cfg["sizes"] == [784, 48, 48, 10] and cfg["rule"] == model.rule and cfg["data"] == {"source": "test"}
    key = {"bayesbinn": "lam", "ste": "weight", "adam": "weight", "ternary-vi": "logits"}[model.rule]
    assert arrays[f"layer0.{key}"].shape == ((48, 784, 3) if model.rule == "ternary-vi" else (48, 784))
    for i in range(3):
        assert arrays[f"bn{i}.mean"].dtype == np.float64
    loaded = MLPClassifier.load(path)
    for pa, pb in zip(model.params_, loaded.params_):
        np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(model.predict(xt), loaded.predict(xt))
    assert loaded.history_ == meta["history"]


@pytest.mark.parametrize("name", ["bayesbinn-bin8", "ste-bin", "ternary", "bayesbinn-bw"])
def test_deployable_integer_network_matches_the_model(fitted, data, tmp_path, name):
    """The integer weights + BN statistics of the file reproduce the model's MAP predictions exactly."""
    _, _, xt, _ = data
    model = fitted[name]
    path = model.save(tmp_path / "m.npz")
    dep = deployable_mlp(path)
    assert all(w.dtype == np.int8 for w in dep.weights)
    values = np.unique(np.concatenate([np.unique(w) for w in dep.weights]))
    assert set(values) <= ({-1, 0, 1} if model.rule == "ternary-vi" else {-1, 1})
    lam = load_posterior(path)[0].get("layer0.lam")
    if lam is not None:
        np.testing.assert_array_equal(dep.weights[0], np.where(lam >= 0, 1, -1))
    scores = dep.forward(prepare_inputs(xt, dep.input, dep.threshold))
    np.testing.assert_array_equal(np.argmax(scores, axis=1), model.predict(xt))


def test_bitplane_first_layer_is_an_exact_integer_computation(fitted, data):
    """8-bit input: Σ_b 2^b (2·popcount(plane_b AND w⁺) − popcount(plane_b)) equals the float32 dot product."""
    _, _, xt, _ = data
    model = fitted["bayesbinn-bin8"]
    w = model.deployable_weights()[0].astype(np.int64)          # ±1
    pix = xt.reshape(len(xt), -1).astype(np.int64)
    wplus = (w > 0).astype(np.int64)
    total = np.zeros((len(xt), w.shape[0]), dtype=np.int64)
    for b in range(8):
        plane = (pix >> b) & 1
        total += (1 << b) * (2 * (plane @ wplus.T) - plane.sum(axis=1, keepdims=True))
    fl = prepare_inputs(xt, "bitplanes") @ model.deployable_weights()[0].T
    np.testing.assert_array_equal(total, fl.astype(np.int64))
    np.testing.assert_array_equal(fl, np.round(fl))


def test_adam_posterior_has_no_integer_network(fitted, tmp_path):
    path = fitted["adam"].save(tmp_path / "a.npz")
    with pytest.raises(ValueError, match="full-precision"):
        deployable_mlp(path)


def test_bad_inputs(data, tmp_path):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="rule must be one of"):
        MLPClassifier(rule="sgd").fit(x, y)
    with pytest.raises(ValueError, match="pixels and must lie in 0..255, found 0..300"):
        MLPClassifier(**SMALL).fit(np.where(x > 128, 300, 0), y)       # integer inputs are pixels
    with pytest.raises(ValueError, match="NaN or infinity"):
        MLPClassifier(**SMALL).fit(np.where(x > 128, np.nan, 0.5), y)  # float inputs are intensities
    with pytest.raises(TypeError, match="bitplanes' takes integer pixels"):
        MLPClassifier(**SMALL, input_encoding="bitplanes").fit(x / 255.0, y)
    with pytest.raises(ValueError, match="labels"):
        MLPClassifier(**SMALL).fit(x, y[:-1])
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        MLPClassifier(**SMALL, rule_params={"p_zero": 0.5}).fit(x, y)
    with pytest.raises(ValueError, match="activation='sign'"):
        MLPClassifier(**SMALL, rule="ternary-vi", activation="relu").fit(x, y)
    with pytest.raises(ValueError, match="hidden must be a comma-separated string"):
        MLPClassifier(**dict(SMALL, hidden="64,x")).fit(x, y)
    with pytest.raises(ValueError, match="p_zero"):
        MLPClassifier(**SMALL, rule="ternary-vi", activation="sign", rule_params={"p_zero": 1.5}).fit(x, y)
    with pytest.raises(ValueError, match="learning_rate must be None or a float > 0, got -1.0"):
        MLPClassifier(**SMALL, learning_rate=-1.0).fit(x, y)
    with pytest.raises(ValueError, match="batch_size"):
        MLPClassifier(**dict(SMALL, batch_size=5000)).fit(x, y)
    with pytest.raises(ValueError, match="not fitted"):
        MLPClassifier().predict(x)
    with pytest.raises(FileNotFoundError):
        MLPClassifier.load(tmp_path / "missing.npz")
    save_posterior(tmp_path / "rbm.npz", {"lam": np.zeros((3, 2))}, {"kind": "rbm"})
    with pytest.raises(PosteriorFileError, match="kind 'mlp'"):
        MLPClassifier.load(tmp_path / "rbm.npz")
    save_posterior(tmp_path / "bad.npz", {"x": np.zeros(2)}, {"kind": "mlp", "config": {}})
    with pytest.raises(PosteriorFileError, match="lacks"):
        MLPClassifier.load(tmp_path / "bad.npz")


def test_warm_start_with_previous_posterior_as_prior(data, tmp_path):
    """Second fit: continues from λ, and the prior λ0 is the λ at its start (saved as layer{i}.lam0)."""
    x, y, xt, yt = data
    model = MLPClassifier(**dict(SMALL, epochs=1), rule="bayesbinn", warm_start=True, prior="previous", random_state=2)
    model.fit(x, y)
    assert model.lam0_ is None
    lam_before = [l.copy() for l in model.params_]
    model.fit(x[:, ::-1], y)                      # a second "task": the images mirrored
    for a, b in zip(model.lam0_, lam_before):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(model.params_, lam_before))
    arrays, _ = load_posterior(model.save(tmp_path / "cl.npz"))
    np.testing.assert_array_equal(arrays["layer0.lam0"], lam_before[0])
    loaded = MLPClassifier.load(tmp_path / "cl.npz")
    np.testing.assert_array_equal(loaded.lam0_[1], lam_before[1])
    with pytest.raises(ValueError, match="warm_start"):
        MLPClassifier(**SMALL, prior="previous").fit(x, y)


def test_linear_readout_without_hidden_layers(data):
    x, y, xt, yt = data
    model = MLPClassifier(**dict(SMALL, hidden=()), rule="bayesbinn", input_encoding="binary", random_state=0).fit(x, y)
    assert model.arch_.sizes == (784, 10)
    assert model.score(xt, yt) > 0.40            # chance 10%; see test_learns_above_chance
