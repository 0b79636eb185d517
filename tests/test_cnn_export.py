"""Convolutional networks (issue 12, export side): CNNNetwork validation, ONNX export in both modes, the
reference simulator's conv kernels, and every Python-side target bit-exact against the simulator, which is held
to the float ±1 ground truth and the real-valued batch norms. Pad semantics checked at the image border."""
from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest

from export.network import (CNNNetwork, Conv2d, Dense, InputSpec, OutputAffine, RealBatchNorm, Threshold,
                            first_difference, fold_batchnorm, fold_output_batchnorm)
from export.onnx import build_model, network_from_onnx, output_names, save_model
from targets.ground_truth import conv_same, float_forward, real_check
from targets.onnx_runtimes import OnnxReferenceTarget, OnnxRuntimeTarget
from targets.reference.target import ReferenceTarget
from targets.verify import make_inputs, verify
from targets_nets import random_cnn

HAVE_TRACT = importlib.util.find_spec("tract") is not None

# (image, conv blocks (out, k, pool), dense hidden, input kind, ternary): every odd k in {1, 3, 5}, channel
# counts below, at, and crossing 64 (pad bits inside per-pixel words), pooling on and off, all input kinds.
CASES = {
    "threshold-k3-pool-c70": ((8, 6, 3), ((70, 3, True), (5, 5, False)), (20,), "threshold", False),
    "pm1-k5-k1-c130": ((6, 6, 2), ((9, 5, False), (130, 1, True)), (), "pm1", False),
    "bitplanes-k3-c64-pool": ((8, 8, 1), ((64, 3, True), (65, 3, True)), (17,), "bitplanes", False),
    "threshold-ternary-k1-k3": ((4, 6, 5), ((66, 1, False), (7, 3, True)), (9,), "threshold", True),
    "bitplanes-ternary-k5": ((6, 4, 3), ((12, 5, True),), (), "bitplanes", True),
    # the published order conv -> max-pool -> BN -> sign (pool "fields": max of int32 fields, then threshold),
    # mixed with the other order, threshold signs -1/0/+1, binary, ternary and bit-plane first convs
    "threshold-fields-then-bits-c70": ((8, 8, 3), ((70, 3, "fields"), (5, 3, "bits")), (20,), "threshold", False),
    "bitplanes-ternary-fields": ((8, 8, 1), ((12, 3, "fields"), (66, 1, "fields")), (7,), "bitplanes", True),
    "bitplanes-binary-fields-k5": ((6, 4, 2), ((10, 5, "fields"),), (), "bitplanes", False),
}


def _net(name: str) -> CNNNetwork:
    image, convs, hidden, kind, ternary = CASES[name]
    return random_cnn(np.random.default_rng(list(CASES).index(name)), image, convs, hidden, 6,
                      input_kind=kind, ternary=ternary)


def _targets():
    out = [("onnxruntime", OnnxRuntimeTarget()), ("onnx-reference", OnnxReferenceTarget())]
    if HAVE_TRACT:
        from targets.tract_runtime import TractTarget

        out.append(("tract", TractTarget()))
    return out


@pytest.mark.parametrize("mode", ["custom", "standard"])
@pytest.mark.parametrize("name", list(CASES))
def test_every_target_equals_the_simulator_which_equals_float_truth(name, mode, tmp_path):
    net = _net(name)
    path = save_model(build_model(net, mode), tmp_path / "cnn.onnx")
    ref = ReferenceTarget()
    batches = make_inputs(ref.program(path), net, 9, np.random.default_rng(5), batch=9)
    feeds = batches[0][1]
    expected = ref.run(path, feeds)
    assert list(expected) == output_names(net)
    truth = float_forward(net, feeds)
    for out in expected:
        np.testing.assert_array_equal(expected[out], truth[out], err_msg=f"simulator vs float truth, {out}")
    # the conv fields are not constant: both bit values occur in every conv layer's output
    for i in range(len(net.features)):
        assert len(np.unique(expected[f"y{i}"])) > 3
    for w in (8, 16, 32):
        got = ReferenceTarget(w).run(path, feeds)
        for out in expected:
            np.testing.assert_array_equal(got[out], expected[out], err_msg=f"{w}-bit words, {out}")
    for tname, target in _targets():
        got = target.run(path, feeds)
        for out in expected:
            assert got[out].dtype == expected[out].dtype, (tname, out)
            np.testing.assert_array_equal(got[out], expected[out], err_msg=f"{tname}, {out}")


