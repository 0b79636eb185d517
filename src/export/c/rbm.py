"""C text of an ``RBMNetwork``: fields, MAP bits, field-table probabilities and the Gibbs sampler.

    hidden field   X[a] = sum_i v_i xi[i, a]       (packed xi^T: P rows of ceil(N/W) words)
    MAP bits       h[a] = (X[a] >= map_t[a])          (map_t = 0 without hidden fields: the fold of c_a)
    probability    p[a] = p_hidden[(X[a] + N) >> 1]   (float32 bit patterns, copied, never computed)
    A side with fields has one table row per unit: p_hidden[a][(X[a] + N) >> 1], t_visible[i][(Y[i] + P) >> 1],
    each stored over its non-saturated span and read through a clamp (lp_unit_table, export.compact_table).
    Every table is one const array, read by every Gibbs step.
    visible field  Y[i] = sum_a h_a xi[i, a]       (packed xi: N rows of ceil(P/W) words)
    Gibbs step t   h_t     = (u(seed, 2t,   a) < t_hidden[(X(v_t) + N) >> 1])
                   v_{t+1} = (u(seed, 2t+1, i) < t_visible[(Y(h_t) + P) >> 1])   (export/prng.py)
"""
from __future__ import annotations

import numpy as np

from export.c.arrays import C_WORD_TYPES, c_array, packed_rows
from export.c.common import KERNEL_FILE, Names, banner, input_stage
from export.network import RBMNetwork, rbm_compact_tables, rbm_tables

__all__ = ["rbm_files"]


