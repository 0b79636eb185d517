"""Whole exported graphs (MLP binary/ternary/bit-plane, RBM with a Gibbs sampler), both export modes, run by
onnxruntime and onnx.reference and compared with a float ±1 numpy computation of the original network."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings, strategies as st
from onnx.reference import ReferenceEvaluator

from export.layout import METADATA, unpack_pm1
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold, rbm_tables
from export.onnx import MODES, build_model, input_names, network_from_onnx, output_names
from export.prng import uniform_u32


def run_all(model, feeds):
    """Outputs by name from ORT and from onnx.reference; asserts they agree exactly."""
    names = [o.name for o in model.graph.output]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a = dict(zip(names, sess.run(None, feeds)))
    b = dict(zip(names, ReferenceEvaluator(model).run(None, feeds)))
    for n in names:
        assert a[n].dtype == b[n].dtype, n
        np.testing.assert_array_equal(a[n], b[n], err_msg=n)
    return a


def random_mlp(rng, kind, sizes, ternary=False):
    k = sizes[0]
    spec = {"pm1": InputSpec("pm1", k, "int8"), "threshold": InputSpec("threshold", k, "float32", threshold=0.3),
            "bitplanes": InputSpec("bitplanes", k, "uint8")}[kind]
    def weight(n, m):
        if ternary:
            return rng.integers(-1, 2, (n, m))
        return rng.choice([-1, 1], (n, m))
    hidden = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        bound = n_in * (255 if kind == "bitplanes" and not hidden else 1)
        hidden.append((Dense(weight(n_out, n_in)),
                       Threshold(rng.integers(-1, 2, n_out), rng.integers(-bound // 4 - 1, bound // 4 + 2, n_out))))
    c = sizes[-1]
    out = (Dense(weight(c, sizes[-2])), OutputAffine(rng.integers(-3, 4, c), rng.integers(-20, 21, c)))
    return MLPNetwork(spec, tuple(hidden), out, meta={"test": True})


def float_mlp(net, x):
    """Ground truth: the network in float64 on ±1 values (exact for these sizes)."""
    spec = net.input
    if spec.kind == "bitplanes":
        a = x.astype(np.float64)
    else:
        a = np.where(x.astype(np.float64) >= (0 if spec.kind == "pm1" else spec.threshold), 1.0, -1.0)
    out = {}
    for i, (d, thr) in enumerate(net.hidden):
        y = a @ d.weight.T.astype(np.float64)
        out[f"y{i}"] = y
        a = np.where(thr.s * y >= thr.t, 1.0, -1.0)
        out[f"h{i}"] = a
    d, aff = net.output
    y = a @ d.weight.T.astype(np.float64)
    out[f"y{len(net.hidden)}"] = y
    out["scores"] = aff.scale * y + aff.offset
    out["label"] = np.argmax(out["scores"], axis=1)
    return out


def _input(rng, spec, b):
    if spec.kind == "pm1":
        return rng.choice(np.array([-1, 1], np.int8), (b, spec.size))
    if spec.kind == "bitplanes":
        return rng.integers(0, 256, (b, spec.size)).astype(np.uint8)
    return rng.choice(np.array([-1.0, 0.3, 0.2999, 1.5, -0.0], np.float32), (b, spec.size))


def check_mlp(net, mode, rng, b):
    model = build_model(net, mode)
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == output_names(net)
    x = _input(rng, net.input, b)
    got = run_all(model, {"x": x})
    want = float_mlp(net, x)
    for i, (d, _) in enumerate(net.hidden):
        np.testing.assert_array_equal(got[f"y{i}"], want[f"y{i}"].astype(np.int64))
        np.testing.assert_array_equal(unpack_pm1(got[f"h{i}"], d.shape[0]), want[f"h{i}"])
    last = f"y{len(net.hidden)}"
    np.testing.assert_array_equal(got[last], want[last].astype(np.int64))
    np.testing.assert_array_equal(got["scores"], want["scores"].astype(np.int64))
    np.testing.assert_array_equal(got["label"], want["label"])
    assert got["label"].dtype == np.int64 and got["scores"].dtype == np.int64
    return model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["pm1", "threshold", "bitplanes"])
@pytest.mark.parametrize("ternary", [False, True])
def test_mlp_against_float_pm1(mode, kind, ternary):
    rng = np.random.default_rng(hash((mode, kind, ternary)) % 2**32)
    net = random_mlp(rng, kind, [65, 127, 7, 10], ternary)
    model = check_mlp(net, mode, rng, int(rng.integers(1, 9)))
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in METADATA.items():
        assert props[key] == value
    assert props["lowprec.model_kind"] == "mlp" and props["lowprec.export_mode"] == mode
    assert json.loads(props["lowprec.config"])["meta"] == {"test": True}
    assert model.ir_version == 10
    domains = {o.domain for o in model.opset_import}
    assert ("lowprec" in domains) == (mode == "custom")
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node) == (mode == "standard")
    back = network_from_onnx(model)
    for (d0, t0), (d1, t1) in zip(net.hidden, back.hidden):
        np.testing.assert_array_equal(d0.weight, d1.weight)
        np.testing.assert_array_equal(t0.t, t1.t)
    np.testing.assert_array_equal(net.output[0].weight, back.output[0].weight)
    np.testing.assert_array_equal(net.output[1].scale, back.output[1].scale)
    assert back.input == net.input


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 7, 63, 64, 65, 127, 4097]),
       depth=st.integers(0, 2), b=st.integers(1, 6), kind=st.sampled_from(["pm1", "threshold", "bitplanes"]),
       ternary=st.booleans(), mode=st.sampled_from(MODES))
def test_mlp_random_shapes(seed, k, depth, b, kind, ternary, mode):
    rng = np.random.default_rng(seed)
    sizes = [k] + [int(rng.integers(1, 70)) for _ in range(depth)] + [int(rng.integers(2, 11))]
    check_mlp(random_mlp(rng, kind, sizes, ternary), mode, rng, b)


def test_bitplane_accumulator_switches_to_float64_when_float32_is_inexact():
    # 255 * K > 2^24: float32 partial sums could round, the builder must pick float64.
    k = 70000
    rng = np.random.default_rng(3)
    net = MLPNetwork(InputSpec("bitplanes", k, "uint8"), (),
                     (Dense(np.ones((2, k), np.int8)), OutputAffine.identity(2)))
    model = build_model(net)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["lowprec.config"])["accumulator"] == "float64"
    x = np.full((1, k), 255, np.uint8)
    x[0, rng.integers(0, k, 10)] = 254
    got = run_all(model, {"x": x})
    np.testing.assert_array_equal(got["y0"], np.full((1, 2), int(x.astype(np.int64).sum())))


def float_rbm(net, v, seeds):
    """Numpy ground truth of the RBM graph: float ±1 fields, tables, and export.prng samples."""
    t = rbm_tables(net)
    n, p = net.weight.shape
    xi = net.weight.astype(np.float64)
    s = v.astype(np.float64) if net.input.kind == "pm1" else np.where(v >= net.input.threshold, 1.0, -1.0)
    out = {"hidden_field": s @ xi}
    out["hidden_bits"] = np.where(out["hidden_field"] >= 0, 1, -1)
    out["hidden_prob"] = t["p_hidden"][(out["hidden_field"].astype(np.int64) + n) // 2]
    out["visible_field"] = out["hidden_bits"] @ xi.T
    for step in range(net.gibbs_steps):
        x = (s @ xi).astype(np.int64)
        h = np.where(uniform_u32(seeds, 2 * step, p) < t["t_hidden"][(x + n) // 2], 1.0, -1.0)
        y = (h @ xi.T).astype(np.int64)
        s = np.where(uniform_u32(seeds, 2 * step + 1, n) < t["t_visible"][(y + p) // 2], 1.0, -1.0)
        out[f"gibbs_h_{step}"], out[f"gibbs_v_{step + 1}"] = h, s
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n,p,kind", [(7, 65, "pm1"), (130, 64, "threshold"), (63, 1, "pm1")])
def test_rbm_gibbs_bit_exact(mode, n, p, kind):
    rng = np.random.default_rng(n * 1000 + p)
    spec = InputSpec("pm1", n, "int8") if kind == "pm1" else InputSpec("threshold", n, "uint8", threshold=128)
    net = RBMNetwork(rng.choice([-1, 1], (n, p)), beta=1.7, input=spec, gibbs_steps=3)
    model = build_model(net, mode)
    assert input_names(net) == ["v", "seeds"]
    b = int(rng.integers(1, 7))
    v = _input(rng, spec, b) if kind == "pm1" else rng.integers(0, 256, (b, n)).astype(np.uint8)
    seeds = rng.integers(0, 2**32, b, dtype=np.uint32)
    got = run_all(model, {"v": v, "seeds": seeds})
    want = float_rbm(net, v, seeds)
    for name in ("hidden_field", "visible_field"):
        np.testing.assert_array_equal(got[name], want[name].astype(np.int64))
    np.testing.assert_array_equal(got["hidden_prob"], want["hidden_prob"])
    np.testing.assert_array_equal(unpack_pm1(got["hidden_bits"], p), want["hidden_bits"])
    for step in range(3):
        np.testing.assert_array_equal(unpack_pm1(got[f"gibbs_h_{step}"], p), want[f"gibbs_h_{step}"])
        np.testing.assert_array_equal(unpack_pm1(got[f"gibbs_v_{step + 1}"], n), want[f"gibbs_v_{step + 1}"])
    # a different seed gives a different chain (the seed is really used)
    other = run_all(model, {"v": v, "seeds": seeds ^ np.uint32(1)})
    chain = [f"gibbs_h_{t}" for t in range(3)] + [f"gibbs_v_{t}" for t in range(1, 4)]
    assert any(not np.array_equal(other[c], got[c]) for c in chain)
    back = network_from_onnx(model)
    np.testing.assert_array_equal(back.weight, net.weight)
    assert back.beta == net.beta and back.gibbs_steps == 3 and back.input == spec


def test_rbm_without_gibbs_steps():
    rng = np.random.default_rng(5)
    net = RBMNetwork(rng.choice([-1, 1], (20, 9)), gibbs_steps=0)
    model = build_model(net)
    assert output_names(net) == ["vp", "hidden_field", "hidden_bits", "hidden_prob", "visible_field"]
    v = rng.choice(np.array([-1, 1], np.int8), (3, 20))
    assert input_names(net) == ["v"] and [i.name for i in model.graph.input] == ["v"]   # no unused seeds
    got = run_all(model, {"v": v})
    np.testing.assert_array_equal(got["hidden_field"], v.astype(np.int64) @ net.weight.astype(np.int64))


def test_build_model_rejects_bad_arguments():
    net = RBMNetwork(np.ones((3, 2), np.int8))
    with pytest.raises(ValueError, match="mode"):
        build_model(net, mode="fast")
    with pytest.raises(TypeError, match="MLPNetwork, CNNNetwork or RBMNetwork"):
        build_model("net")
    with pytest.raises(TypeError, match="JSON"):
        build_model(RBMNetwork(np.ones((3, 2), np.int8), meta={"x": object()}))
