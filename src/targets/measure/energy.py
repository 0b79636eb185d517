"""Datapath + memory energy proxy per inference (45 nm table in ``energy_45nm.toml``).

For a layer of fan-in N and M outputs executed once per inference (batch 1, every weight fetched once):

    float32   E = N M (E_mul,fp32 + E_add,fp32) + 32 N M e_W + (32 N + 32 M) e_act
    int8      E = N M (E_mul,int8 + E_add,int32) + M E_mul,int32 (requantise) + 8 N M e_W + (8 N + 8 M) e_act
    binary    E = N M (E_xnor + E_pop/bit) + M a E_add/bit (threshold) + N M e_W + (N + M) e_act
    ternary   E = N M (E_xnor + E_and + E_pop/bit) + M a E_add/bit + 2 N M e_W + (N + M) e_act
    uint8 x ±1 (bit-plane first layer)
              E = N M a8 E_add/bit (one add/sub of the pixel into an a8-bit accumulator)
                  + M a8 E_add/bit + wbits N M e_W + (8 N + M) e_act

with a = ceil(log2(N + 1)) + 1 accumulator bits (a8 = a + 8), e_W the energy per bit of the memory that
holds the weights and e_act that of an 8 KB activation buffer. The memory holding the weights is either an
SRAM sized to the whole model's weights at that precision (idealised: ``"sram"``) or DRAM (``"dram"``, the
low Horowitz figure). Outputs of the last layer are int32 (32 bits). Leakage is ignored; see the table's
sources for what is measured and what is derived.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

from export.network import MLPNetwork, RBMNetwork
from targets.measure.costs import DTYPE_BITS, layer_costs
from targets.toml_compat import tomllib

__all__ = ["EnergyTable", "load_energy_table", "datapath_energy", "ASSUMPTIONS"]

ASSUMPTIONS = [
    "45 nm / 0.9 V figures (Horowitz, ISSCC 2014); absolute values scale roughly with C*V^2, ratios transfer",
    "batch 1, every dense weight fetched once per inference and every conv weight once per output pixel (no "
    "reuse buffer, as the emitted C kernels), leakage ignored",
    "weights in an SRAM sized to the model's total weight footprint at that precision (idealised), or in DRAM",
    "activations in an 8 KB SRAM buffer",
    "XNOR = 0.3 and AND = 0.1 of a 1-bit add (QKeras qtools); popcount = one full adder per input bit (derived)",
    "int8 requantisation costs one int32 multiply per output; binary thresholds one add at accumulator width",
]


@dataclass(frozen=True)
class EnergyTable:
    op: dict
    bit: dict
    memory: dict
    source: dict

    def sram_pj_per_bit(self, size_bytes: float) -> float:
        """Per-bit SRAM energy: log-log interpolation of Horowitz's 8 KB / 32 KB / 1 MB points, clamped below
        8 KB and extrapolated as sqrt(size) above 1 MB."""
        sizes, pjs = self.memory["sram_bytes"], self.memory["sram_pj_per_64b"]
        if size_bytes <= sizes[0]:
            return pjs[0] / 64
        for (s0, e0), (s1, e1) in zip(zip(sizes, pjs), zip(sizes[1:], pjs[1:])):
            if size_bytes <= s1:
                t = math.log(size_bytes / s0) / math.log(s1 / s0)
                return e0 * (e1 / e0) ** t / 64
        return pjs[-1] * math.sqrt(size_bytes / sizes[-1]) / 64

    def dram_pj_per_bit(self) -> float:
        return self.memory["dram_pj_per_64b"][0] / 64


def load_energy_table() -> EnergyTable:
    """The bundled 45 nm table."""
    text = resources.files("targets.measure").joinpath("energy_45nm.toml").read_text()
    d = tomllib.loads(text)
    return EnergyTable(op=d["op"], bit=d["bit"], memory=d["memory"], source=d["source"])


_WEIGHT_BITS = {"float32": 32, "int8": 8, "native": None}


def _layer_energy(t: EnergyTable, precision: str, n: int, m: int, in_type: str, w_type: str, last: bool,
                  e_w: float, e_act: float) -> dict:
    acc = math.ceil(math.log2(n + 1)) + 1
    out_bits_native = 32 if last else 1
    if precision == "float32":
        compute = n * m * (t.op["mul_fp32"] + t.op["add_fp32"])
        outproc = 0.0
        w_bits, x_bits, y_bits = 32, 32, 32
    elif precision == "int8":
        compute = n * m * (t.op["mul_int8"] + t.op["add_int32"])
        outproc = m * t.op["mul_int32"]
        w_bits, x_bits, y_bits = 8, 8, (32 if last else 8)
    elif in_type == "UINT8":
        acc8 = acc + 8
        compute = n * m * acc8 * t.bit["add_per_bit"]
        outproc = m * acc8 * t.bit["add_per_bit"]
        w_bits, x_bits, y_bits = DTYPE_BITS[w_type], 8, out_bits_native
    elif w_type == "TERNARY":
        compute = n * m * (t.bit["xnor"] + t.bit["and"] + t.bit["popcount_per_bit"])
        outproc = m * acc * t.bit["add_per_bit"]
        w_bits, x_bits, y_bits = 2, 1, out_bits_native
    else:
        compute = n * m * (t.bit["xnor"] + t.bit["popcount_per_bit"])
        outproc = m * acc * t.bit["add_per_bit"]
        w_bits, x_bits, y_bits = 1, 1, out_bits_native
    weights = w_bits * n * m * e_w
    act = (x_bits * n + y_bits * m) * e_act
    return {"compute_pJ": compute, "outproc_pJ": outproc, "weights_pJ": weights, "activations_pJ": act,
            "total_pJ": compute + outproc + weights + act, "weight_bits": w_bits * n * m}


def datapath_energy(network: MLPNetwork | RBMNetwork, memory: str = "sram", table: EnergyTable | None = None) -> dict:
    """Energy per inference (pJ) of ``network`` as exported, and of float32 / int8 versions of the same layers.

    Parameters
    ----------
    network : MLPNetwork or RBMNetwork
    memory : ``"sram"`` or ``"dram"``
        Where the weights live (see the module docstring).

    Returns
    -------
    dict with ``precisions`` -> {``layers``: [...], ``total_pJ``, ``weight_bytes``, ``e_w_pJ_per_bit``},
    ``assumptions`` and ``sources``.
    """
    if memory not in ("sram", "dram"):
        raise ValueError(f"memory must be 'sram' or 'dram', got {memory!r}")
    t = table or load_energy_table()
    costs = layer_costs(network)
    e_act = t.sram_pj_per_bit(t.memory["activation_sram_bytes"])
    result = {}
    for precision in ("native", "int8", "float32"):
        # Weight footprint of the whole model at this precision decides the SRAM size class.
        bits = 0
        for c in costs:
            if c.name.startswith("gibbs"):
                continue
            wb = _WEIGHT_BITS[precision] or DTYPE_BITS[c.weight_type]
            bits += wb * c.n_in * c.n_out
        e_w = t.sram_pj_per_bit(bits / 8) if memory == "sram" else t.dram_pj_per_bit()
        rows = []
        for i, c in enumerate(costs):
            last = c.output_type == "INT32"
            r = _layer_energy(t, precision, c.n_in, c.n_out, c.input_type, c.weight_type, last, e_w, e_act)
            r = {k: (v * c.repeat if k.endswith("_pJ") else v) for k, v in r.items()}
            rows.append({"name": c.name, **r})
        result[precision] = {"layers": rows, "total_pJ": sum(r["total_pJ"] for r in rows),
                             "weight_bytes": bits / 8, "e_w_pJ_per_bit": e_w}
    return {"memory": memory, "precisions": result, "assumptions": ASSUMPTIONS, "sources": t.source}
