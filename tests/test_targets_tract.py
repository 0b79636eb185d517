"""tract, a second independent ONNX runtime, runs every standard-ops export bit for bit like the reference simulator."""
from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.onnx import build_model, save_model
from lowprec_rbm.cli.main import main
from lowprec_rbm.data import load_embedded_sample
from targets.reference.target import ReferenceTarget
from targets.registry import available_targets
from targets.tract_runtime import TractTarget, inlined_if_needed
from targets.verify import make_inputs
from targets_nets import random_mlp, random_rbm

HAVE_TRACT = importlib.util.find_spec("tract") is not None
needs_tract = pytest.mark.skipif(not HAVE_TRACT, reason="tract not installed (pip install tract; x86_64 or arm64 macOS "
                                                        "wheels only)")

# K = 784 so the real Fashion-MNIST images feed every network; hidden widths not multiples of 64 (pad bits).
NETWORKS = {
    "mlp-binary-threshold-uint8": lambda r: random_mlp(r, 784, (100, 70), 10, input_kind="threshold", ternary=False),
    "mlp-ternary-threshold-float32": lambda r: random_mlp(r, 784, (90,), 10, input_kind="threshold", ternary=True,
                                                          dtype="float32", threshold=0.5),
    "mlp-binary-pm1": lambda r: random_mlp(r, 784, (65,), 10, input_kind="pm1", ternary=False),
    "mlp-ternary-pm1-no-hidden": lambda r: random_mlp(r, 784, (), 10, input_kind="pm1", ternary=True),
    "mlp-binary-bitplanes": lambda r: random_mlp(r, 784, (70, 33), 10, input_kind="bitplanes", ternary=False),
    "mlp-ternary-bitplanes": lambda r: random_mlp(r, 784, (50,), 10, input_kind="bitplanes", ternary=True),
    "rbm-pixels": lambda r: random_rbm(r, 784, 100, gibbs_steps=0, pixels=True),
    "rbm-pm1-gibbs": lambda r: random_rbm(r, 784, 70, gibbs_steps=3, pixels=False),
    "rbm-pixels-gibbs": lambda r: random_rbm(r, 784, 130, gibbs_steps=1, pixels=True),
}


@pytest.fixture(scope="module")
def images():
    return load_embedded_sample().x_test[:40]


def _assert_same(expected: dict, found: dict, what: str) -> int:
    assert list(found) == list(expected), f"{what}: outputs {list(found)} != {list(expected)}"
    for name, e in expected.items():
        f = found[name]
        assert f.dtype == e.dtype and f.shape == e.shape, f"{what} {name}: {f.dtype}{f.shape} != {e.dtype}{e.shape}"
        np.testing.assert_array_equal(f, e, err_msg=f"{what}, output {name!r}")
    return len(expected)


@needs_tract
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_standard_export_runs_bit_exactly_in_tract(kind, images, tmp_path):
    seed = list(NETWORKS).index(kind)
    net = NETWORKS[kind](np.random.default_rng(seed))
    path = save_model(build_model(net, "standard"), tmp_path / "m.onnx")
    ref = ReferenceTarget()
    program = ref.program(path)
    # one batch of random rows (10% exactly at the binarisation threshold) and one of real images
    batches = make_inputs(program, net, 40, np.random.default_rng(100 + seed), data=images, batch=40)
    assert [k for k, _ in batches] == ["random", "data"]
    tract = TractTarget()
    for what, feeds in batches:
        # at least the packed input or first fields, the last fields, scores and label (MLP; more for RBMs)
        assert _assert_same(ref.run(path, feeds), tract.run(path, feeds), f"{kind}, {what} inputs") >= 4
    # the real images really reached the network: the first layer's fields differ between images
    first = "y0" if "mlp" in kind else "hidden_field"
    assert len(np.unique(ref.run(path, batches[1][1])[first], axis=0)) > 30


@needs_tract
def test_custom_file_is_inlined_then_run(tmp_path):
    net = NETWORKS["rbm-pm1-gibbs"](np.random.default_rng(7))
    custom = save_model(build_model(net, "custom"), tmp_path / "custom.onnx")
    inlined = inlined_if_needed(custom, tmp_path)
    m = onnx.load(inlined)
    assert not m.functions and {o.domain for o in m.opset_import} == {""}
    assert all(n.domain == "" for n in m.graph.node)
    std = save_model(build_model(net, "standard"), tmp_path / "std.onnx")
    assert inlined_if_needed(std, tmp_path) == str(std)  # nothing to inline: the file itself runs
    feeds = make_inputs(ReferenceTarget().program(custom), net, 16, np.random.default_rng(1), batch=16)[0][1]
    _assert_same(ReferenceTarget().run(custom, feeds), TractTarget().run(custom, feeds), "custom file")


@needs_tract
def test_a_graph_tract_cannot_run_is_an_error_not_a_crash(tmp_path):
    # a uint64 MatMul: tract 0.23.9 panics inside its FFI (the interpreter would abort); the child process
    # turns that into a RuntimeError naming the file
    w = numpy_helper.from_array(np.arange(4, dtype=np.uint64).reshape(2, 2), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT64, ["b", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT64, ["b", 2])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    path = tmp_path / "u64.onnx"
    onnx.save(model, path)
    with pytest.raises(RuntimeError, match=r"tract could not run .*u64\.onnx \(exit status"):
        TractTarget().run(path, {"x": np.ones((3, 2), np.uint64)})


@needs_tract
def test_cli_verify_with_tract_target(tmp_path, capsys):
    net = NETWORKS["mlp-binary-pm1"](np.random.default_rng(3))
    path = save_model(build_model(net, "standard"), tmp_path / "m.onnx")
    assert main(["verify", str(path), "--inputs", "10", "--targets", "tract", "--data", "sample"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("tract: OK, 20 inputs") for line in lines), lines


def test_tract_is_registered_and_skipped_by_name_when_absent():
    ok, skipped = available_targets()
    if HAVE_TRACT:
        assert "tract" in [t.name for t in ok]
    else:
        reason = dict(skipped)["tract"]
        assert "pip install tract" in reason
