"""verify on a device whose RAM cannot hold the verify harness (a buffer for every layer's outputs) but can
hold the deployed predict() build: it runs that build and compares what predict() computes (the output layer's
int32 fields and the label) exactly with the reference simulator; the row says so. A model whose predict build
does not fit either stays skipped with its sizes; an RBM (no predict build) stays skipped too."""
from __future__ import annotations

import re

import numpy as np
import pytest

from devices_models import device_feeds, device_models
from export.onnx import build_model, save_model
from lowprec_rbm.cli.main import main
from targets.base import PartialOutputs
from targets.devices import device_target, load_profile
from targets.devices.device import DoesNotFit
from targets.devices.profiles import parse_profile
from targets.devices.toolchain import run_cmd
from targets.verify import verify
from targets_nets import random_cnn

pytestmark = pytest.mark.device


def _available(tgt):
    tgt = device_target(tgt) if isinstance(tgt, str) else tgt
    reason = tgt.availability()
    if reason is not None:
        pytest.skip(f"{tgt.name}: {reason}")
    return tgt


def _cnn(seed: int):
    """28x28 pixels, c8 (3x3) + pool, d16, 10 classes: its verify harness keeps conv 0's 28x28x8 int32 fields
    (24.5 KiB) and more, over Cortex-M0's 16 KiB of RAM; predict() streams rows (about 1.2 KiB)."""
    return random_cnn(np.random.default_rng(seed), (28, 28, 1), ((8, 3, True),), (16,), 10, input_kind="bitplanes")


def test_cnn_verifies_on_cortex_m0_through_the_predict_build(tmp_path):
    tgt = _available("cortex-m0")
    net = _cnn(1)
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    with pytest.raises(DoesNotFit, match="verify harness"):
        tgt.build(net)
    build, full = tgt.verify_build(net)
    assert full is not None and full.sizes["need_ram_bytes"] > full.sizes["device_ram_bytes"] == 16 * 1024
    assert set(tgt.stack_frames(build)) == {"model_predict"}        # the deployed object: no forward()

    rep = verify(path, ["cortex-m0"], n_inputs=5, batch=3)
    res = rep.results[-1]
    assert rep.ok and res.name == "cortex-m0" and res.status == "ok" and res.inputs == 5
    # two batches x (the output layer's fields y2, the label)
    assert res.tensors == 4
    kb = f"{full.sizes['need_ram_bytes'] / 1024:,.1f} kB of RAM, the device has 16.0 kB"
    assert res.note == f"outputs only: the deployed predict() build (output fields and labels); the full harness needs {kb}"
    assert res.line().endswith(f"4 tensors equal to the reference simulator (64-bit words) ({res.note})")
    row = next(line for line in rep.table() if line.startswith("cortex-m0"))
    assert row.split()[1:4] == ["OK", "5", "4"] and row.endswith(kb)

    # what the device returned are the graph outputs they claim to be, equal to the simulator's
    feeds = device_feeds(net, 4, 0)
    found = tgt.run_network(net, feeds)
    assert isinstance(found, PartialOutputs) and sorted(found) == ["label", "y2"]
    from targets.reference.interpreter import simulate
    expected = simulate(build_model(net), feeds).outputs
    for name in found:
        np.testing.assert_array_equal(found[name], expected[name])