def test_verify_reports_every_target_ok_on_a_cnn_file(tmp_path):
    net = _net("threshold-k3-pool-c70")
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    rep = verify(path, ["reference", "onnxruntime", "onnx-reference"] + (["tract"] if HAVE_TRACT else []),
                 n_inputs=12, seed=2)
    assert rep.ok, rep.lines()
    by = {r.name: r for r in rep.results}
    assert by["float"].status == "ok" and by["float"].inputs == 12
    assert all(by[t].status == "ok" for t in ("reference", "onnxruntime", "onnx-reference"))


def _corner_net(kind: str, pad: int, c: int = 70) -> CNNNetwork:
    """One 3x3 conv with all weights +1 over a 4x4xC image, then a 1-unit dense layer."""
    spec = InputSpec(kind, 16 * c, dtype="int8" if kind == "pm1" else "uint8")
    conv = Conv2d(np.ones((2, 3, 3, c), np.int8), pad)
    thr = Threshold(np.ones(2, np.int8), np.zeros(2, np.int32))
    return CNNNetwork(spec, (4, 4, c), ((conv, thr, False),), (),
                      (Dense(np.ones((3, 32), np.int8)), OutputAffine.identity(3)))


@pytest.mark.parametrize("pad", [1, -1])
def test_pad_value_at_the_corner_pm1(pad, tmp_path):
    """All inputs -1, all weights +1: a corner pixel sees 4 image positions and 5 padded ones, an edge pixel 6
    and 3, an inner pixel 9 and 0, so y = C (5 pad - 4), C (3 pad - 6), -9 C by the definition."""
    c = 70
    net = _corner_net("pm1", pad, c)
    x = -np.ones((1, 16 * c), np.int8)
    want = np.array([[5 * pad - 4, 3 * pad - 6, 3 * pad - 6, 5 * pad - 4],
                     [3 * pad - 6, -9, -9, 3 * pad - 6],
                     [3 * pad - 6, -9, -9, 3 * pad - 6],
                     [5 * pad - 4, 3 * pad - 6, 3 * pad - 6, 5 * pad - 4]]) * c
    for mode in ("custom", "standard"):
        path = save_model(build_model(net, mode), tmp_path / f"{mode}.onnx")
        for t in [ReferenceTarget(8), ReferenceTarget(64)] + [t for _, t in _targets()]:
            y = t.run(path, {"x": x})["y0"]
            np.testing.assert_array_equal(y[0, :, :, 0], want, err_msg=f"{type(t).__name__} {mode}")
            np.testing.assert_array_equal(y[0, :, :, 1], want)


@pytest.mark.parametrize("pad", [0, 200])
def test_pad_pixel_value_at_the_corner_bitplanes(pad, tmp_path):
    """Bit-plane first conv: every pixel 255, weights +1: corner y = C (4·255 + 5·pad), inner 9·255·C."""
    c = 3
    net = _corner_net("bitplanes", pad, c)
    x = np.full((1, 16 * c), 255, np.uint8)
    path = save_model(build_model(net, "custom"), tmp_path / "bp.onnx")
    for t in [ReferenceTarget(16)] + [t for _, t in _targets()]:
        y = t.run(path, {"x": x})["y0"][0, :, :, 0]
        assert y[0, 0] == c * (4 * 255 + 5 * pad) and y[0, 3] == y[3, 3] == y[0, 0]
        assert y[0, 1] == c * (6 * 255 + 3 * pad) and y[1, 1] == 9 * 255 * c


def test_corner_of_a_random_layer_by_explicit_sum(tmp_path):
    """A random 5x5 layer with pad -1: the simulator's corner value equals the sum over the window written out
    term by term (positions outside the image taking -1)."""
    rng = np.random.default_rng(3)
    net = random_cnn(rng, (5, 5, 66), ((4, 5, False),), (), 2, input_kind="pm1", pad=-1)
    x = rng.choice(np.array([-1, 1], np.int8), (2, 5 * 5 * 66))
    path = save_model(build_model(net), tmp_path / "c.onnx")
    y = ReferenceTarget(32).run(path, {"x": x})["y0"]
    img = x.reshape(2, 5, 5, 66).astype(np.int64)
    w = net.features[0][0].weight.astype(np.int64)
    for b in range(2):
        for o in range(4):
            total = 0
            for di in range(5):
                for dj in range(5):
                    i, j = di - 2, dj - 2      # output pixel (0, 0): window rows/cols -2..2
                    v = img[b, i, j] if 0 <= i < 5 and 0 <= j < 5 else -np.ones(66, np.int64)
                    total += int(v @ w[o, di, dj])
            assert y[b, 0, 0, o] == total


