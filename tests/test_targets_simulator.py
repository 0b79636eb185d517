"""Differential, exact: reference simulator (every word width) vs onnxruntime vs onnx.reference vs the float
±1 ground truth, on random networks of all three kinds, both export modes, K in {1, 7, 63, 64, 65, 127, 4097}
and random batch sizes. Every graph output (every intermediate) is compared with assert_array_equal."""
from __future__ import annotations

import numpy as np
import pytest

from export.onnx import build_model, output_names, save_model
from targets.ground_truth import float_forward
from targets.onnx_runtimes import OnnxReferenceTarget, OnnxRuntimeTarget
from targets.reference import ReferenceTarget, load_program
from targets.verify import make_inputs
from targets_nets import random_mlp, random_rbm

KS = [1, 7, 63, 64, 65, 127, 4097]
KINDS = ["rbm-gibbs", "mlp-binary-pixels", "mlp-binary-pm1", "mlp-binary-float", "mlp-ternary-bitplanes",
         "mlp-ternary-pixels", "mlp-binary-bitplanes"]


def _network(kind: str, k: int, rng: np.random.Generator):
    small = k >= 4097  # keep the widest case cheap for onnx.reference
    h = lambda: int(rng.integers(1, 40 if small else 140))  # noqa: E731
    if kind == "rbm-gibbs":
        return random_rbm(rng, k, h(), gibbs_steps=int(rng.integers(1, 3)), pixels=bool(rng.integers(2)))
    _, weights, inp = kind.split("-")
    input_kind = {"pixels": "threshold", "float": "threshold", "pm1": "pm1", "bitplanes": "bitplanes"}[inp]
    hidden = tuple(h() for _ in range(int(rng.integers(0, 3))))
    return random_mlp(rng, k, hidden, int(rng.integers(2, 11)), input_kind=input_kind,
                      ternary=weights == "ternary", dtype="float32" if inp == "float" else None,
                      threshold=0.25 if inp == "float" else 128.0)


def _assert_same(expected: dict, found: dict, names, what: str) -> None:
    assert set(names) <= set(found), f"{what} lacks outputs {sorted(set(names) - set(found))}"
    for name in names:
        assert found[name].dtype == expected[name].dtype, f"{what}: dtype of {name}"
        np.testing.assert_array_equal(found[name], expected[name], err_msg=f"{what}: output {name}")


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("kind", KINDS)
def test_all_targets_agree_exactly(kind, k, tmp_path):
    rng = np.random.default_rng([KS.index(k), KINDS.index(kind)])
    net = _network(kind, k, rng)
    names = output_names(net)
    for mode in ("custom", "standard"):
        path = tmp_path / f"{mode}.onnx"
        save_model(build_model(net, mode=mode), path)
        program = load_program(path)
        assert program.mode == mode and [o.name for o in program.outputs] == names
        batches = make_inputs(program, net, n_inputs=int(rng.integers(1, 30)), rng=rng)
        ort, onnx_ref = OnnxRuntimeTarget(), OnnxReferenceTarget()
        sims = {wb: ReferenceTarget(wb) for wb in (8, 16, 32, 64)}
        for _, feeds in batches:
            truth = float_forward(net, feeds)
            assert sorted(truth) == sorted(names)
            for wb, sim in sims.items():
                _assert_same(truth, sim.run(path, feeds), names, f"reference {wb}-bit ({mode})")
            _assert_same(truth, ort.run(path, feeds), names, f"onnxruntime ({mode})")
            _assert_same(truth, onnx_ref.run(path, feeds), names, f"onnx.reference ({mode})")
