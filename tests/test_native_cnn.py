"""The native target on CNN files: every graph output equal to the reference simulator, bit for bit, on every
code path at 1 and 2 threads.

Networks: the export tests' CASES (k in {1, 3, 5}, channel counts below, at and crossing 64 -- pad bits inside
per-pixel words, where the binary conv's K' - K correction is nonzero -- pooling on and off, every input kind,
binary and ternary, bit-plane first convs) and the device test models (pad -1 and +1, C = 33, 66). The
simulator is the oracle; it is itself checked against float truth and onnxruntime in test_cnn_export.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from devices_models import device_models
from export.onnx import build_model, save_model
from export.onnx.names import output_names
from targets.native import missing_reason
from targets.reference.target import ReferenceTarget
from targets.verify import make_inputs, verify
from targets_nets import random_cnn
from test_cnn_export import CASES, _net

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

DEVICE_CNNS = [n for n in device_models() if n.startswith("cnn")]


def _paths() -> list[str]:
    from targets.native import load

    return load().paths()


def _network(name: str):
    return _net(name) if name in CASES else device_models()[name]


def _feeds(path, net, b: int, seed: int) -> dict[str, np.ndarray]:
    return make_inputs(ReferenceTarget().program(path), net, b, np.random.default_rng(seed), batch=b)[0][1]


@pytest.mark.parametrize("name", list(CASES) + DEVICE_CNNS)
def test_every_output_equals_the_simulator_on_every_path_and_thread_count(name, tmp_path):
    from targets.native.runtime import NativeModel

    net = _network(name)
    path = tmp_path / "cnn.onnx"
    save_model(build_model(net), path)
    for b in (1, 5):
        feeds = _feeds(path, net, b, seed=b)
        ref = ReferenceTarget().run(path, feeds)
        # the fields vary (otherwise the thresholds and the K' - K correction would be untested)
        assert len(np.unique(ref["y0"])) > 1 or b == 1
        for code_path in _paths():
            for threads in (1, 2):
                what = f"{name} B={b} {code_path} threads={threads}"
                got = NativeModel(path, path=code_path, threads=threads, min_work=0).run(feeds)
                assert list(got) == list(ref) == output_names(net), what
                for out in ref:
                    assert got[out].dtype == ref[out].dtype, f"{what}: {out} dtype"
                    np.testing.assert_array_equal(got[out], ref[out], err_msg=f"{what}: {out}")


@pytest.mark.parametrize("pad", [-1, 1])
@pytest.mark.parametrize("c", [1, 63, 64, 65, 130])
def test_exact_conv_rows_pad_rule_and_word_tails(pad, c, tmp_path):
    """A 5x5 kernel on a 3x3 image: most of every patch is pad, so a wrong pad word changes every field; C in
    {1, 63, 64, 65, 130} (then 7 channels in layer 1) puts the compact patch rows' pixel boundaries at every
    offset inside a word, including pixels straddling two words. Also run under the sanitizers (test_native.py)."""
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(c + pad)
    net = random_cnn(rng, (3, 3, c), ((7, 5, False), (3, 3, False)), (4,), 3, input_kind="pm1", pad=pad)
    path = tmp_path / "cnn.onnx"
    save_model(build_model(net), path)
    feeds = _feeds(path, net, 4, seed=c)
    ref = ReferenceTarget().run(path, feeds)
    got = NativeModel(path, threads=2, min_work=0).run(feeds)
    for out in ref:
        np.testing.assert_array_equal(got[out], ref[out], err_msg=f"C={c} pad={pad}: {out}")


@pytest.mark.parametrize("pad", [0, 200, 255])
def test_exact_bitplane_first_conv_pad_pixel(pad, tmp_path):
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(pad)
    net = random_cnn(rng, (4, 2, 2), ((6, 3, True),), (), 3, input_kind="bitplanes", pad=pad)
    path = tmp_path / "cnn.onnx"
    save_model(build_model(net), path)
    feeds = _feeds(path, net, 3, seed=pad)
    ref = ReferenceTarget().run(path, feeds)
    got = NativeModel(path, path="portable", threads=1).run(feeds)
    for out in ref:
        np.testing.assert_array_equal(got[out], ref[out], err_msg=f"pad pixel {pad}: {out}")


def test_subset_of_outputs_labels_and_session(tmp_path):
    import targets
    from targets.native.runtime import NativeModel

    net = _net("threshold-k3-pool-c70")
    path = tmp_path / "cnn.onnx"
    save_model(build_model(net, mode="standard"), path)
    feeds = _feeds(path, net, 6, seed=3)
    ref = ReferenceTarget().run(path, feeds)
    model = NativeModel(path, threads=2, min_work=0)
    got = model.run(feeds, ["label", "p0", "y1"])
    assert list(got) == ["label", "p0", "y1"]
    for out in got:
        np.testing.assert_array_equal(got[out], ref[out], err_msg=out)
    np.testing.assert_array_equal(model.labels(feeds["x"]), ref["label"])
    fast, slow = targets.Session(path, target="native", threads=2), targets.Session(path, target="reference")
    assert fast.kind == slow.kind == "cnn" and fast.input_names == ["x"]
    np.testing.assert_array_equal(fast.run(feeds["x"]), ref["label"])
    np.testing.assert_array_equal(slow.run(feeds["x"]), ref["label"])
    np.testing.assert_array_equal(fast.run(feeds["x"], "scores"), slow.run(feeds["x"], "scores"))
    with pytest.raises(ValueError, match="seeds apply to RBM models only"):
        fast.run(feeds["x"], seeds=np.zeros(6, np.uint32))


def test_verify_runs_native_on_a_cnn_file(tmp_path):
    path = save_model(build_model(_net("pm1-k5-k1-c130")), tmp_path / "cnn.onnx")
    rep = verify(path, ["native"], n_inputs=5)
    res = {r.name: r for r in rep.results}["native"]
    assert rep.ok and res.status == "ok", (res.status, res.reason)


@pytest.mark.parametrize("c", [1, 63, 64, 65, 130])
def test_exact_pool_fields_threshold_channel_word_tails(c, tmp_path):
    """conv -> max-pool of the int32 fields -> threshold (pool "fields"), the C of lpn_pool_fields_threshold:
    O = c output channels puts the pooled pixels' packed bits at every word boundary; thresholds of both signs,
    0, and the int32 extremes (as the device tests' _thr_extremes). Also run under the sanitizers (test_native.py)."""
    from export.network import CNNNetwork, Conv2d, Threshold
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(300 + c)
    base = random_cnn(rng, (4, 8, 3), ((c, 3, "fields"), (5, 1, "fields")), (4,), 3, input_kind="pm1")
    (conv, thr, _), rest = base.features[0], base.features[1:]
    s, t = thr.s.astype(np.int64).copy(), thr.t.astype(np.int64).copy()
    for j, (sj, tj) in enumerate([(1, -2**31), (1, 2**31 - 1), (-1, -2**31), (-1, 2**31 - 1), (0, 0)][:c]):
        s[j], t[j] = sj, tj
    net = CNNNetwork(base.input, base.image_shape, ((Conv2d(conv.weight, conv.pad), Threshold(s, t), "fields"),)
                     + rest, base.hidden, base.output)
    path = tmp_path / "cnn.onnx"
    save_model(build_model(net), path)
    feeds = _feeds(path, net, 3, seed=c)
    ref = ReferenceTarget().run(path, feeds)
    for threads in (1, 2):
        got = NativeModel(path, threads=threads, min_work=0).run(feeds)
        assert list(got) == list(ref) == output_names(net)
        for out in ref:
            np.testing.assert_array_equal(got[out], ref[out], err_msg=f"C={c} threads={threads}: {out}")
