"""Deployable weights from posteriors and the posterior -> export.network converters."""
from __future__ import annotations

import numpy as np
import pytest

from export.layout import unpack_pm1
from export.network import MLPNetwork, RBMNetwork
from lowprec_rbm import derive
from lowprec_rbm.data import binarize
from lowprec_rbm.nn.deploy import deployable_mlp
from lowprec_rbm.nn.network import Architecture, population_stats, prepare_inputs
from targets.ground_truth import float_forward


# ------------------------------------------------------------------------------------------------ weights
def test_map_is_sign_with_ties_to_plus_one():
    lam = np.array([[-2.0, -1e-9, 0.0, 1e-9, 3.0]])
    np.testing.assert_array_equal(derive.map_weights(lam), [[-1, -1, 1, 1, 1]])


def test_samples_are_seeded_and_follow_sigmoid_2lam():
    lam = np.array([-1.0, -0.2, 0.0, 0.4, 2.0])
    a = derive.sample_weights(lam, np.random.default_rng(7), size=20000)
    b = derive.sample_weights(lam, np.random.default_rng(7), size=20000)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, derive.sample_weights(lam, np.random.default_rng(8), size=20000))
    p_hat = (a == 1).mean(axis=0)
    p = 1 / (1 + np.exp(-2 * lam))
    # Binomial standard error sqrt(p(1-p)/S) <= 0.0036 for S = 20000; allow 5 standard errors.
    assert np.all(np.abs(p_hat - p) <= 5 * np.sqrt(p * (1 - p) / 20000) + 1e-12)


def test_ternary_map_most_probable_value_and_tie_rule():
    logits = np.array([[3.0, 1.0, 0.0],     # -1
                       [0.0, 2.0, 1.0],     # 0
                       [0.0, 1.0, 5.0],     # +1
                       [1.0, 1.0, 1.0],     # all tied -> 0
                       [2.0, 0.0, 2.0],     # -1/+1 tied -> +1
                       [2.0, 2.0, 0.0]])    # -1/0 tied -> 0
    np.testing.assert_array_equal(derive.ternary_map(logits), [-1, 0, 1, 0, 1, 0])


def test_ternary_samples_follow_softmax():
    logits = np.array([[0.5, -1.0, 1.2], [0.0, 0.0, 0.0]])
    s = derive.ternary_sample(logits, np.random.default_rng(3), size=30000)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for j, v in enumerate((-1, 0, 1)):
        p_hat = (s == v).mean(axis=0)
        # 5 binomial standard errors over 30000 draws
        assert np.all(np.abs(p_hat - p[:, j]) <= 5 * np.sqrt(p[:, j] * (1 - p[:, j]) / 30000))


def test_ternary_map_agrees_with_the_trainers_deployable_rule():
    rng = np.random.default_rng(0)
    logits = rng.integers(-2, 3, (40, 30, 3)).astype(np.float32)  # many ties on purpose
    arrays = {"layer0.logits": logits, "bn0.mean": np.zeros(40), "bn0.var": np.ones(40)}
    meta = {"kind": "mlp", "config": {"sizes": [30, 40], "activation": "sign", "input": "binary",
                                      "threshold": 0.5, "bn_eps": 1e-4, "rule": "ternary-vi"}}
    np.testing.assert_array_equal(derive.ternary_map(logits), deployable_mlp((arrays, meta)).weights[0])


def test_vote_and_sum_scores():
    labels = np.array([[0, 2, 1, 3], [2, 2, 1, 0], [2, 1, 0, 1]])
    np.testing.assert_array_equal(derive.vote(labels, 4), [2, 2, 1, 0])   # last column: 3-way tie -> 0
    scores = np.array([[[1, 5], [3, 3]], [[4, 1], [0, 0]]], np.int32)
    total, lab = derive.sum_scores(scores)
    np.testing.assert_array_equal(total, [[5, 6], [3, 3]])
    np.testing.assert_array_equal(lab, [1, 0])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        derive.vote(labels, 3)


# ---------------------------------------------------------------------------------------------- converters
def _mlp_posterior(rng, sizes, *, kind="lam", inp="binary", activation="sign", rule="bayesbinn"):
    arrays = {}
    for i in range(len(sizes) - 1):
        shape = (sizes[i + 1], sizes[i])
        if kind == "lam":
            arrays[f"layer{i}.lam"] = rng.normal(size=shape).astype(np.float32)
        elif kind == "logits":
            arrays[f"layer{i}.logits"] = rng.normal(size=shape + (3,)).astype(np.float32)
        else:
            arrays[f"layer{i}.weight"] = rng.normal(size=shape).astype(np.float32)
        scale = 255.0 if (i == 0 and inp == "bitplanes") else (1.0 if (i or inp != "real") else 1 / 255)
        fan = sizes[i] * (60.0 if (i == 0 and inp != "binary") else 1.0)
        arrays[f"bn{i}.mean"] = rng.normal(size=sizes[i + 1]) * np.sqrt(fan) * scale
        arrays[f"bn{i}.var"] = rng.uniform(0.5, 2.0, size=sizes[i + 1]) * fan * scale**2
    meta = {"kind": "mlp", "config": {"sizes": list(sizes), "activation": activation, "input": inp,
                                      "threshold": 0.5, "bn_eps": 1e-4, "rule": rule}}
    return arrays, meta


