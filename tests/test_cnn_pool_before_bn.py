"""Training in the published order conv -> max-pool -> BN -> sign (arch token ``pf``, block key
``pool_before_bn``): the layer sequence, backward passes and the ternary-VI moment rule (Clark's Gaussian max)
against numerical gradients, and trained networks exported and run bit-exactly against the real batch norms,
their labels equal to the trainer's MAP predictions.

Gradient tolerance as in test_cnn_grad.py: h = 1e-6 central differences of O(1) smooth functions in float64 have
errors below ~1e-9, so rtol 1e-6 / atol 1e-8 fails only on a wrong derivative (the moment rule is smooth; the
erf is the exact math.erf there).
"""
from __future__ import annotations

import onnx

import numpy as np
import pytest

from lowprec_rbm.nn import CNNClassifier
from lowprec_rbm.nn.network import Architecture
from lowprec_rbm.nn.stack.base import Moments
from lowprec_rbm.nn.stack.blocks import arch_string, check_blocks, parse_arch
from lowprec_rbm.nn.stack.maxpool import MaxPool2
from test_cnn_grad import check_loss_weight_gradients, check_pfp_logit_gradients
from numgrad import close, in_place as numgrad


def test_pf_token_builds_the_published_order_and_round_trips():
    blocks = parse_arch("c4,pf,c6k5,p,d8", "bitplanes", "sign")
    assert blocks[0] == {"kind": "conv", "out": 4, "k": 3, "pool": True, "pad": 0, "pool_before_bn": True}
    assert "pool_before_bn" not in blocks[1] and blocks[1]["pool"]
    assert arch_string(blocks + [{"kind": "dense", "out": 3}]) == "c4,pf,c6k5,p,d8"
    arch = Architecture((8 * 8, 3), activation="sign", layers=tuple(blocks + [{"kind": "dense", "out": 3}]),
                        image_shape=(8, 8, 1))
    assert [l.name for l in arch.network().layers[:8]] == [
        "conv2d", "maxpool2", "batchnorm", "sign", "conv2d", "batchnorm", "sign", "maxpool2"]


@pytest.mark.parametrize("text, message", [
    ("c4,p,pf", "'pf' \\(2x2 max-pool\\) must follow a conv block, once"),
    ("pf,c4", "'pf' \\(2x2 max-pool\\) must follow a conv block, once"),
    ("c4,d8,pf", "'pf' \\(2x2 max-pool\\) must follow a conv block, once"),
    ("c4,q", "pf \\(2x2 max-pool of the conv fields"),
])
def test_bad_pf_arch_strings(text, message):
    with pytest.raises(ValueError, match=message):
        parse_arch(text, "binary", "sign")


@pytest.mark.parametrize("extra, message", [
    ({"pool_before_bn": False}, "pool_before_bn may only be true"),
    ({"pool_before_bn": True, "pool": False}, "on a block with pool true"),
    ({"pool_before_bn": 1}, "pool_before_bn may only be true"),
])
def test_bad_pool_before_bn_blocks(extra, message):
    block = {"kind": "conv", "out": 2, "k": 3, "pad": 1, "pool": True} | extra
    with pytest.raises(ValueError, match=message):
        check_blocks([block, {"kind": "dense", "out": 2}], (4, 4, 1))


def _arch(activation, pads=(0, 1)):
    blocks = ({"kind": "conv", "out": 3, "k": 3, "pad": pads[0], "pool": True, "pool_before_bn": True},
              {"kind": "conv", "out": 4, "k": 3, "pad": pads[1], "pool": True, "pool_before_bn": True},
              {"kind": "dense", "out": 5},
              {"kind": "dense", "out": 3})
    return Architecture((8 * 8 * 2, 3), activation=activation, layers=blocks, image_shape=(8, 8, 2))


def test_relu_network_pooling_before_bn_backward_matches_numerical_gradient():
    rng = np.random.default_rng(7)
    check_loss_weight_gradients(_arch("relu", pads=(0, 0)).network(), rng.standard_normal((5, 8 * 8 * 2)), rng)


@pytest.mark.parametrize("pads", [(0, 1), (1, -1)])
def test_pfp_through_gaussian_max_pool_matches_numerical_gradient(exact_erf, pads):
    """Moments through conv -> Clark max-pool of Gaussian fields -> BN -> sign, twice, then dense layers."""
    rng = np.random.default_rng(11)
    check_pfp_logit_gradients(_arch("sign", pads=pads).network(), rng.standard_normal((3, 8 * 8 * 2)), rng)


def test_gaussian_max_pool_layer_gradient_wrt_its_input_moments(exact_erf):
    rng = np.random.default_rng(12)
    mu = rng.normal(0, 1.5, (2, 4, 4, 3))
    var = rng.uniform(0.1, 2.0, (2, 4, 4, 3))
    var[0, 0, 0, 0] = 0.0                     # a deterministic unit (the ε keeps θ > 0)
    cm, cv = rng.standard_normal((2, 2, 2, 3)), rng.standard_normal((2, 2, 2, 3))
    pool = MaxPool2()

    def f():
        out, _ = pool.moments(Moments(mu, var), None)
        return np.sum(cm * out.mu) + np.sum(cv * out.var)

    _, cache = pool.moments(Moments(mu, var), None)
    g_mu, g_var = pool.moments_backward(cm, cv, cache, None)
    close(g_mu, numgrad(f, mu))
    close(g_var[var > 1e-3], numgrad(f, var)[var > 1e-3])   # a variance at 0 has no central difference


