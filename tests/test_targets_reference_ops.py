"""Reference-simulator kernels against plain integer arithmetic, at every word width (exact)."""
from __future__ import annotations

import numpy as np
import pytest

from export.layout import pack_pm1, pack_ternary, unpack_pm1
from export.prng import uniform_u32
from targets.reference import words
from targets.reference.ops import KERNELS
from targets.reference.ops.bernoulli_sample import bernoulli_sample
from targets.reference.ops.binarize_pack import binarize_pack
from targets.reference.ops.bitplane_gemm import bitplane_gemm, ternary_bitplane_gemm
from targets.reference.ops.field_table import field_table
from targets.reference.ops.standard import argmax, cast_like
from targets.reference.ops.ternary_popcount_gemm import ternary_popcount_gemm
from targets.reference.ops.threshold_sign import threshold_sign
from targets.reference.ops.unpack_bits import unpack_bits
from targets.reference.ops.xnor_popcount_gemm import xnor_popcount_gemm

KS = [1, 7, 63, 64, 65, 127, 4097]
WIDTHS = [8, 16, 32, 64]


def _case(k: int, seed: int):
    rng = np.random.default_rng([k, seed])
    b, n = int(rng.integers(1, 6)), int(rng.integers(1, 8))
    x = rng.choice(np.array([-1, 1], np.int8), (b, k))
    w = rng.choice(np.array([-1, 1], np.int8), (n, k))
    t = rng.integers(-1, 2, (n, k)).astype(np.int8)
    px = rng.integers(0, 256, (b, k)).astype(np.uint8)
    return x, w, t, px


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("wb", WIDTHS)
def test_gemms_equal_integer_products(k, wb):
    x, w, t, px = _case(k, wb)
    xi, wi, ti, pi = (a.astype(np.int64) for a in (x, w, t, px))
    xp = binarize_pack(x, K=k, word_bits=wb)
    np.testing.assert_array_equal(xp, pack_pm1(x))
    np.testing.assert_array_equal(xnor_popcount_gemm(xp, pack_pm1(w), K=k, word_bits=wb), xi @ wi.T)
    s, m = pack_ternary(t)
    np.testing.assert_array_equal(ternary_popcount_gemm(xp, s, m, K=k, word_bits=wb), xi @ ti.T)
    np.testing.assert_array_equal(bitplane_gemm(px, pack_pm1(w), K=k, word_bits=wb), pi @ wi.T)
    np.testing.assert_array_equal(ternary_bitplane_gemm(px, s, m, K=k, word_bits=wb), pi @ ti.T)
    np.testing.assert_array_equal(unpack_bits(xp, K=k, word_bits=wb), x)


@pytest.mark.parametrize("wb", WIDTHS)
def test_binarize_pack_thresholds_and_ties(wb):
    px = np.arange(256, dtype=np.uint8).reshape(2, 128)
    got = unpack_pm1(binarize_pack(px, K=128, threshold=128.0, word_bits=wb), 128)
    np.testing.assert_array_equal(got, np.where(px >= 128, 1, -1))
    f = np.array([[-0.0, 0.0, -1e-30, 0.5, 0.49999997]], np.float32)
    got = unpack_pm1(binarize_pack(f, K=5, threshold=0.5, word_bits=wb), 5)
    np.testing.assert_array_equal(got, [[-1, -1, -1, 1, -1]])
    got = unpack_pm1(binarize_pack(f, K=5, threshold=0.0, word_bits=wb), 5)
    np.testing.assert_array_equal(got, [[1, 1, -1, 1, 1]])  # sign(0) = +1, also for -0.0


