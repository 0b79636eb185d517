"""Assemble the full measurement report of an artifact and render it as a readable table.

The JSON report has: ``model`` (kind, shapes), ``ops`` (``op_counts``), ``memory`` (``memory_report``),
``energy`` (datapath model, SRAM and DRAM), ``device`` (``targets.devices.footprint.measure``: flash, RAM,
instructions per inference x the profile's energy per instruction, when a target was measured), ``sparsity`` (zero weights of ternary layers), ``activity`` (bit statistics on data, when
given) and ``posterior`` (certainty profile, filled by the caller from the training side).
"""
from __future__ import annotations

import numpy as np

from export.network import CNNNetwork, MLPNetwork, RBMNetwork
from targets.measure.activity import activity_stats
from targets.measure.costs import layer_costs, memory_report, op_counts
from targets.measure.energy import datapath_energy

__all__ = ["build_report", "weight_sparsity", "format_table", "POOL_TOKENS", "bits_to_bytes"]


def weight_sparsity(network: MLPNetwork | RBMNetwork) -> dict:
    """Fraction of zero weights per layer and overall. ±1 weights are never zeros."""
    mats = ({"xi": network.weight} if isinstance(network, RBMNetwork)
            else {f"layer{i}": d.weight for i, d in enumerate(network.layers)})
    layers = {k: {"weights": int(w.size), "zeros": int(np.sum(w == 0)), "zero_fraction": float(np.mean(w == 0))}
              for k, w in mats.items()}
    total = sum(v["weights"] for v in layers.values())
    zeros = sum(v["zeros"] for v in layers.values())
    return {"layers": layers, "total_weights": total, "total_zeros": zeros,
            "zero_fraction": zeros / total if total else 0.0}


def build_report(network: MLPNetwork | RBMNetwork, *, word_bits: int = 64,
                 onnx_initializer_bytes: dict[str, int] | None = None, onnx_file_bytes: int | None = None,
                 activity_layers: dict[str, np.ndarray] | None = None, device: dict | None = None) -> dict:
    """The measurement report of ``network`` (see module docstring)."""
    kind = "rbm" if isinstance(network, RBMNetwork) else ("cnn" if isinstance(network, CNNNetwork) else "mlp")
    rep = {
        "model": {"kind": kind,
                  "layers": [{"name": c.name, "n_in": c.n_in, "n_out": c.n_out, "weights": c.weight_type,
                              "inputs": c.input_type, "repeat": c.repeat} for c in layer_costs(network)]},
        "ops": op_counts(network, word_bits),
        "memory": memory_report(network, onnx_initializer_bytes, onnx_file_bytes),
        "energy": {"sram": datapath_energy(network, "sram"), "dram": datapath_energy(network, "dram")},
        "sparsity": weight_sparsity(network),
    }
    if activity_layers:
        rep["activity"] = activity_stats(activity_layers)
    if device:
        rep["device"] = device
    return rep


#: The pool column of the table: the arch-string tokens (``p`` pools the sign bits, ``pf`` the int32 fields).
POOL_TOKENS = {False: "-", "bits": "p", "fields": "pf"}


def bits_to_bytes(bits: int) -> int:
    """Whole bytes holding ``bits`` bits (what the table prints for weight and activation memory)."""
    return -(-int(bits) // 8)


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _table(header: list[str], rows: list[list]) -> list[str]:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in cells]