def rbm_files(net: RBMNetwork, word_bits: int, names: Names) -> dict[str, str]:
    """``{prefix}.h``, ``{prefix}_weights.h`` and ``{prefix}.c`` for ``net`` at ``word_bits``."""
    wb = word_bits
    P, M = names.prefix, names.M
    wt = f"{P}_word_t"
    n, p = net.weight.shape
    vw, hw = -(-n // wb), -(-p // wb)
    inp = input_stage(net.input, wb, names)
    tables = rbm_tables(net)
    small = rbm_compact_tables(net)   # the per-unit tables of a side with fields, compact (checked there)
    fields = net.has_fields
    h_units = net.hidden_field is not None   # per-unit MAP thresholds (the fold of the hidden fields)

    def lookup(name: str, y: str, k: int, count: int, out: str) -> str:
        """The C call that looks up ``count`` fields ``y`` (in {-k, ..., k}) in table ``name`` into ``out``."""
        if name in small:
            return f"lp_unit_field_table({y}, {k}, &{P}_{name}_units, {count}, {out});"
        return f"lp_field_table({y}, {k}, {P}_{name}, {count}, {out});"

    def sample_args(name: str) -> str:
        """lp_xnor_sample's (table, units) arguments for table ``name``."""
        return f"NULL, &{P}_{name}_units" if name in small else f"{P}_{name}, NULL"

    h = [banner(f"{P}.h", "rbm", wb, net.meta)]
    h.append(f"#ifndef {M}_H_\n#define {M}_H_\n\n#include <stdint.h>\n\n")
    h.append(f"#define {M}_KIND_RBM 1\n#define {M}_LAYOUT_VERSION 1\n#define {M}_WORD_BITS {wb}\n")
    h.append(f"typedef {C_WORD_TYPES[wb]} {wt};\n\n/* input: {inp.description} */\n")
    h.append(f"#define {M}_INPUT_KIND_{net.input.kind.upper()} 1\n")
    h.append(f"#define {M}_N_INPUT {n}\ntypedef {inp.ctype} {P}_input_t;\n{inp.macros}\n")
    h.append(f"#define {M}_N_VISIBLE {n}\n#define {M}_N_HIDDEN {p}\n"
             f"#define {M}_VIS_WORDS {vw} /* words of a packed visible vector */\n"
             f"#define {M}_HID_WORDS {hw} /* words of a packed hidden vector */\n"
             f"#define {M}_GIBBS_STEPS {net.gibbs_steps} /* steps the exported graph runs */\n"
             f"#define {M}_BETA_TEXT \"{float(net.beta)!r}\" /* inverse temperature (informative) */\n\n")
    h.append(
        f"/* v[{M}_N_VISIBLE] -> packed vp[{M}_VIS_WORDS] (bit 1 = +1) */\n"
        f"void {P}_pack_visible(const {P}_input_t *v, {wt} *vp);\n"
        f"/* X[{M}_N_HIDDEN] = sum_i v_i xi[i, a] */\n"
        f"void {P}_hidden_field(const {wt} *vp, int32_t *x);\n"
        f"/* h[{M}_HID_WORDS]: bit a = (X[a] >= map_t[a]) (hidden fields folded into integer thresholds) */\n"
        f"void {P}_hidden_bits(const int32_t *x, {wt} *h);\n"
        f"/* prob[{M}_N_HIDDEN]: P(h_a = +1 | v) as IEEE-754 float32 bit patterns (memcpy to float) */\n"
        f"void {P}_hidden_prob(const int32_t *x, uint32_t *prob);\n"
        f"/* Y[{M}_N_VISIBLE] = sum_a h_a xi[i, a] */\n"
        f"void {P}_visible_field(const {wt} *h, int32_t *y);\n"
        f"/* Gibbs step t from packed v: h[{M}_HID_WORDS] with stream 2t, v_next[{M}_VIS_WORDS] with stream 2t+1\n"
        f" * (fused: no field buffers; the functions below do the same step in stages, keeping every value) */\n"
        f"void {P}_gibbs_step(const {wt} *v, uint32_t seed, int32_t t, {wt} *h, {wt} *v_next);\n"
        f"/* thr[{M}_N_HIDDEN] = t_hidden[(X + {M}_N_VISIBLE) >> 1]; thr[{M}_N_VISIBLE] = t_visible[(Y + {M}_N_HIDDEN) >> 1]"
        f"{' (one table row per unit on a side with fields)' if fields else ''} */\n"
        f"void {P}_hidden_thresholds(const int32_t *x, uint32_t *thr);\n"
        f"void {P}_visible_thresholds(const int32_t *y, uint32_t *thr);\n"
        f"/* Bernoulli draws of step t: bit = (u(seed, stream, unit) < thr[unit]), stream 2t (hidden) / 2t+1 (visible) */\n"
        f"void {P}_sample_hidden(const uint32_t *thr, uint32_t seed, int32_t t, {wt} *h);\n"
        f"void {P}_sample_visible(const uint32_t *thr, uint32_t seed, int32_t t, {wt} *v_next);\n\n"
        f"#endif /* {M}_H_ */\n")

    w = [banner(f"{P}_weights.h", "rbm", wb, net.meta)]
    w.append(f"#ifndef {M}_WEIGHTS_H_\n#define {M}_WEIGHTS_H_\n"
             f"/* const arrays (flash); included by {P}.c only. */\n\n")
    w.append(c_array(C_WORD_TYPES[wb], f"{P}_xi_t", packed_rows(net.weight.T, wb),
                     f"xi^T: {p} hidden rows x {vw} words (K = N = {n})"))
    w.append(c_array(C_WORD_TYPES[wb], f"{P}_xi", packed_rows(net.weight, wb),
                     f"xi: {n} visible rows x {hw} words (K = P = {p})"))
    if h_units:
        w.append(c_array("int32_t", f"{P}_map_t", net.map_thresholds,
                         "MAP thresholds: h_a = (X_a >= map_t[a]), the least X with X/sqrt(N) + c_a >= 0"))
    for name, k, what in (("p_hidden", n, f"P(h = +1 | X = 2j - {n}) as float32 bit patterns, j = (X + {n}) >> 1"),
                          ("t_hidden", n, f"uint32 acceptance thresholds for hidden draws, j = (X + {n}) >> 1"),
                          ("t_visible", p, f"uint32 acceptance thresholds for visible draws, j = (Y + {p}) >> 1")):
        if name not in small:
            w.append(c_array("uint32_t", f"{P}_{name}", _u32(tables[name]), f"{what}, j = 0..{k}"))
            continue
        ct = small[name]
        w.append(c_array("uint32_t", f"{P}_{name}", _u32(ct.values),
                         f"{what}: {ct.rows} unit rows of j = 0..{k}, row r stored over j = lo[r]..hi[r] at off[r] "
                         f"({ct.values.size} of {ct.rows * (k + 1)} entries; outside its span a row repeats the "
                         f"span's end entries)"))
        for part in ("lo", "hi", "off"):
            w.append(c_array("int32_t", f"{P}_{name}_{part}", getattr(ct, part), f"{name} rows: {part}"))
        w.append(f"static const lp_unit_table {P}_{name}_units = {{{P}_{name}, {P}_{name}_lo, {P}_{name}_hi, "
                 f"{P}_{name}_off}};\n")
    w.append(f"\n#endif /* {M}_WEIGHTS_H_ */\n")

    pack = inp.pack("v", "vp", n, names)
    c = [banner(f"{P}.c", "rbm", wb, net.meta)]
    c.append(f'#include "{P}.h"\n\n#undef LOWPREC_WORD_BITS\n#define LOWPREC_WORD_BITS {wb}\n'
             f'#include "{KERNEL_FILE}"\n#include "{P}_weights.h"\n\n')
    c.append(f"void {P}_pack_visible(const {P}_input_t *v, {wt} *vp)\n{{\n    {pack}\n}}\n\n")
    c.append(f"void {P}_hidden_field(const {wt} *vp, int32_t *x)\n{{\n"
             f"    lp_xnor_gemv(vp, {P}_xi_t, {n}, {p}, x);\n}}\n\n")
    if h_units:
        c.append(f"void {P}_hidden_bits(const int32_t *x, {wt} *h)\n{{\n    int32_t a, w;\n"
                 f"    for (w = 0; w < {hw}; ++w)\n        h[w] = 0;\n"
                 f"    for (a = 0; a < {p}; ++a)\n"
                 f"        h[a / {wb}] |= ({wt})(x[a] >= {P}_map_t[a]) << (a % {wb});\n}}\n\n")
    else:
        c.append(f"void {P}_hidden_bits(const int32_t *x, {wt} *h)\n{{\n    lp_sign_pack(x, {p}, h);\n}}\n\n")
    c.append(f"void {P}_hidden_prob(const int32_t *x, uint32_t *prob)\n{{\n"
             f"    {lookup('p_hidden', 'x', n, p, 'prob')}\n}}\n\n")
    c.append(f"void {P}_visible_field(const {wt} *h, int32_t *y)\n{{\n"
             f"    lp_xnor_gemv(h, {P}_xi, {p}, {n}, y);\n}}\n\n")
    c.append(f"void {P}_gibbs_step(const {wt} *v, uint32_t seed, int32_t t, {wt} *h, {wt} *v_next)\n{{\n"
             f"    lp_xnor_sample(v, {P}_xi_t, {n}, {p}, {sample_args('t_hidden')}, seed, (uint32_t)(2 * t), h);\n"
             f"    lp_xnor_sample(h, {P}_xi, {p}, {n}, {sample_args('t_visible')}, seed, (uint32_t)(2 * t + 1), "
             f"v_next);\n}}\n\n")
    c.append(f"void {P}_hidden_thresholds(const int32_t *x, uint32_t *thr)\n{{\n"
             f"    {lookup('t_hidden', 'x', n, p, 'thr')}\n}}\n\n")
    c.append(f"void {P}_visible_thresholds(const int32_t *y, uint32_t *thr)\n{{\n"
             f"    {lookup('t_visible', 'y', p, n, 'thr')}\n}}\n\n")
    c.append(f"void {P}_sample_hidden(const uint32_t *thr, uint32_t seed, int32_t t, {wt} *h)\n{{\n"
             f"    lp_bernoulli_pack(thr, {p}, seed, (uint32_t)(2 * t), h);\n}}\n\n")
    c.append(f"void {P}_sample_visible(const uint32_t *thr, uint32_t seed, int32_t t, {wt} *v_next)\n{{\n"
             f"    lp_bernoulli_pack(thr, {n}, seed, (uint32_t)(2 * t + 1), v_next);\n}}\n")
    return {f"{P}.h": "".join(h), f"{P}_weights.h": "".join(w), f"{P}.c": "".join(c)}


def _u32(table: np.ndarray) -> np.ndarray:
    """A table's entries as uint32, flattened (float32 probabilities as their bit patterns, copied exactly)."""
    t = np.ascontiguousarray(table)
    return (t.view(np.uint32) if t.dtype == np.float32 else t.astype(np.uint32)).ravel()
