"""The integer output scores and the label bound, and verify's independent real-valued ground truth.

The regression behind these tests: a network with no hidden layer and bit-plane input (fan-in bound
255 * 784) exported with int32 scores kept an output scale of only 10-22, and 8 of 500 test labels differed
from the trained network while verify said OK (its float truth used the export's own rounded integers).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnxruntime as ort
import pytest

from export.network import (SCORE_LIMIT, Dense, InputSpec, MLPNetwork, RealBatchNorm, fold_output_batchnorm,
                            label_tie_bound)
from export.onnx import build_model, load_artifact, network_from_onnx, save_model
from lowprec_rbm.cli.main import main
from lowprec_rbm.data import load_dataset
from lowprec_rbm.nn import deployable_mlp
from targets.verify import verify
from targets_nets import flip_weight_bit


def _real_bn(rng, n, fan):
    return RealBatchNorm(rng.normal(size=n) * np.sqrt(fan), rng.uniform(0.2, 3.0, size=n) * fan, 1e-4)


@pytest.mark.parametrize("k", [1, 10, 784, 255 * 784])
def test_fold_error_bound_holds_exactly(k):
    """|S_c - 2^f z_c| <= (|y_c| + 1) / 2, checked in exact rational arithmetic on the float64 a, b."""
    rng = np.random.default_rng(k)
    bn = _real_bn(rng, 12, k)
    aff = fold_output_batchnorm(bn.mean, bn.var, bn.eps, k=k)
    assert int(np.max(np.abs(aff.scale))) * k + int(np.max(np.abs(aff.offset))) <= SCORE_LIMIT
    # f is maximal: one more fractional bit would break the limit (the scale is as fine as int64 with
    # ensemble headroom allows)
    assert fold_output_batchnorm(bn.mean, bn.var, bn.eps, k=k, limit=SCORE_LIMIT // 2).frac_bits == aff.frac_bits - 1
    a, b = bn.affine()
    p = Fraction(2) ** aff.frac_bits
    ys = [-k, -k + 1, 0, k - 1, k] + [int(v) for v in rng.integers(-k, k + 1, 40)]
    for c in range(12):
        fa = Fraction(float(a[c]))
        fb = Fraction(float(bn.beta[c])) - Fraction(float(a[c])) * Fraction(float(bn.mean[c]))
        for y in ys:
            s = int(aff.scale[c]) * y + int(aff.offset[c])
            assert abs(s - p * (fa * y + fb)) <= Fraction(abs(y) + 1, 2)


def test_labels_equal_real_argmax_beyond_the_tie_bound():
    """Random no-hidden bit-plane networks: the integer argmax is the real argmax wherever the top gap > δ."""
    rng = np.random.default_rng(7)
    for trial in range(5):
        k, c = 784, 10
        w = rng.choice(np.array([-1, 1], np.int8), (c, k))
        bn = _real_bn(rng, c, 255**2 * k / 4)
        aff = fold_output_batchnorm(bn.mean, bn.var, bn.eps, k=255 * k)
        net = MLPNetwork(InputSpec("bitplanes", k), (), (Dense(w), aff), real_bn=(bn,))
        delta = label_tie_bound(net)
        assert delta < 1e-8
        x = rng.integers(0, 256, (2000, k), dtype=np.uint8)
        sess = ort.InferenceSession(build_model(net).SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(["label"], {"x": x})[0]
        z = bn(x.astype(np.float64) @ w.T.astype(np.float64))
        top = np.sort(z, axis=1)
        clear = top[:, -1] - top[:, -2] > 2 * delta
        assert clear.sum() >= 1990  # near-ties within 2e-8 are essentially absent: the check compares labels
        np.testing.assert_array_equal(got[clear], np.argmax(z, axis=1)[clear])


def _train_no_hidden(tmp_path):
    post = tmp_path / "h0.npz"
    assert main(["train", "mlp", "--data", "sample", "--epochs", "1", "--activation", "sign", "--input",
                 "bitplanes", "--hidden", "", "--quiet", "-o", str(post)]) == 0
    return post


@pytest.fixture(scope="module")
def no_hidden(tmp_path_factory):
    d = tmp_path_factory.mktemp("h0")
    post = _train_no_hidden(d)
    onnx_path = d / "h0.onnx"
    assert main(["export", str(post), "-o", str(onnx_path), "--quiet"]) == 0
    return post, onnx_path


def test_no_hidden_layer_export_predicts_like_the_trainer(no_hidden):
    post, onnx_path = no_hidden
    x = load_dataset("sample").x_test.reshape(500, -1)
    dep = deployable_mlp(post)
    z = dep.forward(x.astype(np.float64))  # the trainer's own deployable network, real batch norm
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["label"], {"x": x})[0]
    np.testing.assert_array_equal(got, np.argmax(z, axis=1))


def test_verify_catches_a_too_coarse_output_scale(no_hidden, tmp_path):
    """The old int32 scale (limit 2^31) on the same network: the real-valued check names a wrong label."""
    _, onnx_path = no_hidden
    net = network_from_onnx(load_artifact(onnx_path))
    bn = net.real_bn[-1]
    # the int32 exporter's scale for this network was 10-22: a limit 2^8 times below int32 gives that
    coarse = fold_output_batchnorm(bn.mean, bn.var, bn.eps, k=net.output_field_bound, limit=2**23)
    assert 5 <= np.max(np.abs(coarse.scale)) <= 40
    bad = tmp_path / "coarse.onnx"
    save_model(build_model(MLPNetwork(net.input, (), (net.output[0], coarse), net.meta, net.real_bn)), bad)
    images = load_dataset("sample").x_test
    rep = verify(bad, ["onnxruntime"], n_inputs=500, data=images, batch=250)
    by = {r.name: r for r in rep.results}
    assert by["float"].status == "ok"  # the integer computation is self-consistent ...
    assert by["real"].status == "mismatch" and "label" in by["real"].difference  # ... but not the trained net
    assert not rep.ok
    good = verify(onnx_path, ["onnxruntime"], n_inputs=500, data=images, batch=250)
    assert good.ok and {r.name: r for r in good.results}["real"].status == "ok"


def test_verify_ground_truth_posterior_names_a_flipped_weight(no_hidden, tmp_path, capsys):
    post, onnx_path = no_hidden
    assert main(["verify", str(onnx_path), "--ground-truth", str(post), "--inputs", "20"]) == 0
    capsys.readouterr()
    model = load_artifact(onnx_path)
    bad = tmp_path / "flipped.onnx"
    save_model(flip_weight_bit(model, "w0", 3, 100), bad)
    assert main(["verify", str(bad), "--ground-truth", str(post), "--inputs", "20"]) == 1
    out = capsys.readouterr().out
    assert "layer 0 weight [3, 100]" in out and "1 weight differ" in out


def test_verify_ground_truth_posterior_of_a_sampled_ensemble_member(tmp_path, capsys):
    from test_cli_export_verify import _mlp_posterior

    post = _mlp_posterior(tmp_path / "p.npz", np.random.default_rng(3), sizes=(30, 12, 4))
    assert main(["export", str(post), "-o", str(tmp_path / "e.onnx"), "--mode", "sample", "--samples", "3",
                 "--seed", "5", "--quiet"]) == 0
    for i in range(3):
        assert main(["verify", str(tmp_path / f"e-{i}.onnx"), "--ground-truth", str(post), "--inputs", "8"]) == 0
    # member 1 checked against member 2's derivation would differ: the sample index is part of the record
    m1 = network_from_onnx(load_artifact(tmp_path / "e-1.onnx"))
    m2 = network_from_onnx(load_artifact(tmp_path / "e-2.onnx"))
    assert m1.meta["sample_index"] == 1 and not np.array_equal(m1.layers[0].weight, m2.layers[0].weight)