def _with_real_bn(net: CNNNetwork, rng) -> CNNNetwork:
    """Thresholds and output affine re-folded from random real batch norms (negative gammas included)."""
    feats, hidden, bns = [], [], []
    bounds = net.conv_field_bounds() + [d.shape[1] for d, _ in net.hidden]
    for (conv, thr, pool), k in zip(net.features, bounds):
        o = conv.out_channels
        bn = RealBatchNorm(thr.t * np.where(thr.s == 0, 1, thr.s) + rng.uniform(-0.5, 0.5, o),
                           rng.uniform(1, 50, o), 1e-5, rng.choice([-1.0, 1.0], o) * rng.uniform(0.5, 2, o),
                           rng.uniform(-1, 1, o))
        feats.append((conv, fold_batchnorm(bn.mean, bn.var, bn.eps, bn.gamma, bn.beta, k=k), pool))
        bns.append(bn)
    for (d, thr), k in zip(net.hidden, bounds[len(net.features):]):
        n = d.shape[0]
        bn = RealBatchNorm(rng.uniform(-3, 3, n), rng.uniform(1, 9, n), 1e-5)
        hidden.append((d, fold_batchnorm(bn.mean, bn.var, bn.eps, k=k)))
        bns.append(bn)
    d, _ = net.output
    bn = RealBatchNorm(rng.uniform(-3, 3, d.shape[0]), rng.uniform(1, 9, d.shape[0]), 1e-5,
                       rng.uniform(0.5, 2, d.shape[0]), rng.uniform(-1, 1, d.shape[0]))
    aff = fold_output_batchnorm(bn.mean, bn.var, bn.eps, bn.gamma, bn.beta, k=net.output_field_bound)
    return CNNNetwork(net.input, net.image_shape, tuple(feats), tuple(hidden), (d, aff), net.meta,
                      tuple(bns + [bn]))


def test_real_batch_norms_check_a_cnn_and_catch_a_wrong_threshold(tmp_path):
    rng = np.random.default_rng(9)
    net = _with_real_bn(_net("threshold-k3-pool-c70"), rng)
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    rep = verify(path, ["onnxruntime"], n_inputs=10, seed=1)
    by = {r.name: r for r in rep.results}
    assert rep.ok and by["real"].status == "ok" and by["real"].inputs == 10, rep.lines()
    # a conv threshold moved by one from the fold: the real batch norm disagrees at some pixel
    conv, thr, pool = net.features[1]
    y = float_forward(net, {"x": make_inputs(ReferenceTarget().program(path), net, 10, np.random.default_rng(1),
                                             batch=10)[0][1]["x"]})["y1"]
    # move the threshold of the channel whose fields most often sit exactly at it
    hits = [(np.sum(thr.s[c] * y[..., c] == thr.t[c]), c) for c in range(conv.out_channels) if thr.s[c] != 0]
    c = max(hits)[1]
    t = thr.t.copy()
    t[c] += 1
    bad_net = CNNNetwork(net.input, net.image_shape, (net.features[0], (conv, Threshold(thr.s, t), pool)),
                         net.hidden, net.output, net.meta, net.real_bn)
    x = make_inputs(ReferenceTarget().program(path), net, 10, np.random.default_rng(1), batch=10)[0][1]["x"]
    outs = float_forward(bad_net, {"x": x})
    msg, _ = real_check(net, x, outs)
    assert max(hits)[0] > 0 and msg is not None and msg.startswith("conv layer 1") and f"channel {c}" in msg


@pytest.mark.parametrize("mode", ["custom", "standard"])
def test_network_round_trips_through_the_file(mode):
    net = _with_real_bn(_net("threshold-ternary-k1-k3"), np.random.default_rng(4))
    model = build_model(net, mode)
    back = network_from_onnx(model)
    assert isinstance(back, CNNNetwork) and first_difference(net, back) is None
    assert back.real_bn is not None and np.array_equal(back.real_bn[0].mean, net.real_bn[0].mean)
    assert [(c.pad, p) for c, _, p in back.features] == [(c.pad, p) for c, _, p in net.features]
    # the pad value is written into the node
    if mode == "custom":
        conv = [n for n in model.graph.node if n.op_type == "TernaryPopcountConv"][0]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute}
        assert attrs == {"C": 5, "kernel": 1, "pad": net.features[0][0].pad}