def test_clark_moments_against_monte_carlo():
    """One pair of independent Gaussians: Clark's mean and variance are exact; 200000 samples give standard
    errors of ~0.0022 σ (mean) and ~0.32 % (variance), so 0.01 σ and 2 % only fail on a wrong formula. Four
    units (the pairwise approximation, max of two non-Gaussian maxima): measured here up to 0.07 σ off in the
    mean and 23 % in the variance over 200 random channels; the bounds 0.1 σ / 30 % document that."""
    rng = np.random.default_rng(13)
    mu = rng.normal(0, 1.5, (1, 2, 2, 200))
    var = rng.uniform(0.1, 3.0, (1, 2, 2, 200))
    n = 200_000
    draws = mu[..., None] + np.sqrt(var)[..., None] * rng.standard_normal(mu.shape + (n,))
    from lowprec_rbm.nn.stack.maxpool import _max2

    m2, v2, _ = _max2(mu[0, 0, 0], var[0, 0, 0], mu[0, 0, 1], var[0, 0, 1])
    pair = np.maximum(draws[0, 0, 0], draws[0, 0, 1])
    sd = pair.std(axis=-1)
    assert np.max(np.abs(m2 - pair.mean(axis=-1)) / sd) < 0.01
    assert np.max(np.abs(v2 - pair.var(axis=-1)) / pair.var(axis=-1)) < 0.02
    out, _ = MaxPool2().moments(Moments(mu, var), None)
    four = draws.max(axis=(1, 2))[0]
    assert np.max(np.abs(out.mu[0, 0, 0] - four.mean(axis=-1)) / four.std(axis=-1)) < 0.1
    assert np.max(np.abs(out.var[0, 0, 0] - four.var(axis=-1)) / four.var(axis=-1)) < 0.3


# ------------------------------------------------------------------------------------- trained, exported, run
@pytest.fixture(scope="module")
def data():
    from lowprec_rbm.data import load_dataset

    d = load_dataset("sample")
    return d.x_train[:600], d.y_train[:600], d.x_test[:200], d.y_test[:200]


@pytest.mark.parametrize("rule, inp", [("bayesbinn", "bitplanes"), ("ternary-vi", "binary"),
                                       ("ternary-vi", "bitplanes"), ("ste", "binary")])
def test_trained_published_order_cnn_exports_exactly_and_predicts_like_the_trainer(data, rule, inp, tmp_path):
    from export.onnx import build_model, network_from_onnx, save_model
    from lowprec_rbm import derive
    from targets.native import missing_reason
    from targets.reference import simulate
    from targets.verify import verify

    x, y, xt, yt = data
    clf = CNNClassifier(arch="c6,pf,c8,pf,d16", input_encoding=inp, rule=rule, epochs=2, batch_size=50, bn_calib=300,
                        test_samples=2, random_state=3).fit(x, y)
    # it learned: chance is 10 % on these 10 balanced classes, with a standard deviation of 2.1 % over 200 images,
    # so 20 % is ~5 standard deviations above it (measured with these settings: BayesBiNN 41 %, STE 29 %,
    # ternary VI 23 % / 25.5 % for binary / bit-plane input -- ternary VI is as slow in the other pooling order)
    assert clf.score(xt, yt) > 0.2
    clf.save(tmp_path / "p.npz")
    back = CNNClassifier.load(tmp_path / "p.npz")
    assert back.arch_.blocks == clf.arch_.blocks and back.arch_.blocks[0]["pool_before_bn"] is True
    np.testing.assert_array_equal(back.predict(xt), clf.predict(xt))
    net = derive.network_from_posterior(tmp_path / "p.npz")
    assert [p for _, _, p in net.features] == ["fields", "fields"]
    if rule == "ternary-vi":
        assert any(c.ternary for c, _, _ in net.features)
    path = save_model(build_model(net), tmp_path / "m.onnx")
    assert [p for _, _, p in network_from_onnx(onnx.load(path)).features] == ["fields", "fields"]
    labels = simulate(path, {"x": xt.reshape(len(xt), -1)}).outputs["label"]
    # The trainer predicts in float32: it can disagree with the exact integers only where a pre-activation sits
    # within float32 rounding of a BN threshold or two logits within the output fold's rounding (as for MLPs).
    assert np.mean(labels == clf.predict(xt)) >= 0.99
    targets = ["reference", "onnxruntime", "onnx-reference", "host-c"] + (
        ["native"] if missing_reason() is None else [])
    rep = verify(path, targets, n_inputs=24, data=xt[:24])
    by = {r.name: r for r in rep.results}
    assert rep.ok and by["real"].status == "ok" and by["float"].status == "ok", rep.lines()
    assert all(by[t].status == "ok" for t in targets), rep.lines()
