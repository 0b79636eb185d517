"""Every lowprec op, alone, through onnxruntime and onnx.reference, custom and standard (inlined), against
plain numpy integer computations written here."""
import numpy as np
import onnx
import onnx.inliner
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from export.layout import pack_pm1, pack_ternary, unpack_pm1
from export.onnx import ops
from export.prng import uniform_u32

KS = [1, 7, 63, 64, 65, 127, 4097]
_T = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
      np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32,
      np.dtype(np.uint32): TensorProto.UINT32, np.dtype(np.uint64): TensorProto.UINT64}


def run_op(op, feeds, out_dtype, acc=TensorProto.FLOAT, **attrs):
    """Run one lowprec node in ORT and ReferenceEvaluator, custom and inlined; all four must agree."""
    names = list(feeds)
    node = ops.make_node(op, names, ["out"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, _T[a.dtype], a.shape) for n, a in feeds.items()],
                              [helper.make_tensor_value_info("out", out_dtype, [None, None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ops.OPSET), helper.make_opsetid("lowprec", 1)],
                              functions=[ops.function(op, acc)])
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    inlined = onnx.inliner.inline_local_functions(model)
    results = []
    for m in (model, inlined):
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        results.append(sess.run(None, feeds)[0])
        results.append(ReferenceEvaluator(m).run(None, feeds)[0])
    for r in results[1:]:
        assert r.dtype == results[0].dtype
        np.testing.assert_array_equal(r, results[0])
    return results[0]


def _pm1(rng, *shape):
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


@pytest.mark.parametrize("k", KS)
def test_binarize_pack(k):
    rng = np.random.default_rng(k)
    b = int(rng.integers(1, 6))
    x8 = rng.integers(0, 256, (b, k)).astype(np.uint8)
    out = run_op("BinarizePack", {"x": x8}, TensorProto.UINT64, K=k, threshold=128.0)
    np.testing.assert_array_equal(out, pack_pm1(np.where(x8 >= 128, 1, -1)))
    pm = _pm1(rng, b, k)
    np.testing.assert_array_equal(run_op("BinarizePack", {"x": pm}, TensorProto.UINT64, K=k, threshold=0.0), pack_pm1(pm))
    xf = rng.choice(np.array([-1.5, -0.0, 0.0, 0.25, -1e-30, 2.0, np.nan], np.float32), size=(b, k))
    out = run_op("BinarizePack", {"x": xf}, TensorProto.UINT64, K=k, threshold=0.25)
    np.testing.assert_array_equal(out, pack_pm1(np.where(xf >= 0.25, 1, -1)))  # NaN -> bit 0


@pytest.mark.parametrize("k", KS)
def test_xnor_popcount_gemm(k):
    rng = np.random.default_rng(100 + k)
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    x, w = _pm1(rng, b, k), _pm1(rng, n, k)
    out = run_op("XnorPopcountGemm", {"xp": pack_pm1(x), "wp": pack_pm1(w)}, TensorProto.INT32, K=k)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.skipif(
    tuple(int(p) for p in ort.__version__.split(".")[:2]) < (1, 26),
    reason="onnxruntime < 1.26 fuses this body's MatMul into a FusedMatMul that has no float64 kernel (layers "
           "wider than 2^24 inputs need onnxruntime >= 1.26; pyproject admits 1.21 for Python 3.10)")
def test_xnor_popcount_gemm_float64_body():
    rng = np.random.default_rng(7)
    x, w = _pm1(rng, 3, 130), _pm1(rng, 4, 130)
    out = run_op("XnorPopcountGemm", {"xp": pack_pm1(x), "wp": pack_pm1(w)}, TensorProto.INT32,
                 acc=TensorProto.DOUBLE, K=130)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.parametrize("k", KS)
def test_ternary_popcount_gemm(k):
    rng = np.random.default_rng(200 + k)
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    x, w = _pm1(rng, b, k), rng.integers(-1, 2, (n, k)).astype(np.int8)
    s, m = pack_ternary(w)
    out = run_op("TernaryPopcountGemm", {"xp": pack_pm1(x), "ws": s, "wm": m}, TensorProto.INT32, K=k)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.parametrize("k", KS)