def test_first_difference_names_conv_weights_pads_and_pools():
    net = _net("pm1-k5-k1-c130")
    (c0, t0, p0), rest = net.features[0], net.features[1:]
    w = c0.weight.copy()
    w[3, 1, 4, 1] *= -1
    other = CNNNetwork(net.input, net.image_shape, ((Conv2d(w, c0.pad), t0, p0),) + rest, net.hidden, net.output)
    assert first_difference(net, other).startswith("layer 0 weight [3, 1, 4, 1]:")
    other = CNNNetwork(net.input, net.image_shape, ((Conv2d(c0.weight, -c0.pad), t0, p0),) + rest, net.hidden,
                       net.output)
    assert first_difference(net, other).startswith("layer 0 pad value:")
    assert first_difference(_tiny(), _tiny(image=(2, 8, 2))) == "image shape: first (4, 4, 2), second (2, 8, 2)"


def _tiny(**kw):
    c = kw.pop("c", 2)
    spec = kw.pop("spec", InputSpec("pm1", 4 * 4 * c, dtype="int8"))
    conv = kw.pop("conv", Conv2d(np.ones((3, 3, 3, c), np.int8), 1))
    pool = kw.pop("pool", True)
    flat = 12 if pool else 48
    dense = kw.pop("dense", Dense(np.ones((2, flat), np.int8)))
    return CNNNetwork(spec, kw.pop("image", (4, 4, c)), ((conv, Threshold(np.ones(3, int), np.zeros(3, int)), pool),), (),
                      (dense, OutputAffine.identity(2)), **kw)


def test_invalid_networks_are_refused_with_what_was_expected():
    _tiny()  # the valid baseline
    with pytest.raises(ValueError, match="odd k"):
        Conv2d(np.ones((3, 2, 2, 2), np.int8))
    with pytest.raises(ValueError, match=r"expects 5 input channels but receives 2"):
        _tiny(conv=Conv2d(np.ones((3, 3, 3, 5), np.int8)))
    with pytest.raises(ValueError, match="must pad with -1 or \\+1, got pad=0"):
        _tiny(conv=Conv2d(np.ones((3, 3, 3, 2), np.int8), 0))
    with pytest.raises(ValueError, match="pools 2x2 but its output is 3x4"):
        _tiny(image=(3, 4, 2), spec=InputSpec("pm1", 24, dtype="int8"))
    with pytest.raises(ValueError, match=r"expects 48 inputs but receives 12 \(flattened 2x2x3\)"):
        _tiny(dense=Dense(np.ones((2, 48), np.int8)))
    with pytest.raises(ValueError, match="input size 33 != H\\*W\\*C = 32"):
        _tiny(spec=InputSpec("pm1", 33, dtype="int8"))
    with pytest.raises(TypeError, match="pool must be a bool"):
        CNNNetwork(InputSpec("pm1", 32, dtype="int8"), (4, 4, 2),
                   ((Conv2d(np.ones((3, 3, 3, 2), np.int8)), Threshold(np.ones(3, int), np.zeros(3, int)), 1),), (),
                   (Dense(np.ones((2, 12), np.int8)), OutputAffine.identity(2)))
    with pytest.raises(ValueError, match="real_bn must hold one RealBatchNorm per layer \\(2\\)"):
        _tiny(real_bn=(RealBatchNorm(np.zeros(3), np.ones(3), 1e-5),))
    with pytest.raises(ValueError, match="meta\\['classes'\\] must list 2 distinct"):
        _tiny(meta={"classes": [1, 1]})
    with pytest.raises(ValueError, match="at least one conv layer"):
        CNNNetwork(InputSpec("pm1", 4, dtype="int8"), (2, 2, 1), (), (), (Dense(np.ones((2, 4), np.int8)),
                                                                          OutputAffine.identity(2)))


def test_conv_beyond_float32_exactness_is_refused_by_the_builder():
    # bit-plane first conv with 5x5x3000 pixels: 255 * 75000 > 2^24
    c = 3000
    net = CNNNetwork(InputSpec("bitplanes", 2 * 2 * c), (2, 2, c),
                     ((Conv2d(np.ones((1, 5, 5, c), np.int8), 0), Threshold(np.ones(1, int), np.zeros(1, int)), False),), (),
                     (Dense(np.ones((2, 4), np.int8)), OutputAffine.identity(2)))
    with pytest.raises(ValueError, match="conv layer 0 fields can reach 19125000, beyond 2\\^24"):
        build_model(net)


