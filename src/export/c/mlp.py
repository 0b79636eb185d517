"""C text of an ``MLPNetwork``: public header (sizes, scratch macros, prototypes), weights header, source.

Forward pass of layer l (K_l inputs, N_l outputs):
    fields_l = gemv(bits_{l-1}, W_l)              int32, exact (+-1 / ternary / bit-plane kernels)
    bits_l   = (s_l * fields_l >= t_l)            hidden layers, packed words
    scores   = scale * fields_L + offset          int64 output scores; class = first index of the maximum
"""
from __future__ import annotations

import numpy as np

from export.c.arrays import C_WORD_TYPES, c_array, packed_rows, packed_ternary_rows
from export.c.common import KERNEL_FILE, InputStage, Names, banner, input_stage
from export.network import MLPNetwork

__all__ = ["mlp_files"]


def _nw(k: int, wb: int) -> int:
    return -(-k // wb)


def mlp_files(net: MLPNetwork, word_bits: int, names: Names) -> dict[str, str]:
    """``{prefix}.h``, ``{prefix}_weights.h`` and ``{prefix}.c`` for ``net`` at ``word_bits``."""
    wb = word_bits
    P, M = names.prefix, names.M
    wt = f"{P}_word_t"
    inp: InputStage = input_stage(net.input, wb, names)
    layers = net.layers
    n_hidden = len(net.hidden)
    sizes = [(d.shape[1], d.shape[0]) for d in layers]          # (K_l, N_l)
    tern = [d.ternary for d in layers]
    f_off = np.concatenate([[0], np.cumsum([n for _, n in sizes])]).astype(int)
    b_words = [_nw(n, wb) for _, n in sizes[:-1]]
    b_off = np.concatenate([[0], np.cumsum(b_words)]).astype(int) if b_words else np.zeros(1, int)
    n_classes = sizes[-1][1]
    # predict(): input words in region A, hidden bits ping-pong between B and A (see the .c)
    max_bits = max(b_words) if b_words else 0
    region_a = max(inp.words, max_bits)
    predict_words = region_a + max_bits
    predict_ints = max(n for _, n in sizes)

    # ------------------------------------------------------------------ public header
    h = [banner(f"{P}.h", "mlp", wb, net.meta)]
    h.append(f"#ifndef {M}_H_\n#define {M}_H_\n\n#include <stdint.h>\n\n")
    h.append(f"#define {M}_KIND_MLP 1\n#define {M}_LAYOUT_VERSION 1\n#define {M}_WORD_BITS {wb}\n")
    h.append(f"typedef {C_WORD_TYPES[wb]} {wt};\n\n")
    h.append(f"/* input: {inp.description} */\n")
    h.append(f"#define {M}_INPUT_KIND_{net.input.kind.upper()} 1\n")
    h.append(f"#define {M}_N_INPUT {net.input.size}\ntypedef {inp.ctype} {P}_input_t;\n{inp.macros}\n")
    h.append(f"#define {M}_N_LAYERS {len(layers)}\n#define {M}_N_HIDDEN {n_hidden}\n")
    for i, ((k, n), t) in enumerate(zip(sizes, tern)):
        h.append(f"#define {M}_LAYER{i}_IN {k}\n#define {M}_LAYER{i}_OUT {n}\n"
                 f"#define {M}_LAYER{i}_WORDS {_nw(k, wb)} /* words per weight row */\n"
                 f"#define {M}_LAYER{i}_TERNARY {int(t)}\n"
                 f"#define {M}_FIELD_OFFSET_{i} {f_off[i]}\n")
        if i < n_hidden:
            h.append(f"#define {M}_BITS_OFFSET_{i} {b_off[i]} /* words */\n")
    h.append(f"#define {M}_N_CLASSES {n_classes}\n")
    h.append(f"/* the same sizes as initializer lists, for loops over layers */\n"
             f"#define {M}_LAYER_OUTS_INIT {{{', '.join(str(n) for _, n in sizes)}}}\n"
             f"#define {M}_FIELD_OFFSETS_INIT {{{', '.join(str(int(o)) for o in f_off[:-1])}}}\n"
             f"#define {M}_BITS_OFFSETS_INIT {{{', '.join(str(int(o)) for o in b_off[:max(1, n_hidden)])}}}"
             f"{' /* no hidden layer: placeholder */' if not n_hidden else ''}\n\n")
    h.append("/* caller-provided buffers (no malloc anywhere) */\n")
    h.append(f"#define {M}_FIELDS_LEN {int(f_off[-1])} /* int32: the fields of every layer, concatenated */\n")
    h.append(f"#define {M}_BITS_WORDS {max(1, int(b_off[-1]))} /* words: the bits of every hidden layer */\n")
    h.append(f"#define {M}_SCRATCH_WORDS {inp.words} /* words: the packed input */\n")
    h.append(f"#define {M}_PREDICT_WORDS {predict_words} /* words of predict() scratch */\n")
    h.append(f"#define {M}_PREDICT_INTS {predict_ints} /* int32 of predict() scratch */\n\n")
    h.append(
        f"/* Full forward pass of one input row x[{M}_N_INPUT], every intermediate kept:\n"
        f" *   fields[{M}_FIELDS_LEN]  int32 fields of layer l at {M}_FIELD_OFFSET_l (output layer last)\n"
        f" *   bits[{M}_BITS_WORDS]    thresholded bits of hidden layer l at {M}_BITS_OFFSET_l (bit layout v1)\n"
        f" *   scores[{M}_N_CLASSES]   int64 class scores; returns the class index (first maximum)\n"
        f" *   scratch[{M}_SCRATCH_WORDS] packed input */\n"
        f"#ifndef {M}_PREDICT_ONLY /* define it when compiling to leave forward() out (a deployment needs predict) */\n"
        f"int32_t {P}_forward(const {P}_input_t *x, {wt} *scratch, int32_t *fields, {wt} *bits, "
        f"int64_t *scores);\n#endif\n\n"
        f"/* Class index only, with the smallest scratch: wscratch[{M}_PREDICT_WORDS], iscratch[{M}_PREDICT_INTS]. */\n"
        f"int32_t {P}_predict(const {P}_input_t *x, {wt} *wscratch, int32_t *iscratch);\n\n"
        f"#endif /* {M}_H_ */\n")

    # ------------------------------------------------------------------ weights header
    w = [banner(f"{P}_weights.h", "mlp", wb, net.meta)]
    w.append(f"#ifndef {M}_WEIGHTS_H_\n#define {M}_WEIGHTS_H_\n"
             f"/* const arrays (flash); included by {P}.c only. */\n\n")
    for i, (d, t) in enumerate(zip(layers, tern)):
        k, n = sizes[i]
        bitplane = i == 0 and inp.bitplanes
        if t:
            s_words, m_words = packed_ternary_rows(d.weight, wb)
            w.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}_sign", s_words,
                             f"layer {i}: ternary sign plane, {n} rows x {_nw(k, wb)} words (K = {k})"))
            w.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}_mask", m_words,
                             f"layer {i}: ternary nonzero mask, {n} rows x {_nw(k, wb)} words"))
            if not bitplane:
                w.append(c_array("int32_t", f"{P}_w{i}_nnz", np.count_nonzero(d.weight, axis=1),
                                 f"layer {i}: nonzero weights per row (= popcount of the mask row)"))
        else:
            w.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}", packed_rows(d.weight, wb),
                             f"layer {i}: +-1 weights, {n} rows x {_nw(k, wb)} words (K = {k})"))
        if i < n_hidden:
            thr = net.hidden[i][1]
            w.append(c_array("int8_t", f"{P}_s{i}", thr.s, f"layer {i}: threshold signs, bit = (s * y >= t)"))
            w.append(c_array("int32_t", f"{P}_t{i}", thr.t, f"layer {i}: thresholds"))
    aff = net.output[1]
    w.append(c_array("int64_t", f"{P}_scale", aff.scale, "output scores = scale * y + offset (int64)"))
    w.append(c_array("int64_t", f"{P}_offset", aff.offset, "output offsets"))
    w.append(f"\n#endif /* {M}_WEIGHTS_H_ */\n")

    # ------------------------------------------------------------------ source
    def gemv(i: int, src: str, dst: str) -> str:
        k, n = sizes[i]
        if i == 0 and inp.bitplanes:
            if tern[0]:
                return f"lp_ternary_bitplane_gemv({src}, {P}_w0_sign, {P}_w0_mask, {k}, {n}, {dst});"
            return f"lp_bitplane_gemv({src}, pop, {P}_w0, {k}, {n}, {dst});"
        if tern[i]:
            return f"lp_ternary_gemv({src}, {P}_w{i}_sign, {P}_w{i}_mask, {P}_w{i}_nnz, {k}, {n}, {dst});"
        return f"lp_xnor_gemv({src}, {P}_w{i}, {k}, {n}, {dst});"

    def thresh(i: int, src: str, dst: str) -> str:
        return f"lp_threshold_pack({src}, {P}_s{i}, {P}_t{i}, {sizes[i][1]}, {dst});"

    pop_decl = "    int32_t pop[8];\n" if inp.bitplanes else ""
    planes_only = inp.bitplanes and tern[0]  # ternary bit-plane kernel recomputes plane counts itself
    if planes_only:
        pop_decl = "    int32_t pop[8]; /* plane popcounts (unused by the ternary bit-plane kernel) */\n"
    c = [banner(f"{P}.c", "mlp", wb, net.meta)]
    c.append(f'#include "{P}.h"\n\n#undef LOWPREC_WORD_BITS\n#define LOWPREC_WORD_BITS {wb}\n'
             f'#include "{KERNEL_FILE}"\n#include "{P}_weights.h"\n\n')
    # forward: all intermediates
    body = [f"#ifndef {M}_PREDICT_ONLY\n"
            f"int32_t {P}_forward(const {P}_input_t *x, {wt} *scratch, int32_t *fields, {wt} *bits, "
            f"int64_t *scores)\n{{\n{pop_decl}"]
    body.append(f"    {inp.pack('x', 'scratch', net.input.size, names)}\n")
    src = "scratch"
    for i in range(len(layers)):
        fdst = f"fields + {f_off[i]}"
        body.append(f"    {gemv(i, src, fdst)}\n")
        if i < n_hidden:
            bdst = f"bits + {b_off[i]}"
            body.append(f"    {thresh(i, fdst, bdst)}\n")
            src = bdst
    if planes_only:
        body.append("    (void)pop;\n")
    if not n_hidden:
        body.append("    (void)bits; /* no hidden layer: no thresholded bits */\n")
    body.append(f"    return lp_affine_argmax(fields + {f_off[len(layers) - 1]}, {P}_scale, {P}_offset, "
                f"{n_classes}, scores);\n}}\n#endif /* {M}_PREDICT_ONLY */\n\n")
    c.extend(body)
    # predict: input in region A; hidden layer l writes its bits to B (l even) or A (l odd); fields and
    # the class scores are not kept (lp_affine_argmax with a null scores pointer).
    body = [f"int32_t {P}_predict(const {P}_input_t *x, {wt} *wscratch, int32_t *iscratch)\n{{\n{pop_decl}"]
    body.append(f"    {wt} *a = wscratch, *b = wscratch + {region_a};\n")
    body.append("    int32_t *y = iscratch;\n")
    body.append(f"    {inp.pack('x', 'a', net.input.size, names)}\n")
    src = "a"
    for i in range(len(layers)):
        body.append(f"    {gemv(i, src, 'y')}\n")
        if i < n_hidden:
            dst = "b" if i % 2 == 0 else "a"
            body.append(f"    {thresh(i, 'y', dst)}\n")
            src = dst
    if n_hidden % 2 == 0 and max_bits == 0:
        body.append("    (void)b;\n")
    if planes_only:
        body.append("    (void)pop;\n")
    body.append(f"    return lp_affine_argmax(y, {P}_scale, {P}_offset, {n_classes}, 0);\n}}\n")
    c.extend(body)
    return {f"{P}.h": "".join(h), f"{P}_weights.h": "".join(w), f"{P}.c": "".join(c)}