@pytest.mark.parametrize("wb", WIDTHS)
def test_threshold_sign_all_sign_cases(wb):
    rng = np.random.default_rng(1)
    n = 70
    y = rng.integers(-5, 6, (9, n)).astype(np.int32)
    y[0, :] = np.iinfo(np.int32).min  # s * y in int64: -1 * -2^31 must not wrap
    s = rng.integers(-1, 2, n).astype(np.int8)
    t = rng.integers(-3, 4, n).astype(np.int32)
    want = np.where(s.astype(np.int64) * y >= t, 1, -1)
    np.testing.assert_array_equal(unpack_pm1(threshold_sign(y, s, t, N=n, word_bits=wb), n), want)


def test_field_table_and_range_check():
    k = 5
    table = np.arange(k + 1, dtype=np.uint32) * 10
    y = np.array([[-5, -3, -1, 1, 3, 5]], np.int32)
    np.testing.assert_array_equal(field_table(y, table, K=k), [[0, 10, 20, 30, 40, 50]])
    with pytest.raises(ValueError, match="field 2 is not one of"):
        field_table(np.array([[2]], np.int32), table, K=k)
    with pytest.raises(ValueError, match="field 7 is not one of"):
        field_table(np.array([[7]], np.int32), table, K=k)


@pytest.mark.parametrize("wb", WIDTHS)
def test_bernoulli_sample_is_the_prng_compare(wb):
    rng = np.random.default_rng(2)
    b, n = 4, 77
    thr = rng.integers(0, 2**32, (b, n), dtype=np.uint64).astype(np.uint32)
    seeds = rng.integers(0, 2**32, b, dtype=np.uint64).astype(np.uint32)
    got = unpack_pm1(bernoulli_sample(thr, seeds, N=n, stream=3, word_bits=wb), n)
    np.testing.assert_array_equal(got, np.where(uniform_u32(seeds, 3, n) < thr, 1, -1))


def test_argmax_first_and_last_maximum():
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.int32)
    np.testing.assert_array_equal(argmax(x, axis=1, keepdims=0), [1, 0])
    np.testing.assert_array_equal(argmax(x, axis=1, keepdims=0, select_last_index=1), [2, 3])


def test_cast_like_widens_to_the_second_operand_dtype():
    y = np.array([[-(2**31), 2**31 - 1, -5]], np.int32)
    got = cast_like(y, np.zeros(3, np.int64))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got * np.int64(2**20), y.astype(np.int64) << 20)  # no int32 wrap after it


def test_chunking_gives_the_same_result(monkeypatch):
    x, w, t, px = _case(300, 9)
    s, m = pack_ternary(t)
    runs = lambda: (binarize_pack(x, K=300, word_bits=8),  # noqa: E731
                    xnor_popcount_gemm(pack_pm1(x), pack_pm1(w), K=300, word_bits=8),
                    ternary_bitplane_gemm(px, s, m, K=300, word_bits=16),
                    unpack_bits(pack_pm1(x), K=300, word_bits=32))
    whole = runs()
    monkeypatch.setattr(words, "CHUNK_ELEMENTS", 7)  # force blocks of one row / a few words
    for got, want in zip(runs(), whole):
        np.testing.assert_array_equal(got, want)


def test_wrong_operands_are_clear_errors():
    xp = pack_pm1(np.ones((2, 65), np.int8))
    with pytest.raises(TypeError, match="wp must have dtype uint64, got int64"):
        xnor_popcount_gemm(xp, xp.astype(np.int64), K=65)
    with pytest.raises(ValueError, match="size 2 on axis 1"):
        xnor_popcount_gemm(xp, xp[:, :1], K=65)
    with pytest.raises(ValueError, match="word width"):
        xnor_popcount_gemm(xp, xp, K=65, word_bits=12)


def test_every_contract_op_has_a_kernel():
    ops = {"BinarizePack", "XnorPopcountGemm", "TernaryPopcountGemm", "BitplaneGemm", "TernaryBitplaneGemm",
           "ThresholdSign", "FieldTable", "BernoulliSample", "UnpackBits"}
    assert ops <= {op for dom, op in KERNELS if dom == "lowprec"}