def test_conv_ground_truth_helper_matches_a_direct_definition():
    """conv_same (the float truth's conv) against np.pad + explicit window sums on a small case."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4, 3))
    w = rng.choice([-1, 0, 1], (2, 3, 3, 3))
    y = conv_same(x, w, 0.5)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=0.5)
    want = np.array([[[[np.sum(xp[b, i:i + 3, j:j + 3] * w[o]) for o in range(2)] for j in range(4)]
                      for i in range(5)] for b in range(2)])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)   # float sums of 27 products, different order


def test_conv_costs_follow_qonnx_conventions():
    """MACs of a conv layer = H·W·O·k·k·C (qonnx), weights O·k·k·C, outputs H·W·O; the bit-plane first layer
    counts as UINT8 x BIPOLAR (8-bit BOPs); word ops count k·k pixel groups of ceil(C/w) words."""
    from targets.measure.costs import memory_report, op_counts

    net = random_cnn(np.random.default_rng(0), (8, 8, 3), ((70, 3, True), (5, 5, False)), (20,), 4,
                     input_kind="bitplanes")
    ops = op_counts(net, 32)
    conv0, conv1, d2, d3 = ops["layers"]
    assert (conv0["macs"], conv0["weight_elems"], conv0["output_elems"]) == (8 * 8 * 70 * 27, 70 * 27, 8 * 8 * 70)
    assert conv0["op_mac_UINT8_BIPOLAR"] == conv0["macs"] and conv0["bops"] == 8 * conv0["macs"]
    # conv1 reads the pooled 4x4x70 map: per output row 25 pixel groups of ceil(70/32) = 3 words
    assert conv1["macs"] == 4 * 4 * 5 * 25 * 70 and conv1["word_ops"]["xor"] == 4 * 4 * 5 * 25 * 3
    assert (d2["n_in"], d3["n_in"]) == (4 * 4 * 5, 20)
    assert ops["total"]["total_macs"] == sum(r["macs"] for r in ops["layers"])
    mem = memory_report(net)
    # C arrays: conv0 rows of ceil(3/32) = 1 word per (o, di, dj): 70 * 9 rows of 4 bytes
    assert mem["layers"][0]["c_bytes"]["32"] == 70 * 9 * 4 and mem["layers"][0]["elems"] == 70 * 27


def test_cli_report_on_a_cnn_file(tmp_path):
    from lowprec_rbm.cli.main import main

    net = _net("pm1-k5-k1-c130")
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    assert main(["report", str(path), "--json", str(tmp_path / "r.json")]) == 0
    import json

    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["model"]["kind"] == "cnn" and [r["name"] for r in rep["model"]["layers"]] == ["conv0", "conv1", "layer2"]
    assert rep["ops"]["layers"][1]["macs"] == 6 * 6 * 130 * 9       # 1x1 kernel over 9 channels at 6x6 (pool after)


def test_trained_cnn_posterior_exports_verifies_and_emits_c(tmp_path):
    """The whole path with the training half: lowprec train cnn (1 epoch, 200 images, bit-plane input) ->
    lowprec export (ONNX + C) -> lowprec verify on real images, the real batch norms included."""
    from lowprec_rbm.cli.main import main

    post, onnx_path, cdir = tmp_path / "cnn.npz", tmp_path / "cnn.onnx", tmp_path / "c"
    assert main(["train", "cnn", "--data", "sample", "--arch", "c6,p,c5k5,p,d10", "--epochs", "1",
                 "--input", "bitplanes", "--limit", "200", "-o", str(post)]) == 0
    assert main(["export", str(post), "-o", str(onnx_path), "--c", str(cdir)]) == 0
    assert (cdir / "lowprec_model.c").read_text().count("lp_pixel_conv_pixel(x, 28, 28, 1") == 2   # forward + predict
    net = network_from_onnx(onnx.load(onnx_path))
    assert isinstance(net, CNNNetwork) and [c.pad for c, _, _ in net.features] == [0, 1]
    from lowprec_rbm.data import load_embedded_sample

    images = load_embedded_sample().x_test[:6]
    rep = verify(onnx_path, ["reference", "onnxruntime"], n_inputs=6, data=images)
    by = {r.name: r for r in rep.results}
    assert rep.ok and by["real"].status == "ok" and by["float"].status == "ok", rep.lines()