def test_a_corrupted_output_on_the_predict_path_fails_verify(tmp_path, capsys):
    """A real failure: one bit of the output layer's weights flipped in the C the device compiles (the cached
    deployed build is rebuilt from that C), so its fields differ from the file's by 2 in that class."""
    tgt = _available("cortex-m0")
    net = _cnn(2)
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    build, full = tgt.verify_build(tgt.network(path))
    assert full is not None
    weights = build.dir / "model_weights.h"
    text = weights.read_text()
    m = re.search(r"model_w2\[\d+\] = \{\s*0x([0-9a-f]+)u", text)
    assert m is not None, "the output layer's weight array (model_w2) is not where the emitter writes it"
    flipped = f"{int(m.group(1), 16) ^ 1:0{len(m.group(1))}x}"
    try:
        weights.write_text(text[:m.start(1)] + flipped + text[m.end(1):])
        for cmd in build.commands:          # compile and link again, as build() did, from the altered C
            run_cmd(list(cmd), cwd=build.dir, what="rebuilding the altered predict build")
        rep = verify(path, ["cortex-m0"], n_inputs=3, batch=3, ground_truth=False)
        (res,) = rep.results
        assert not rep.ok and res.status == "mismatch"
        d = res.difference
        assert (d.output, d.batch, d.index) == ("y2", 0, (0, 0)) and abs(d.expected - d.found) == 2
        assert "outputs only: the deployed predict() build" in res.line()
        capsys.readouterr()
        code = main(["verify", str(path), "--targets", "cortex-m0", "--inputs", "3", "--batch", "3", "--no-float"])
        out = capsys.readouterr().out
        assert code == 1
        line = next(x for x in out.splitlines() if x.startswith("cortex-m0"))
        assert line.startswith("cortex-m0: MISMATCH at output 'y2', batch 0 (3 rows), index (0, 0): ") \
            and "outputs only: the deployed predict() build" in line, out
    finally:
        build.exe.unlink()                  # the next build() of this network compiles the emitted C again


def test_model_too_large_even_for_predict_stays_skipped():
    """A Cortex-M0 with 1 KiB of RAM: neither the verify harness nor this CNN's predict() (about 1.2 KiB of
    scratch and stack) fits; the message gives both programs' sizes."""
    raw = dict(load_profile("cortex-m0").raw)
    raw.update(name="cortex-m0-1k")
    raw["memory"] = dict(raw["memory"], ram_bytes=1024, stack_bytes=512)
    tgt = _available(device_target(parse_profile(raw, "cortex-m0-1k.toml")))
    net = _cnn(3)
    with pytest.raises(DoesNotFit, match=r"verify harness\) needs .* the device has .* of RAM .*; nor does the "
                                         r"deployed predict\(\) program: it needs [\d.]+ kB of RAM, the device "
                                         r"has 1\.0 kB"):
        tgt.run_network(net, device_feeds(net, 1, 0))


def test_rbm_has_no_predict_build_and_stays_skipped():
    raw = dict(load_profile("cortex-m0").raw)
    raw.update(name="cortex-m0-2k")
    raw["memory"] = dict(raw["memory"], ram_bytes=2048, stack_bytes=512)
    tgt = _available(device_target(parse_profile(raw, "cortex-m0-2k.toml")))
    net = device_models()["rbm_pm1_gibbs2"]
    with pytest.raises(DoesNotFit, match="verify harness") as exc:
        tgt.run_network(net, device_feeds(net, 1, 0))
    assert "predict" not in str(exc.value).split("(the model alone")[0]


def test_predict_and_session_say_which_outputs_the_predict_build_lacks(tmp_path, capsys):
    """predict needs the class scores (ensembles sum them), which the deployed build does not write: a one-line
    error naming the target and why, not a KeyError; Session gives the outputs the device has and refuses others."""
    from targets.session import Session

    _available("cortex-m0")
    net = _cnn(1)
    path = save_model(build_model(net), tmp_path / "cnn.onnx")
    capsys.readouterr()
    code = main(["predict", str(path), "--data", "sample", "--target", "cortex-m0", "--limit", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("lowprec: error: target 'cortex-m0' cannot give the class scores predict needs") \
        and "outputs only: the deployed predict() build" in err, err
    x = device_feeds(net, 3, 4)["x"]
    s = Session(str(path), "cortex-m0")
    np.testing.assert_array_equal(s.run(x), Session(str(path), "reference").run(x))
    with pytest.raises(ValueError, match=r"cannot give output\(s\) \['scores'\] .* it gives \['label', 'y2'\]"):
        s.run(x, "scores")