def test_bitplane_gemm(k):
    rng = np.random.default_rng(300 + k)
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    x, w = rng.integers(0, 256, (b, k)).astype(np.uint8), _pm1(rng, n, k)
    x[0] = 255  # the extreme row
    out = run_op("BitplaneGemm", {"x": x, "wp": pack_pm1(w)}, TensorProto.INT32, K=k)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.parametrize("k", KS)
def test_ternary_bitplane_gemm(k):
    rng = np.random.default_rng(400 + k)
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    x, w = rng.integers(0, 256, (b, k)).astype(np.uint8), rng.integers(-1, 2, (n, k)).astype(np.int8)
    s, m = pack_ternary(w)
    out = run_op("TernaryBitplaneGemm", {"x": x, "ws": s, "wm": m}, TensorProto.INT32, K=k)
    np.testing.assert_array_equal(out, x.astype(np.int64) @ w.astype(np.int64).T)


@pytest.mark.parametrize("n", KS)
def test_threshold_sign(n):
    rng = np.random.default_rng(500 + n)
    b = int(rng.integers(1, 6))
    ext = np.array([-(2**31), -(2**31) + 1, -1, 0, 1, 2**31 - 1], np.int32)
    y = np.where(rng.random((b, n)) < 0.2, rng.choice(ext, (b, n)), rng.integers(-50, 51, (b, n))).astype(np.int32)
    s = rng.integers(-1, 2, n).astype(np.int8)
    t = np.where(rng.random(n) < 0.3, rng.choice(ext, n), rng.integers(-50, 51, n)).astype(np.int32)
    out = run_op("ThresholdSign", {"y": y, "s": s, "t": t}, TensorProto.UINT64, N=n)
    want = s.astype(np.int64) * y.astype(np.int64) >= t.astype(np.int64)
    np.testing.assert_array_equal(unpack_pm1(out, n), np.where(want, 1, -1))
    assert out.shape == (b, -(-n // 64))


@pytest.mark.parametrize("k", KS)
def test_field_table(k):
    rng = np.random.default_rng(600 + k)
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 10))
    y = (2 * rng.integers(0, k + 1, (b, n)) - k).astype(np.int32)
    y[0, 0] = -k
    y[-1, -1] = k
    for table in (rng.random(k + 1).astype(np.float32), rng.integers(0, 2**32, k + 1, dtype=np.uint32)):
        out = run_op("FieldTable", {"y": y, "table": table}, _T[table.dtype], K=k)
        np.testing.assert_array_equal(out, table[(y.astype(np.int64) + k) // 2])


@pytest.mark.parametrize("n", KS)
def test_bernoulli_sample(n):
    rng = np.random.default_rng(700 + n)
    b = int(rng.integers(1, 6))
    thr = rng.integers(0, 2**32, (b, n), dtype=np.uint32)
    thr[0, : min(n, 3)] = [0, 2**32 - 1, 2**31][: min(n, 3)]
    seeds = rng.integers(0, 2**32, b, dtype=np.uint32)
    stream = int(rng.integers(0, 2**31))
    out = run_op("BernoulliSample", {"thr": thr, "seeds": seeds}, TensorProto.UINT64, N=n, stream=stream)
    want = uniform_u32(seeds, stream, n) < thr
    np.testing.assert_array_equal(unpack_pm1(out, n), np.where(want, 1, -1))


@pytest.mark.parametrize("k", KS)
def test_unpack_bits(k):
    rng = np.random.default_rng(800 + k)
    v = _pm1(rng, int(rng.integers(1, 6)), k)
    out = run_op("UnpackBits", {"p": pack_pm1(v)}, TensorProto.INT8, K=k)
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, v)


def test_make_node_requires_every_attribute():
    with pytest.raises(ValueError, match="missing"):
        ops.make_node("BinarizePack", ["x"], ["y"], K=3)
    with pytest.raises(ValueError, match="unknown lowprec op"):
        ops.function("Nope")
