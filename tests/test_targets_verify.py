"""targets.verify: summaries, target resolution ('all', skipped targets) and real mismatches located exactly."""
from __future__ import annotations

import numpy as np
import pytest

from export.network import MLPNetwork, Threshold
from export.onnx import build_model, save_model
from targets import base
from targets.onnx_runtimes import OnnxRuntimeTarget
from targets.verify import compare, resolve_targets, verify
from targets_nets import flip_weight_bit, random_mlp, random_rbm


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    net = random_mlp(np.random.default_rng(11), 150, (90, 40), 5, input_kind="threshold", ternary=False)
    good = d / "good.onnx"
    save_model(build_model(net), good)
    # one weight bit flipped in the *second* layer (row 7, unit 70), digest recomputed: a consistent file
    # whose weights are no longer the network's
    bad = d / "bad.onnx"
    save_model(flip_weight_bit(build_model(net), "w1", 7, 70), bad)
    return net, good, bad


def test_summary_counts_inputs_and_tensors(files):
    net, good, _ = files
    rep = verify(good, ["reference", "onnxruntime"], n_inputs=23, seed=3, batch=10)
    assert rep.ok and rep.inputs == "23 random inputs in 3 batches"
    n_out = len(build_model(net).graph.output)  # xp, y0, h0, y1, h1, y2, scores, label
    by = {r.name: r for r in rep.results}
    assert by["float"].inputs == 23 and by["float"].tensors == 3 * n_out
    assert by["reference"].tensors == 3 * 3 * n_out        # three other word widths
    assert by["onnxruntime"].tensors == 3 * n_out
    # a hand-built network carries no real-valued batch norms: that check is reported as skipped, with why
    assert by["real"].status == "skipped" and "no real-valued batch-norm" in by["real"].reason
    assert len(rep.lines()) == 4 and sum(": OK," in line for line in rep.lines()) == 3


def test_real_inputs_are_added(files):
    net, good, _ = files
    images = np.random.default_rng(0).integers(0, 256, (4, 10, 15), dtype=np.uint8)
    rep = verify(good, ["onnxruntime"], n_inputs=6, data=images, batch=6)
    assert rep.ok and rep.inputs == "6 random + 6 real inputs in 2 batches"
    with pytest.raises(ValueError, match="150 features but the data images have 28"):
        verify(good, ["onnxruntime"], n_inputs=2, data=np.zeros((2, 4, 7), np.uint8))


def test_ground_truth_of_the_original_network_finds_the_flipped_bit(files):
    net, _, bad = files
    rep = verify(bad, ["onnxruntime"], n_inputs=20, seed=1, network=net)
    assert not rep.ok
    gt = rep.results[0]
    d = gt.difference
    # xp, y0, h0 agree; the first differing layer is y1, at hidden unit 7 of layer 1
    assert gt.status == "mismatch" and d.output == "y1" and d.index[1] == 7
    assert abs(d.expected - d.found) == 2                 # one flipped ±1 weight moves a dot product by 2
    assert "MISMATCH at output 'y1'" in gt.line()
    # onnxruntime runs the same (tampered) file and agrees with the simulator on it
    assert {r.name: r for r in rep.results}["onnxruntime"].status == "ok"
    # without the original network, the file is self-consistent
    assert verify(bad, ["onnxruntime"], n_inputs=20, seed=1).ok


class _OriginalFile(OnnxRuntimeTarget):
    """onnxruntime on a fixed file whatever it is asked to run (a device holding an older flash image)."""

    name = "stale-device"

    def __init__(self, path):
        super().__init__()
        self.path = path

    def run(self, model_path, feeds):
        return super().run(self.path, feeds)


def test_target_difference_reports_layer_index_and_values(files):
    net, good, bad = files
    base.register("stale-device", lambda: _OriginalFile(good))
    try:
        rep = verify(bad, ["stale-device"], n_inputs=12, seed=2, ground_truth=False)
    finally:
        base._REGISTRY.pop("stale-device")
    res = rep.results[0]
    assert res.status == "mismatch" and res.difference.output == "y1" and res.difference.index[1] == 7
    line = res.line()
    assert line.startswith("stale-device: MISMATCH at output 'y1', batch 0")
    assert f"{res.difference.expected} != stale-device {res.difference.found}" in line


def test_packed_difference_names_the_unit(files, tmp_path):
    net, _, _ = files
    dense, thr = net.hidden[0]
    s, t = thr.s.copy(), thr.t.copy()
    s[70], t[70] = 1, 151                       # unit 70 of h0 can never be +1 (|y0| <= 150)
    changed = MLPNetwork(net.input, ((dense, Threshold(s, t)),) + net.hidden[1:], net.output)
    path = tmp_path / "c.onnx"
    save_model(build_model(changed), path)
    rep = verify(path, ["onnxruntime"], n_inputs=40, seed=4, network=net)
    d = rep.results[0].difference
    # y0 is unchanged; h0 differs in word 1 (units 64..127), first at unit 70: the file says -1, the original +1
    assert d.output == "h0" and d.index[1] == 1
    assert "(unit 70: -1 vs +1)" in rep.results[0].line()


def test_all_means_every_registered_target_with_skips(files):
    _, good, _ = files

    class Missing(base.Target):
        name, description = "qemu-board", "an emulated board"

        def availability(self):
            return "qemu-system-arm not found (apt-get install qemu-system-arm)"

        def run(self, model_path, feeds):  # pragma: no cover - never called
            raise AssertionError

    base.register("qemu-board", Missing)
    try:
        resolved = resolve_targets(["all"])
        names = [n for n, _, _ in resolved]
        assert names[:3] == ["reference", "onnxruntime", "onnx-reference"] and "qemu-board" in names
        rep = verify(good, ["all"], n_inputs=4, seed=0)
    finally:
        base._REGISTRY.pop("qemu-board")
    lines = rep.lines()
    assert rep.ok
    assert "qemu-board: skipped (qemu-system-arm not found (apt-get install qemu-system-arm))" in lines
    with pytest.raises(ValueError, match="unknown target 'nope'"):
        resolve_targets(["nope"])


def test_rbm_gibbs_verify_with_every_builtin(tmp_path):
    net = random_rbm(np.random.default_rng(2), 70, 33, gibbs_steps=3, pixels=True)
    for mode in ("custom", "standard"):
        path = tmp_path / f"{mode}.onnx"
        save_model(build_model(net, mode=mode), path)
        rep = verify(path, ["reference", "onnxruntime", "onnx-reference"], n_inputs=9, seed=5, word_bits=8)
        assert rep.ok, rep.lines()
        assert rep.results[0].tensors > 0


def test_compare_reports_dtype_shape_and_missing():
    a = {"y": np.zeros((2, 3), np.int32)}
    assert compare(a, {"y": np.zeros((2, 3), np.int64)}, ["y"]).what == "dtype"
    assert compare(a, {"y": np.zeros((2, 4), np.int32)}, ["y"]).what == "shape"
    assert compare(a, {}, ["y"]).what == "missing"
    assert compare(a, {"y": np.zeros((2, 3), np.int32)}, ["y"]) is None
    with pytest.raises(ValueError, match="word_bits"):
        verify("unused.onnx", word_bits=12)