@pytest.mark.parametrize("inp", ["binary", "bitplanes", "real"])
@pytest.mark.parametrize("kind", ["lam", "logits", "weight"])
def test_mlp_export_matches_the_float_network_it_was_trained_as(inp, kind):
    """Hidden signs exactly; labels wherever the float margin exceeds the output rounding bound."""
    rng = np.random.default_rng([["binary", "bitplanes", "real"].index(inp), len(kind)])
    sizes = [50, 40, 30, 6]
    arrays, meta = _mlp_posterior(rng, sizes, kind=kind, inp=inp, rule="ste" if kind == "weight" else "x")
    net = derive.mlp_network(arrays, meta)
    assert isinstance(net, MLPNetwork)
    pixels = rng.integers(0, 256, (300, sizes[0]), dtype=np.uint8)
    pixels[:, :5] = 128  # exactly at the binarisation threshold (0.5 -> pixel 128 is +1)
    truth = float_forward(net, {"x": pixels})
    dep = deployable_mlp((arrays, meta))
    # the trainer-side float64 network on its own prepared inputs
    h = prepare_inputs(pixels, inp, 0.5).astype(np.float64)
    for i, w in enumerate(dep.weights[:-1]):
        z = (h @ w.T.astype(np.float64) - dep.bn_mean[i]) / np.sqrt(dep.bn_var[i] + dep.bn_eps)
        h = np.where(z >= 0, 1.0, -1.0)
        np.testing.assert_array_equal(unpack_pm1(truth[f"h{i}"], w.shape[0]), h)
    z = dep.forward(prepare_inputs(pixels, inp, 0.5))
    top2 = np.sort(z, axis=1)[:, -2:]
    # Output fold: score = round(2^f a) y + round(2^f b), so |score / 2^f - z| <= (|y| + 1) 2^-(f+1) per class;
    # labels must agree where the float margin exceeds twice that, (K + 1) 2^-f with K the last fan-in.
    a = 1 / np.sqrt(dep.bn_var[-1] + dep.bn_eps)
    f = np.round(np.log2(np.median(np.abs(net.output[1].scale) / a)))
    safe = (top2[:, 1] - top2[:, 0]) > (sizes[-2] + 1) * 2.0**-f
    assert safe.mean() > 0.9
    np.testing.assert_array_equal(truth["label"][safe], np.argmax(z, axis=1)[safe])


def test_relu_and_real_weights_are_refused():
    rng = np.random.default_rng(1)
    arrays, meta = _mlp_posterior(rng, [10, 8, 3], activation="relu")
    with pytest.raises(ValueError, match="'relu' activations.*XNOR"):
        derive.mlp_network(arrays, meta)
    arrays, meta = _mlp_posterior(rng, [10, 8, 3], kind="weight", rule="adam")
    with pytest.raises(ValueError, match="real .*adam"):
        derive.mlp_network(arrays, meta)


def test_mlp_converter_errors_name_what_is_missing():
    rng = np.random.default_rng(2)
    arrays, meta = _mlp_posterior(rng, [10, 8, 3])
    del arrays["bn1.var"]
    with pytest.raises(ValueError, match="bn1.var"):
        derive.mlp_network(arrays, meta)
    arrays, meta = _mlp_posterior(rng, [10, 8, 3])
    meta["config"]["sizes"] = [10, 9, 3]
    with pytest.raises(ValueError, match=r"layer 0 weights have shape \(8, 10\)"):
        derive.mlp_network(arrays, meta)
    with pytest.raises(TypeError, match="Generator"):
        derive.mlp_network(*_mlp_posterior(rng, [10, 3]), mode="sample")