def format_table(rep: dict) -> str:
    """Human-readable summary: per-layer and total ops, memory, energy, sparsity and activity."""
    out = [f"model: {rep['model']['kind']}"]
    ops, mem = rep["ops"], rep["memory"]
    e_s = rep["energy"]["sram"]["precisions"]
    cnn = rep["model"]["kind"] == "cnn"
    rows = []
    # op counts and energies list the same layers in the same (graph) order
    for lo, en in zip(ops["layers"], e_s["native"]["layers"]):
        rows.append([lo["name"], f"{lo['n_in']}x{lo['n_out']}" + (f" x{lo['repeat']}" if lo["repeat"] > 1 else "")]
                    + ([POOL_TOKENS[lo.get("pool", False)]] if cnn else [])
                    + [f"op_mac_{lo['input_type']}_{lo['weight_type']}", lo["macs"], lo["bops"],
                       sum(lo["word_ops"].values()), bits_to_bytes(lo["weight_bits"]),
                       bits_to_bytes(lo["peak_act_bits"]), en["total_pJ"] / 1e3])
    t = ops["total"]
    e_tot = {p: e_s[p]["total_pJ"] / 1e3 for p in ("native", "int8", "float32")}
    rows.append(["total", ""] + ([""] if cnn else []) +
                ["", t["total_macs"], t["total_bops"], sum(t["word_ops"].values()),
                 bits_to_bytes(t["total_mem_w_bits"]), bits_to_bytes(t["total_peak_act_bits"]), e_tot["native"]])
    out += _table(["layer", "shape"] + (["pool"] if cnn else []) +
                  ["MACs key (qonnx)", "MACs", "BOPs", f"word ops ({t['word_bits']}b)", "weights B",
                   "peak act. B", "energy nJ (SRAM)"], rows)
    if cnn:
        out.append("pool: p = 2x2 max-pool of the sign bits (OR; conv -> BN -> sign -> pool), pf = 2x2 max-pool of "
                   "the int32 fields (conv -> pool -> BN -> sign); shape: fan-in x outputs x output pixels")
    out.append("weights B: packed weight bits / 8 (rounded up); peak act. B: the layer's input map + its (pooled) "
               "output map at the bits kept, layer at a time (total: the largest)")
    mt = mem["total"]
    out.append("")
    out.append("memory (weights)      " + "  ".join(
        [f"packed {mt['packed_bytes_exact']:,.0f} B"] +
        [f"C/{w}b {b:,} B" for w, b in mt["c_bytes"].items()] +
        ([f"ONNX file {mt['onnx_file_bytes']:,} B"] if "onnx_file_bytes" in mt else []) +
        [f"int8 {mt['int8_bytes']:,} B", f"float32 {mt['float32_bytes']:,} B"]))
    if "activations" in mt:
        act = mt["activations"]
        out.append("memory (activations)  " + "  ".join(
            [f"peak {bits_to_bytes(act['peak_bits_layer_at_a_time']):,} B layer at a time ({act['peak_layer']})"] +
            [f"C predict() scratch/{w}b {b:,} B" for w, b in act["c_predict_scratch_bytes"].items()]))
    e_d = rep["energy"]["dram"]["precisions"]
    out.append("energy per inference  " + "  ".join(
        f"{p}: {e_tot[p]:.4g} nJ (SRAM) / {e_d[p]['total_pJ'] / 1e3:.4g} nJ (DRAM)"
        for p in ("native", "int8", "float32")))
    sp = rep["sparsity"]
    out.append(f"zero weights          {sp['total_zeros']:,} of {sp['total_weights']:,} "
               f"({100 * sp['zero_fraction']:.2f} %; ±1 weights are never zeros)")
    if "activity" in rep:
        out.append("")
        # dead = -1 on every input, always on = +1 on every input (units that carry no information there)
        out += _table(["activity", "units", "inputs", "fraction +1", "toggle rate", "dead", "always on"],
                      [[k, v["units"], v["inputs"], v["fraction_plus"], v["toggle_rate"], v["dead_units"],
                        v["always_on_units"]] for k, v in rep["activity"].items()])
    if "posterior" in rep:
        out.append("")
        out += _table(["posterior", "weights", "|m|>0.9", "|m|>0.99", "|m|>0.999", "entropy", "E[flips]"],
                      [[k, v["weights"], v["frac_abs_m_above_0.9"], v["frac_abs_m_above_0.99"],
                        v["frac_abs_m_above_0.999"], v["mean_entropy_nats"], v["expected_flips_map_vs_sample"]]
                       for k, v in rep["posterior"].items()])
    if "device" in rep:
        d = rep["device"]
        out.append("")
        instr, energy = d.get("instructions_per_inference"), d.get("energy_nJ_per_inference")
        build = f", {d['build']}" if d.get("build") else ""
        out.append(f"device {d['target']} ({d.get('cpu', '')}{build}): "
                   f"{'-' if instr is None else f'{instr:,.0f}'} instructions per inference (exact emulator count), "
                   f"flash {_fmt(d.get('flash_bytes'))} B, RAM {_fmt(d.get('ram_bytes'))} B, "
                   f"energy ≈ {'-' if energy is None else f'{energy / 1e3:.3g}'} µJ per inference "
                   f"({_fmt(d.get('energy_pj_per_instruction'))} pJ/instruction; basis and source in the JSON)")
    out.append("")
    out.append("assumptions: " + "; ".join(rep["energy"]["sram"]["assumptions"]))
    return "\n".join(out)
