"""Footprint and cost per device: flash/RAM from the size tool, exact instruction counts (qemu plugin checked
against qemu's single-step execution trace; callgrind on the host), energy = instructions x profile figure."""
from __future__ import annotations

import re

import numpy as np
import pytest

from devices_models import device_feeds, device_models
from export.onnx import build_model, save_model
from targets.devices import device_names, device_target, measure
from targets.devices.harness_io import decode_outputs, encode_inputs
from targets.devices.toolchain import run_cmd, sibling_tool, symbol_address

pytestmark = pytest.mark.device

MODELS = device_models()


def _available(name):
    tgt = device_target(name)
    reason = tgt.availability()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    if tgt.profile.emulator["counter"] == "callgrind":
        from targets.devices.toolchain import find_tool, missing
        if find_tool("valgrind") is None:
            pytest.skip(missing("valgrind", ["valgrind"]))
    return tgt


def _weight_bytes(net, word_bits: int) -> int:
    """Bytes of the const arrays the emitter writes for an MLP (packed planes, nnz, s, t, scale, offset)."""
    nw = lambda k: -(-k // word_bits)  # noqa: E731
    total = 0
    for i, d in enumerate(net.layers):
        n, k = d.shape
        planes = 2 if d.ternary else 1
        total += planes * n * nw(k) * word_bits // 8
        if d.ternary and not (i == 0 and net.input.kind == "bitplanes"):
            total += 4 * n
        if i < len(net.hidden):
            total += n * (1 + 4)
    return total + 8 * net.layers[-1].shape[0]


@pytest.mark.parametrize("name", device_names())
def test_measure_every_device(name):
    tgt = _available(name)
    net = MODELS["mlp_binary_u8"]
    m = measure(net, tgt, rows=3)
    wb = tgt.profile.word_bits
    exact = _weight_bytes(net, wb)
    # the model's const data is its arrays, plus at most alignment padding between the arrays (8 arrays)
    assert exact <= m["model_const_bytes"] <= exact + 8 * 32
    assert m["flash_bytes"] == m["model_code_bytes"] + m["model_const_bytes"]
    assert m["model_static_ram_bytes"] == 0          # no globals: every buffer is the caller's
    assert m["ram_bytes"] == m["api_scratch_bytes"] + m["max_stack_frame_bytes"]
    assert m["image_flash_bytes"] > m["flash_bytes"]
    if tgt.profile.family == "cortex-m":
        assert m["image_flash_bytes"] <= tgt.profile.memory["flash_bytes"]
        assert m["image_static_ram_bytes"] <= tgt.profile.memory["ram_bytes"]
    instr = m["instructions_per_inference"]
    assert instr > 0 and m["rows"] == 3
    if m["instructions_min"] is not None:
        assert m["instructions_min"] <= instr <= m["instructions_max"]
    assert m["energy_nJ_per_inference"] == pytest.approx(instr * m["energy_pj_per_instruction"] / 1e3, rel=1e-12)
    assert m["energy_source"] == tgt.profile.energy["source"]


@pytest.mark.parametrize("name", ["aarch64-linux", "cortex-m0"])
def test_plugin_count_equals_single_step_trace(name):
    """The plugin's per-row counts equal counting qemu's one-instruction-per-block execution trace between the
    same markers (an independent method: one trace line per executed instruction)."""
    tgt = _available(name)
    net = MODELS["rbm_pm1_gibbs2"]
    build = tgt.build(net)
    data, rows = encode_inputs(net, device_feeds(net, 3, 0))
    counts = tgt.count_instructions(build, data, rows)
    nm = sibling_tool(tgt.profile.compiler["size"], "nm")
    begin, end = (symbol_address(nm, build.exe, s) for s in ("lp_mark_begin", "lp_mark_end"))
    log = build.dir / f"trace-{name}.log"
    cmd = tgt._command(build.exe, ["-singlestep", "-d", "exec,nochain", "-D", str(log)])
    if tgt.profile.family == "cortex-m":
        rd = tgt._run_dir(build, data)
        run_cmd(cmd, what="trace", cwd=rd, timeout=300)
    else:
        run_cmd(cmd, what="trace", data=data, timeout=300)
    pcs = np.array([int(m, 16) for m in re.findall(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/", log.read_text(), re.M)])
    log.unlink()
    spans = np.flatnonzero(pcs == end) - np.flatnonzero(pcs == begin)
    assert spans.size == rows + 1
    per_row = spans[1:] - spans[0]                    # minus the empty calibration region
    assert per_row.sum() == counts["instructions_total"]
    assert per_row.min() == counts["instructions_min"] and per_row.max() == counts["instructions_max"]


def test_hardware_popcount_needs_fewer_instructions():
    """Zbb's CPOP replaces libgcc's __popcountdi2 call: the same C on the same ISA runs fewer instructions."""
    plain, zbb = _available("riscv64-linux"), _available("riscv64-zbb-linux")
    net = MODELS["mlp_binary_u8"]
    assert measure(net, zbb, rows=2)["instructions_per_inference"] < measure(net, plain, rows=2)["instructions_per_inference"]


def test_measure_from_onnx_file_and_bad_arguments(tmp_path):
    tgt = _available("host-c")
    net = MODELS["rbm_pm1_gibbs2"]
    path = tmp_path / "rbm.onnx"
    save_model(build_model(net), path)
    a = measure(str(path), "host-c", rows=2)
    b = measure(net, tgt, rows=2)
    assert a["flash_bytes"] == b["flash_bytes"] and a["instructions_per_inference"] == b["instructions_per_inference"]
    with pytest.raises(ValueError, match="rows"):
        measure(net, tgt, rows=0)
    with pytest.raises(ValueError, match="unknown device profile"):
        measure(net, "no-such-device")


def test_deployed_predict_build_measures_a_cnn_whose_verify_harness_does_not_fit():
    """Cortex-M0 (16 KiB RAM): the verify harness of this CNN keeps every conv output (2 x 16x16x32 int32
    fields = 64 KiB) and cannot link, but the deployed predict() streams rows (under 1 KiB); measure() sizes
    and counts that deployed build, and the deployed program's labels equal the float ground truth."""
    from targets.devices.device import DoesNotFit
    from targets.ground_truth import float_forward
    from targets_nets import random_cnn

    tgt = _available("cortex-m0")
    net = random_cnn(np.random.default_rng(5), (16, 16, 1), ((32, 3, False), (32, 3, True)), (24,), 4,
                     input_kind="bitplanes")
    with pytest.raises(DoesNotFit, match="verify harness"):
        tgt.build(net)
    m = measure(net, tgt, rows=2)
    assert m["build"].startswith("deployed predict()")
    assert set(m["stack_frames"]) == {"model_predict"}          # no forward() in the deployed object
    # predict() streams rows: the last conv map (pooled 8x8 pixels, 32 channels = 1 word each: 64 words, also the
    # flat row) + conv 1's input buffer of 3 rows of 16 pixels (48 words); the dense phase needs 64 + 1 words.
    # Int32s: one pixel's 32 fields (the 24 hidden fields are thresholded a word, 32, at a time).
    words = 64 + 3 * 16
    assert m["api_scratch_bytes"] == 4 * words + 4 * 32
    assert m["ram_bytes"] == m["api_scratch_bytes"] + m["max_stack_frame_bytes"] < tgt.profile.memory["ram_bytes"]
    assert m["image_static_ram_bytes"] <= tgt.profile.memory["ram_bytes"]
    assert m["instructions_per_inference"] > 0
    feeds = device_feeds(net, 5, 1)
    data, rows = encode_inputs(net, feeds)
    out = tgt._execute(tgt.build(net, predict_only=True), data, rows)
    # per row: the output layer's 4 int32 fields, the int64 label (harness_io.predict_layout); then the trailer
    found = decode_outputs(net, out, rows, where=tgt.name, predict_only=True)
    assert sorted(found) == ["label", "y3"] and len(out) == rows * (4 * 4 + 8) + 8   # y3: 2 convs, 1 hidden
    truth = float_forward(net, feeds)
    np.testing.assert_array_equal(found["label"], truth["label"])
    np.testing.assert_array_equal(found["y3"], truth["y3"])


@pytest.mark.parametrize("name", ["host-c", "cortex-m4"])
def test_deployed_mlp_build_has_no_forward_and_predicts_the_labels(name):
    from targets.ground_truth import float_forward

    tgt = _available(name)
    net = MODELS["mlp_binary_u8"]
    feeds = device_feeds(net, 4, 2)
    data, rows = encode_inputs(net, feeds)
    build = tgt.build(net, predict_only=True)
    assert set(tgt.stack_frames(build)) == {"model_predict"}
    found = decode_outputs(net, tgt._execute(build, data, rows), rows, where=tgt.name, predict_only=True)
    truth = float_forward(net, feeds)
    last = f"y{len(net.layers) - 1}"
    assert sorted(found) == ["label", last]
    np.testing.assert_array_equal(found["label"], truth["label"])
    np.testing.assert_array_equal(found[last], truth[last])
    with pytest.raises(ValueError, match="MLP and CNN"):
        tgt.build(MODELS["rbm_pm1_gibbs2"], predict_only=True)
    with pytest.raises(TypeError, match="predict_only"):
        tgt.build(net, predict_only=1)