def test_calibration_reproduces_population_statistics():
    rng = np.random.default_rng(4)
    sizes = [30, 20, 4]
    arrays, meta = _mlp_posterior(rng, sizes)
    images = rng.integers(0, 256, (200, sizes[0]), dtype=np.uint8)
    weights = [derive.map_weights(arrays[f"layer{i}.lam"]) for i in range(2)]
    arch = Architecture(tuple(sizes), activation="sign", input="binary", threshold=0.5, bn_eps=1e-4)
    stats = population_stats([w.astype(np.float32) for w in weights], prepare_inputs(images, "binary"), arch)
    expected = derive.mlp_network(arrays, meta, bn_stats=[(st.mean, st.var) for st in stats])
    calibrated = derive.mlp_network(arrays, meta, calibration=images)
    stored = derive.mlp_network(arrays, meta)   # the posterior's own (here random) statistics
    np.testing.assert_array_equal(calibrated.hidden[0][1].t, expected.hidden[0][1].t)
    np.testing.assert_array_equal(calibrated.output[1].offset, expected.output[1].offset)
    assert not np.array_equal(calibrated.hidden[0][1].t, stored.hidden[0][1].t)


def test_rbm_network_from_posterior_binarises_like_the_trainer():
    rng = np.random.default_rng(5)
    lam = rng.normal(size=(40, 12))
    meta = {"kind": "rbm", "config": {"beta": 1.7, "threshold": 0.5}}
    net = derive.network_from_posterior(({"lam": lam}, meta), gibbs_steps=2)
    assert isinstance(net, RBMNetwork) and net.beta == 1.7 and net.gibbs_steps == 2
    assert net.input.kind == "threshold" and net.input.threshold == 128.0
    pixels = rng.integers(0, 256, (25, 40), dtype=np.uint8)
    truth = float_forward(net, {"v": pixels, "seeds": np.arange(25, dtype=np.uint32)})
    np.testing.assert_array_equal(truth["hidden_field"], binarize(pixels).astype(np.int64) @ np.where(lam >= 0, 1, -1))
    # where `lowprec train rbm` records it: meta["data"]["binarize_threshold"]
    trained = {"kind": "rbm", "config": {"beta": 1.0}, "data": {"binarize_threshold": 0.3}}
    assert derive.network_from_posterior(({"lam": lam}, trained)).input.threshold == 77.0  # ceil(76.5)
    pm1 = derive.network_from_posterior(({"lam": lam}, meta), pixels=False)
    assert pm1.input.kind == "pm1"
    with pytest.raises(ValueError, match="'lam'"):
        derive.network_from_posterior(({"w": lam}, meta))


def test_sampled_networks_and_ensembles_are_reproducible():
    rng = np.random.default_rng(6)
    source = _mlp_posterior(rng, [12, 10, 3])
    a = derive.network_from_posterior(source, mode="sample", seed=11)
    b = derive.network_from_posterior(source, mode="sample", seed=11)
    np.testing.assert_array_equal(a.layers[0].weight, b.layers[0].weight)
    ens = derive.ensemble_from_posterior(source, 3, seed=11)
    assert len(ens) == 3
    np.testing.assert_array_equal(ens[0].layers[0].weight, a.layers[0].weight)  # first draw of the same stream
    assert not np.array_equal(ens[0].layers[0].weight, ens[1].layers[0].weight)
    with pytest.raises(ValueError, match="kind 'gan'"):
        derive.network_from_posterior(({}, {"kind": "gan"}))


@pytest.mark.parametrize("rule,inp,threshold", [("bayesbinn", "binary", 0.5), ("ste", "binary", 0.02),
                                                ("ste", "real", 0.5), ("ternary-vi", "bitplanes", 0.5)])
def test_exported_trained_mlp_predicts_like_the_trainer(rule, inp, threshold, tmp_path):
    """A really trained posterior file -> ONNX -> simulator labels vs MLPClassifier.predict(mode='map')."""
    from export.onnx import build_model, save_model
    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.nn import MLPClassifier
    from targets.reference import simulate

    ds = load_dataset("sample")
    clf = MLPClassifier(hidden=(48,), activation="sign", input_encoding=inp, rule=rule, epochs=1, bn_calib=400, random_state=0,
                        threshold=threshold)
    clf.fit(ds.x_train[:400], ds.y_train[:400])
    clf.save(tmp_path / "p.npz")
    net = derive.network_from_posterior(tmp_path / "p.npz")
    save_model(build_model(net), tmp_path / "m.onnx")
    x = ds.x_test.reshape(len(ds.x_test), -1)
    labels = simulate(tmp_path / "m.onnx", {"x": x}).outputs["label"]
    pred = clf.predict(ds.x_test, mode="map")
    # The export is the exact integer form of the float64 network (test above); the trainer predicts in
    # float32, which can disagree only where a pre-activation sits within float32 rounding (~1e-7 relative) of
    # a BN threshold or two logits lie within the output fold's 2^-16 rounding: a few of 500 images at most.
    assert np.mean(labels == pred) >= 0.99
