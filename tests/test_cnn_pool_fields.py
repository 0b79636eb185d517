"""The published block order conv -> max-pool -> BN -> sign (pool "fields": the 2x2 max of the int32 conv fields,
then the folded threshold), beside conv -> BN -> sign -> max-pool (pool "bits", the OR of four bits).

Why a separate op: the threshold of a channel is bit = (s · y >= t). For s = +1 it is monotone non-decreasing in y,
so (max y >= t) = OR_i (y_i >= t) and pooling before or after it gives the same bit. For s = -1 (a negative BN
scale γ/σ) it is non-increasing: (−max y >= t) = AND_i (−y_i >= t), the AND of the four bits, and the OR of
them is wrong. Exported as MaxPoolFields -> ThresholdSignPixels, the threshold reads the pooled field and is
exact for either sign; the tests below check that against the real-valued batch norms (both signs present),
and that the commuted OR-of-bits differs on the negative channels (so the check can fail).

Every target's equality with the simulator is in test_cnn_export.py / test_native_cnn.py /
test_devices_targets.py (their CASES and device models include "fields" networks).
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from devices_models import device_feeds, device_models
from export.c import emit_c
from export.layout import unpack_pm1
from export.network import CNNNetwork, InputSpec, first_difference
from export.onnx import build_model, network_from_onnx, save_model
from targets.devices.toolchain import STRICT_CFLAGS
from targets.ground_truth import float_forward, real_check
from targets.measure.costs import op_counts
from targets.native import missing_reason
from targets.reference.interpreter import simulate
from targets.reference.target import ReferenceTarget
from targets.verify import make_inputs, verify
from test_cnn_export import _net, _tiny, _with_real_bn

GCC = shutil.which("gcc")


def _bits(words: np.ndarray, n: int) -> np.ndarray:
    return unpack_pm1(np.asarray(words), n) > 0


def test_fields_pool_is_exact_for_both_bn_signs_and_the_or_of_bits_is_not(tmp_path):
    net = _with_real_bn(_net("threshold-fields-then-bits-c70"), np.random.default_rng(3))
    conv, thr, pool = net.features[0]
    assert pool == "fields" and {1, -1} <= set(thr.s.tolist())
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    targets = ["reference", "onnxruntime", "onnx-reference"] + (["native"] if missing_reason() is None else [])
    rep = verify(path, targets, n_inputs=16, seed=4)
    by = {r.name: r for r in rep.results}
    assert rep.ok and by["real"].status == "ok" and by["real"].inputs == 16, rep.lines()

    x = make_inputs(ReferenceTarget().program(path), net, 16, np.random.default_rng(4), batch=16)[0][1]["x"]
    out = ReferenceTarget().run(path, {"x": x})
    o = conv.out_channels
    pooled = _bits(out["h0"], o)                                          # (B, H/2, W/2, O)
    # the same conv and thresholds in the other order: threshold every pixel, then pool
    swapped = CNNNetwork(net.input, net.image_shape, ((conv, thr, "bits"),) + net.features[1:], net.hidden,
                         net.output)
    full = _bits(float_forward(swapped, {"x": x})["h0"], o)               # (B, H, W, O), before the pool
    b, h, w, _ = full.shape
    win = full.reshape(b, h // 2, 2, w // 2, 2, o)
    any_, all_ = win.any(axis=(2, 4)), win.all(axis=(2, 4))
    pos, neg = thr.s == 1, thr.s == -1
    np.testing.assert_array_equal(pooled[..., pos], any_[..., pos])       # s = +1: max then threshold = OR
    np.testing.assert_array_equal(pooled[..., neg], all_[..., neg])       # s = -1: = AND of the four bits
    assert np.any(any_[..., neg] != all_[..., neg])                       # ... which the OR gets wrong here
    # and the real check catches a network that pools the bits where the trainer pooled the fields
    wrong = CNNNetwork(net.input, net.image_shape, swapped.features, net.hidden, net.output, net.meta, net.real_bn)
    wrong_out = float_forward(wrong, {"x": x})
    msg, _ = real_check(net, x, {**out, "h0": _or_pool_words(wrong_out["h0"], o)})
    assert msg is not None and msg.startswith("conv layer 0"), msg


def _or_pool_words(words: np.ndarray, n: int) -> np.ndarray:
    from targets.ground_truth import pack_pixels

    bits = _bits(words, n)
    b, h, w, _ = bits.shape
    return pack_pixels(bits.reshape(b, h // 2, 2, w // 2, 2, n).any(axis=(2, 4)))


@pytest.mark.parametrize("mode", ["custom", "standard"])
def test_fields_pool_round_trips_through_the_file_and_is_written_into_the_config(mode):
    net = _with_real_bn(_net("bitplanes-ternary-fields"), np.random.default_rng(5))
    model = build_model(net, mode)
    back = network_from_onnx(model)
    assert first_difference(net, back) is None
    assert [p for _, _, p in back.features] == ["fields", "fields"]
    config = json.loads({p.key: p.value for p in model.metadata_props}["lowprec.config"])
    assert [f["pool"] for f in config["features"]] == ["fields", "fields"]
    if mode == "custom":
        assert [n.output[0] for n in model.graph.node if n.op_type == "MaxPoolFields"] == ["m0", "m1"]
    other = _net("bitplanes-ternary-fields")
    conv, thr, _ = other.features[1]
    changed = CNNNetwork(other.input, other.image_shape, (other.features[0], (conv, thr, "bits")), other.hidden,
                         other.output)
    assert first_difference(other, changed) == "layer 1 max-pool: first fields, second bits"


def test_a_bits_pool_file_keeps_its_boolean_config():
    """Files written before "fields" existed record pool true/false; a "bits" pool still writes true."""
    model = build_model(_net("threshold-k3-pool-c70"))
    config = json.loads({p.key: p.value for p in model.metadata_props}["lowprec.config"])
    assert [f["pool"] for f in config["features"]] == [True, False]
    assert [p for _, _, p in network_from_onnx(model).features] == ["bits", False]


def test_pool_values_are_checked():
    assert _tiny(pool="fields").features[0][2] == "fields"
    assert _tiny(pool=True).features[0][2] == "bits"
    with pytest.raises(ValueError, match=r"features\[0\]: pool must be False, True, 'bits' or 'fields', got 'sum'"):
        _tiny(pool="sum")
    with pytest.raises(ValueError, match="pools 2x2 but its output is 3x4"):
        _tiny(pool="fields", image=(3, 4, 2), spec=InputSpec("pm1", 24, dtype="int8"))


def test_costs_of_the_two_pool_places():
    net = _net("threshold-fields-then-bits-c70")         # 8x8x3 -> conv 70 (fields pool) -> 4x4 -> conv 5 (bits)
    rep = op_counts(net, word_bits=32)
    l0, l1 = rep["layers"][:2]
    assert (l0["pool"], l0["pool_ops"], l0["thresholds"]) == ("fields", {"max_int32": 3 * 4 * 4 * 70}, 4 * 4 * 70)
    assert (l1["pool"], l1["pool_ops"], l1["thresholds"]) == ("bits", {"or": 3 * 2 * 2 * 1}, 4 * 4 * 5)
    assert l0["macs"] == 8 * 8 * 70 * 9 * 3 and l0["output_bits"] == 4 * 4 * 70
    assert rep["total"]["total_pool_ops"] == {"max_int32": 3360, "or": 12}


@pytest.mark.skipif(GCC is None, reason="gcc not found: install the Debian package gcc")
@pytest.mark.parametrize("word_bits", [32, 64])
def test_c_predict_with_its_small_scratch_equals_the_simulator(word_bits, tmp_path):
    """P_predict keeps a running max of one window pixel's fields (2 O int32s): labels of 12 images equal the
    simulator's, built with AddressSanitizer over the exact PREDICT_WORDS / PREDICT_INTS arrays."""
    models = device_models()
    names = ["cnn_u8_fields_ternary", "cnn_bitplane_fields"]
    mains, expected = [], []
    for name in names:
        net = models[name]
        emit_c(net, tmp_path, word_bits, name)
        feeds = device_feeds(net, 12, 9)
        expected += simulate(build_model(net), feeds, word_bits).outputs["label"].tolist()
        up = name.upper()
        rows = ", ".join("{" + ", ".join(map(str, r)) + "}" for r in feeds["x"])
        mains.append(f"""    {{
        static const {name}_input_t x[12][{up}_N_INPUT] = {{{rows}}};
        {name}_word_t ws[{up}_PREDICT_WORDS];
        int32_t is[{up}_PREDICT_INTS];
        int r;
        for (r = 0; r < 12; ++r)
            printf("%ld\\n", (long){name}_predict(x[r], ws, is));
    }}
""")
    includes = "".join(f'#include "{n}.h"\n' for n in names)
    (tmp_path / "main.c").write_text(f"#include <stdio.h>\n{includes}int main(void)\n{{\n{''.join(mains)}"
                                     "    return 0;\n}\n")
    exe = tmp_path / "predict"
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    srcs = [str(tmp_path / "main.c")] + [str(tmp_path / f"{n}.c") for n in names]
    subprocess.run([GCC, *STRICT_CFLAGS, "-O1", *san, "-I", str(tmp_path), *srcs, "-o", str(exe)], check=True,
                   capture_output=True)
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert [int(v) for v in got] == expected
    assert len(set(expected)) > 1
