"""Packing round trips and the XNOR-popcount identity, with bitarray as an independent popcount oracle."""
import numpy as np
import pytest
from bitarray import bitarray
from bitarray.util import count_and, count_xor
from hypothesis import given, settings, strategies as st

from export import layout, packing


def _pm1(rng, *shape):
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


def _check_row_roundtrips(rng, k):
    v = _pm1(rng, 3, k)
    words = packing.pack(v)
    assert words.dtype == np.uint64 and words.shape == (3, -(-k // 64))
    np.testing.assert_array_equal(packing.unpack(words, k), v)
    # pad bits beyond K are zero
    if k % 64:
        assert not np.any(words[:, -1] >> np.uint64(k % 64))
    # every word width is the same bytes
    for bits in (8, 16, 32, 64):
        view = packing.as_words(words, bits)
        np.testing.assert_array_equal(packing.unpack(view, k), v)
        np.testing.assert_array_equal(packing.to_words64(view), words)
    # bitarray: bit k of the little-endian bitarray is value k (checked by bitarray's own indexing)
    bas = packing.rows_to_bitarrays(words, k)
    # .endian is a property from bitarray 3.4 on, a method before (pyproject admits bitarray >= 2.9)
    assert [b.endian if isinstance(b.endian, str) else b.endian() for b in bas] == ["little"] * 3
    for b, row in zip(bas, v):
        assert len(b) == k
        assert b.tolist() == [int(x == 1) for x in row]
        np.testing.assert_array_equal(packing.bitarray_to_pm1(b), row)
    np.testing.assert_array_equal(packing.bitarrays_to_rows(bas), words)
    big = bitarray(bas[0], endian="big")  # other endianness, same bit sequence
    np.testing.assert_array_equal(packing.from_bitarray(big), words[0])
    # stable on-disk form
    data = packing.serialize_bits(words, k)
    np.testing.assert_array_equal(packing.deserialize_bits(data, (3, k)), words)
    # K - 2 popcount(xor) == ±1 dot product, popcount by bitarray.util.count_xor and by numpy
    dot = v.astype(np.int64) @ v.astype(np.int64).T
    oracle = np.array([[k - 2 * count_xor(a, b) for b in bas] for a in bas])
    np.testing.assert_array_equal(oracle, dot)
    np.testing.assert_array_equal(packing.xnor_dot(words, words, k), dot)


def test_every_k_from_1_to_300():
    rng = np.random.default_rng(1)
    for k in range(1, 301):
        _check_row_roundtrips(rng, k)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(301, 20000), seed=st.integers(0, 2**32 - 1))
def test_random_large_k(k, seed):
    _check_row_roundtrips(np.random.default_rng(seed), k)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 700), seed=st.integers(0, 2**32 - 1))
def test_ternary_masked_popcount(k, seed):
    rng = np.random.default_rng(seed)
    x = _pm1(rng, k)
    w = rng.integers(-1, 2, size=(4, k)).astype(np.int8)
    sign, mask = packing.pack_ternary(w)
    np.testing.assert_array_equal(packing.unpack_ternary(sign, mask, k), w)
    assert not np.any(sign & ~mask)  # sign bit only where the weight is nonzero
    bx = packing.pm1_to_bitarray(x)
    for n in range(4):
        s, m = packing.to_bitarray(sign[n], k), packing.to_bitarray(mask[n], k)
        assert m.count() == np.count_nonzero(w[n])
        dot = m.count() - 2 * count_and(bx ^ s, m)
        assert dot == int(x.astype(np.int64) @ w[n].astype(np.int64))


def test_real_values_pack_by_sign_with_zero_positive():
    v = np.array([0.0, -0.0, -1e-30, 3.5, -2.0], np.float32)
    ba = packing.to_bitarray(packing.pack(v), 5)
    assert ba.tolist() == [1, 1, 0, 1, 0]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="±1"):
        packing.pack(np.array([1, 0, -1]))
    with pytest.raises(TypeError, match="bitarray"):
        packing.from_bitarray([1, 0])
    with pytest.raises(ValueError, match="cannot hold"):
        packing.to_bitarray(np.zeros(1, np.uint64), 65)
    with pytest.raises(ValueError, match="needs"):
        packing.deserialize_bits(packing.serialize_bits(np.zeros((2, 1), np.uint64), 10), (3, 10))
    with pytest.raises(ValueError, match="same length"):
        packing.bitarrays_to_rows([bitarray("101"), bitarray("10")])
    with pytest.raises(ValueError, match="whole number"):
        packing.to_words64(np.zeros((2, 3), np.uint8))


def test_layout_contract_is_what_packing_assumes():
    assert layout.METADATA["lowprec.bit_order"] == "lsb-first"
    assert layout.METADATA["lowprec.bit_meaning"] == "1=+1,0=-1"
