"""Operation counts, memory and the energy proxy against hand calculations (the numbers are the spec)."""
import math

import numpy as np
import pytest

from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, RBMNetwork, Threshold
from targets.measure import datapath_energy, load_energy_table, memory_report, op_counts

RNG = np.random.default_rng(0)


def single_layer(n_in=300, n_out=16, ternary=False, bitplanes=False):
    if ternary:
        w = RNG.integers(-1, 2, (n_out, n_in))
        w[0, 0] = 0
    else:
        w = np.where(RNG.random((n_out, n_in)) < 0.5, 1, -1)
    inp = InputSpec("bitplanes", n_in) if bitplanes else InputSpec("threshold", n_in)
    return MLPNetwork(inp, hidden=(), output=(Dense(w), OutputAffine.identity(n_out)))


def sram_bit(size_bytes):
    # Horowitz: 8 KB -> 10 pJ, 32 KB -> 20 pJ per 64-bit access; log-log interpolation, /64 for per bit.
    t = math.log(size_bytes / 8192) / math.log(32768 / 8192)
    return 10.0 * (20.0 / 10.0) ** t / 64


def test_float32_single_layer_matches_the_worked_example():
    e = datapath_energy(single_layer())["precisions"]["float32"]
    macs = 300 * 16
    compute = macs * (3.7 + 0.9)                                  # 22 080 pJ
    weights = 32 * macs * sram_bit(4 * macs)                      # 19 200 B of weights
    act = (32 * 300 + 32 * 16) * 10.0 / 64                        # 8 KB buffer
    assert e["total_pJ"] == pytest.approx(compute + weights + act, rel=1e-12)
    # Worked by hand from the Horowitz table (energy_45nm.toml): 300->16 fp32, weights in SRAM = 60.4 nJ.
    assert round(e["total_pJ"] / 1e3, 1) == 60.4


def test_int8_binary_ternary_single_layer_by_hand():
    macs = 300 * 16
    acc = math.ceil(math.log2(301)) + 1                          # 10 accumulator bits
    e_act = 10.0 / 64
    net = single_layer()
    got = datapath_energy(net)["precisions"]
    # 4 800 bytes of int8 weights: below 8 KB, so the 8 KB class (10 pJ / 64 bits).
    int8 = macs * (0.2 + 0.1) + 16 * 3.1 + 8 * macs * 10.0 / 64 + (8 * 300 + 32 * 16) * e_act
    assert got["int8"]["total_pJ"] == pytest.approx(int8, rel=1e-12)
    # 600 bytes of packed weights -> clamped to the 8 KB SRAM class.
    binary = macs * (0.0009375 + 0.003125) + 16 * acc * 0.003125 + macs * 10.0 / 64 + (300 + 32 * 16) * e_act
    assert got["native"]["total_pJ"] == pytest.approx(binary, rel=1e-12)
    tern = datapath_energy(single_layer(ternary=True))["precisions"]["native"]
    ternary = (macs * (0.0009375 + 0.0003125 + 0.003125) + 16 * acc * 0.003125 + 2 * macs * 10.0 / 64
               + (300 + 32 * 16) * e_act)
    assert tern["total_pJ"] == pytest.approx(ternary, rel=1e-12)
    dram = datapath_energy(net, memory="dram")["precisions"]["native"]
    assert dram["layers"][0]["weights_pJ"] == pytest.approx(macs * 1300.0 / 64)


def test_op_counts_by_hand():
    oc = op_counts(single_layer(), word_bits=32)["total"]
    assert oc["total_macs"] == 4800 and oc["op_mac_BIPOLAR_BIPOLAR"] == 4800 and oc["total_bops"] == 4800
    assert oc["mem_w_BIPOLAR"] == 4800 and oc["total_mem_w_bits"] == 4800
    assert oc["mem_o_INT32"] == 16 and oc["total_mem_o_bits"] == 16 * 32
    # ceil(300 / 32) = 10 words per row, 16 rows.
    assert oc["word_ops"] == {"xor": 160, "and": 0, "popcount": 160}
    t = op_counts(single_layer(ternary=True), word_bits=64)["total"]
    assert t["total_bops"] == 2 * 4800 and t["op_mac_BIPOLAR_TERNARY"] == 4800
    assert t["word_ops"] == {"xor": 16 * 5, "and": 16 * 5, "popcount": 16 * 5}
    assert t["total_nonzero_macs"] < 4800  # zeros only ever come from ternary weights
    b = op_counts(single_layer(bitplanes=True), word_bits=64)["total"]
    assert b["op_mac_UINT8_BIPOLAR"] == 4800 and b["total_bops"] == 8 * 4800
    assert b["word_ops"]["popcount"] == 8 * 16 * 5 + 8 * 5 and b["binarized_mac_ratio"] == 0.0


def test_rbm_counts_gibbs_steps_and_memory():
    net = RBMNetwork(np.where(RNG.random((20, 3)) < 0.5, 1, -1), gibbs_steps=2)
    oc = op_counts(net)["total"]
    assert oc["total_macs"] == 60 * (2 + 2 * 2)
    assert oc["total_mem_w_elems"] == 120          # ξ stored packed twice (ξᵀ rows and ξ rows)
    mem = memory_report(net, c_word_bits=(32,))["total"]
    # ξᵀ: 3 rows of ceil(20/32)=1 word; ξ: 20 rows of ceil(3/32)=1 word; 4 bytes per word.
    assert mem["c_bytes"]["32"] == (3 + 20) * 4
    assert mem["float32_bytes"] == 4 * 120 and mem["int8_bytes"] == 120


def test_memory_report_sizes():
    mem = memory_report(single_layer(n_in=65, n_out=3), c_word_bits=(8, 32, 64))["total"]
    assert mem["c_bytes"] == {"8": 3 * 9, "32": 3 * 3 * 4, "64": 3 * 2 * 8}
    assert mem["packed_bytes_exact"] == 65 * 3 / 8 and mem["float32_bytes"] == 65 * 3 * 4


def test_energy_table_bad_memory_and_sources():
    with pytest.raises(ValueError, match="memory must be"):
        datapath_energy(single_layer(), memory="flash")
    t = load_energy_table()
    assert "Horowitz" in t.source["horowitz"]
    with pytest.raises(TypeError, match="MLPNetwork, CNNNetwork or RBMNetwork"):
        op_counts("not a network")


def test_output_memory_follows_qonnx_accumulators_and_stored_bits_apart():
    # 300 -> 16 (thresholded to ±1) -> 10 (scores). qonnx costs each MatMul's INT32 output; the graph keeps
    # 16 bits and 10 int32 scores.
    w0 = np.where(RNG.random((16, 300)) < 0.5, 1, -1)
    w1 = np.where(RNG.random((10, 16)) < 0.5, 1, -1)
    net = MLPNetwork(InputSpec("threshold", 300), hidden=((Dense(w0), Threshold(s=np.ones(16, np.int8),
                                                                                t=np.zeros(16, np.int32))),),
                     output=(Dense(w1), OutputAffine.identity(10)))
    oc = op_counts(net)["total"]
    assert oc["mem_o_INT32"] == 26 and oc["total_mem_o_elems"] == 26 and oc["total_mem_o_bits"] == 26 * 32
    assert oc["act_o_BIPOLAR"] == 16 and oc["act_o_INT32"] == 10
    assert oc["total_act_o_bits"] == 16 * 1 + 10 * 32
    assert "mem_o_BIPOLAR" not in oc
