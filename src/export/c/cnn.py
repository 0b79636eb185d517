"""C text of a ``CNNNetwork``: public header (sizes, buffer macros, output table, prototypes), weights, source.

Activations stay packed per pixel (NHWC; LP_NWORDS(C) words per pixel at the C word width). Each conv layer
is computed one output pixel at a time (``lp_*_conv_pixel`` in the kernel header: the k x k window's pixel
words are XORed/ANDed with the weight words in place, positions outside the image reading the layer's pad
value), so no im2col buffer exists; the O fields of that pixel are thresholded into its output words at once.
Max-pool after the threshold (pool "bits") is the OR of 2x2 pixel words; before it (pool "fields", the order
conv -> max-pool -> BN -> sign) it is the max of 2x2 pixels' int32 fields, thresholded once per pooled pixel
(``predict`` keeps a running max of the four window pixels' fields: 2 O int32s, no full field map). Flatten
repacks the pixel words into one bit row, then the dense layers run as in the MLP emitter.

``P_forward`` keeps every intermediate (the verifier compares them with the ONNX outputs). ``P_predict`` keeps
no feature map but the last one: the conv blocks stream rows, each reading a buffer of k input rows (k + 1
before a "fields" pool) that its producer fills on demand, pooling fused into the conv row loop (OR of the
thresholded bits, or the running max of the fields), so a pooled layer's full-size map never exists
(:func:`predict_source`, :class:`PredictPlan`); the int32 scratch is one output pixel's fields (two for a
"fields" pool), a word's worth of a hidden dense layer's (thresholded a word at a time) or the output layer's.
Compiling with
``M_PREDICT_ONLY`` defined leaves ``P_forward`` out (what a deployment and the device measurement build).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.c.arrays import C_WORD_TYPES, c_array, packed_rows, packed_ternary_rows
from export.c.common import KERNEL_FILE, InputStage, Names, banner, input_stage
from export.network import CNNNetwork

__all__ = ["cnn_files", "predict_plan", "PredictPlan", "predict_scratch", "OUT_FIELDS", "OUT_BITS"]

OUT_FIELDS, OUT_BITS = 0, 1   # kinds of the output table the harness walks


_POOL_TEXT = {False: "", "bits": ", 2x2 max-pool of the bits (OR)",
              "fields": ", 2x2 max-pool of the int32 fields before the threshold"}


def _nw(k: int, wb: int) -> int:
    return -(-k // wb)


@dataclass(frozen=True)
class PredictPlan:
    """Where ``P_predict`` keeps what in ``wscratch`` (offsets and sizes in words) and how many int32s it needs.

    Conv phase: ``map`` (offset 0) holds the last conv block's whole output (it is flattened); conv block i
    reads its input from ``row_buffers[i]`` = (offset, rows, words per row), a buffer of ``rows`` consecutive
    input rows (k rows, k + 1 for a "fields" pool that needs two conv rows at once; all rows when the image
    is not taller), or ``None`` for a bit-plane first layer, which reads the caller's pixels. Dense phase (the
    row buffers are dead): the flattened row at ``flat`` (= the map itself when C is a multiple of the word width: the
    per-pixel words are then already the flat layout) and the two ping-pong regions ``dense`` of the hidden
    bits. ``words`` = the larger phase; ``ints`` = one output pixel's fields (two for a "fields" pool: the
    window pixel and the running max), one word's worth of a hidden dense layer's fields (they are
    thresholded a word at a time) or the output layer's fields (left in ``iscratch`` on return)."""

    map_words: int
    row_buffers: tuple[tuple[int, int, int] | None, ...]
    flat: int
    flat_aliased: bool
    dense: tuple[int, int]
    words: int
    ints: int


def predict_plan(net: CNNNetwork, word_bits: int) -> PredictPlan:
    """The scratch plan of ``P_predict`` for ``net`` at ``word_bits`` (see :class:`PredictPlan`)."""
    wb = word_bits
    shapes = net.feature_shapes()
    hl, wl, cl = shapes[-1]
    map_words = hl * wl * _nw(cl, wb)
    bufs: list[tuple[int, int, int] | None] = []
    off = map_words
    for i, (conv, _, pool) in enumerate(net.features):
        h, w, c = shapes[i]
        if i == 0 and net.input.kind == "bitplanes":
            bufs.append(None)
            continue
        rows = min(h, conv.kernel + (1 if pool == "fields" else 0))
        bufs.append((off, rows, w * _nw(c, wb)))
        off += rows * w * _nw(c, wb)
    aliased = cl % wb == 0
    flat = 0 if aliased else map_words
    flat_words = _nw(net.flat_size, wb)
    hidden = max([_nw(d.shape[0], wb) for d, _ in net.hidden], default=0)
    a_words = max(flat_words, hidden)
    dense = (flat, flat + a_words)
    words = max(off, flat + a_words + hidden)
    # one output pixel's fields (a "fields" pool: the window pixel's and the running max), a word's worth of a
    # hidden dense layer's fields (lp_gemv_threshold), the output layer's fields
    ints = max([cv.out_channels * (2 if p == "fields" else 1) for cv, _, p in net.features]
               + ([wb] if net.hidden else []) + [net.output[0].shape[0]])
    return PredictPlan(map_words, tuple(bufs), flat, aliased, dense, words, ints)


def predict_scratch(net: CNNNetwork, word_bits: int) -> tuple[int, int]:
    """(words, int32s) of ``P_predict``'s scratch (:func:`predict_plan`)."""
    plan = predict_plan(net, word_bits)
    return plan.words, plan.ints


def cnn_files(net: CNNNetwork, word_bits: int, names: Names) -> dict[str, str]:
    """``{prefix}.h``, ``{prefix}_weights.h`` and ``{prefix}.c`` for ``net`` at ``word_bits``."""
    wb = word_bits
    P, M = names.prefix, names.M
    wt = f"{P}_word_t"
    inp: InputStage = input_stage(net.input, wb, names)
    pixels = net.input.kind == "bitplanes"
    shapes = net.feature_shapes()
    n_conv = len(net.features)

    # ---- buffer plan of forward(): fields (int32) and bits (words), with the output table in graph order
    fields_len = bits_len = 0
    table: list[tuple[int, int, int, int, str]] = []   # (kind, offset, groups, bits per group, name)
    plan = {}

    def add_bits(name: str, groups: int, n: int) -> int:
        nonlocal bits_len
        off = bits_len
        bits_len += groups * _nw(n, wb)
        table.append((OUT_BITS, off, groups, n, name))
        return off

    def add_fields(name: str, n: int) -> int:
        nonlocal fields_len
        off = fields_len
        fields_len += n
        table.append((OUT_FIELDS, off, 1, n, name))
        return off

    h0, w0, c0 = shapes[0]
    if not pixels:
        plan["xp"] = add_bits("xp", h0 * w0, c0)
    for i, (conv, _, pool) in enumerate(net.features):
        h, w, _ = shapes[i]
        o = conv.out_channels
        plan[f"y{i}"] = add_fields(f"y{i}", h * w * o)
        if pool == "fields":
            plan[f"m{i}"] = add_fields(f"m{i}", (h // 2) * (w // 2) * o)
            plan[f"h{i}"] = add_bits(f"h{i}", (h // 2) * (w // 2), o)
            continue
        plan[f"h{i}"] = add_bits(f"h{i}", h * w, o)
        if pool:
            plan[f"p{i}"] = add_bits(f"p{i}", (h // 2) * (w // 2), o)
    hf, wf, cf = shapes[-1]
    flat_k = hf * wf * cf
    plan["flat"] = add_bits("flat", 1, flat_k)
    dense = [d for d, _ in net.hidden] + [net.output[0]]
    for j, d in enumerate(dense, start=n_conv):
        plan[f"y{j}"] = add_fields(f"y{j}", d.shape[0])
        if j < n_conv + len(net.hidden):
            plan[f"h{j}"] = add_bits(f"h{j}", 1, d.shape[0])
    n_classes = net.output[0].shape[0]
    # predict(): row buffers of the conv inputs, the last conv map, the dense ping-pong (predict_plan)
    pplan = predict_plan(net, wb)

    # ------------------------------------------------------------------ public header
    hd = [banner(f"{P}.h", "cnn", wb, net.meta)]
    hd.append(f"#ifndef {M}_H_\n#define {M}_H_\n\n#include <stdint.h>\n\n")
    hd.append(f"#define {M}_KIND_CNN 1\n#define {M}_LAYOUT_VERSION 1\n#define {M}_WORD_BITS {wb}\n")
    hd.append(f"typedef {C_WORD_TYPES[wb]} {wt};\n\n")
    hd.append(f"/* input: the image flattened in (row, column, channel) order; {inp.description} */\n")
    hd.append(f"#define {M}_INPUT_KIND_{net.input.kind.upper()} 1\n")
    hd.append(f"#define {M}_N_INPUT {net.input.size}\ntypedef {inp.ctype} {P}_input_t;\n{inp.macros}\n")
    hd.append(f"#define {M}_IMAGE_H {h0}\n#define {M}_IMAGE_W {w0}\n#define {M}_IMAGE_C {c0}\n")
    hd.append(f"#define {M}_N_CONV {n_conv}\n#define {M}_N_DENSE {len(dense)}\n#define {M}_N_CLASSES {n_classes}\n")
    for i, (conv, _, pool) in enumerate(net.features):
        h, w, c = shapes[i]
        hd.append(f"/* conv {i}: {h}x{w}x{c} -> {h}x{w}x{conv.out_channels}, {conv.kernel}x{conv.kernel}, "
                  f"pad {conv.pad:+d}{_POOL_TEXT[pool]}{', ternary' if conv.ternary else ''} */\n")
    hd.append("\n/* caller-provided buffers of forward() (no malloc anywhere) */\n")
    hd.append(f"#define {M}_FIELDS_LEN {max(1, fields_len)} /* int32: every layer's fields, concatenated */\n")
    hd.append(f"#define {M}_BITS_WORDS {max(1, bits_len)} /* words: every packed activation, concatenated */\n")
    hd.append(f"#define {M}_PREDICT_WORDS {pplan.words} /* words of predict() scratch: the conv inputs' row "
              f"buffers and the last conv map, then the dense rows */\n")
    for i, buf in enumerate(pplan.row_buffers):
        if buf is not None:
            hd.append(f"#define {M}_CONV{i}_BUFFER_ROWS {buf[1]} /* input rows of conv {i} held by predict() "
                      f"({buf[2]} words each) */\n")
    hd.append(f"#define {M}_PREDICT_INTS {pplan.ints} /* int32 of predict() scratch: one pixel's / layer's "
              f"fields */\n\n")
    hd.append("/* forward()'s outputs in ONNX graph order: kind 0 = int32 fields (BITS values at OFFSET of fields),\n"
              " * kind 1 = GROUPS packed rows of BITS bits, LP_NWORDS(BITS) words each, at OFFSET of bits */\n")
    hd.append(f"/* names: {', '.join(t[4] for t in table)} */\n")
    hd.append(f"#define {M}_N_OUTPUTS {len(table)}\n")
    for key, col in (("KIND", 0), ("OFFSET", 1), ("GROUPS", 2), ("BITS", 3)):
        hd.append(f"#define {M}_OUT_{key}_INIT {{{', '.join(str(t[col]) for t in table)}}}\n")
    hd.append(
        f"\n/* Full forward pass of one image x[{M}_N_INPUT], every intermediate kept in fields[{M}_FIELDS_LEN]\n"
        f" * and bits[{M}_BITS_WORDS] (see the output table); scores[{M}_N_CLASSES] int64; returns the class\n"
        f" * index (first maximum). */\n"
        f"#ifndef {M}_PREDICT_ONLY /* define it when compiling to leave forward() out (a deployment needs predict) */\n"
        f"int32_t {P}_forward(const {P}_input_t *x, int32_t *fields, {wt} *bits, int64_t *scores);\n#endif\n\n"
        f"/* Class index only: wscratch[{M}_PREDICT_WORDS], iscratch[{M}_PREDICT_INTS]; on return\n"
        f" * iscratch[0 .. {M}_N_CLASSES) holds the output layer's int32 fields (as forward() computes them). */\n"
        f"int32_t {P}_predict(const {P}_input_t *x, {wt} *wscratch, int32_t *iscratch);\n\n"
        f"#endif /* {M}_H_ */\n")

    # ------------------------------------------------------------------ weights header
    wh = [banner(f"{P}_weights.h", "cnn", wb, net.meta)]
    wh.append(f"#ifndef {M}_WEIGHTS_H_\n#define {M}_WEIGHTS_H_\n/* const arrays (flash); included by {P}.c only. */\n\n")
    for i, (conv, thr, _) in enumerate(net.features):
        o, k, c = conv.out_channels, conv.kernel, conv.in_channels
        rows = conv.weight.reshape(o * k * k, c)
        what = f"conv {i}: {o} x {k} x {k} pixels of {_nw(c, wb)} words (C = {c})"
        if conv.ternary:
            s, m = packed_ternary_rows(rows, wb)
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}_sign", s, f"{what}, ternary sign plane"))
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}_mask", m, f"{what}, nonzero mask"))
        else:
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{i}", packed_rows(rows, wb), f"{what}, +-1"))
        wh.append(c_array("int8_t", f"{P}_s{i}", thr.s, f"conv {i}: threshold signs, bit = (s * y >= t)"))
        wh.append(c_array("int32_t", f"{P}_t{i}", thr.t, f"conv {i}: thresholds"))
    for j, d in enumerate(dense, start=n_conv):
        n, k = d.shape
        if d.ternary:
            s, m = packed_ternary_rows(d.weight, wb)
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{j}_sign", s, f"layer {j}: ternary sign plane, {n} rows (K = {k})"))
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{j}_mask", m, f"layer {j}: ternary nonzero mask"))
            wh.append(c_array("int32_t", f"{P}_w{j}_nnz", np.count_nonzero(d.weight, axis=1),
                              f"layer {j}: nonzero weights per row"))
        else:
            wh.append(c_array(C_WORD_TYPES[wb], f"{P}_w{j}", packed_rows(d.weight, wb),
                              f"layer {j}: +-1 weights, {n} rows (K = {k})"))
        if j < n_conv + len(net.hidden):
            thr = net.hidden[j - n_conv][1]
            wh.append(c_array("int8_t", f"{P}_s{j}", thr.s, f"layer {j}: threshold signs"))
            wh.append(c_array("int32_t", f"{P}_t{j}", thr.t, f"layer {j}: thresholds"))
    aff = net.output[1]
    wh.append(c_array("int64_t", f"{P}_scale", aff.scale, "output scores = scale * y + offset (int64)"))
    wh.append(c_array("int64_t", f"{P}_offset", aff.offset, "output offsets"))
    wh.append(f"\n#endif /* {M}_WEIGHTS_H_ */\n")

    # ------------------------------------------------------------------ source
    def pack_input(dst: str) -> str:
        nwc = _nw(c0, wb)
        return (f"    {{\n        int32_t p;\n        for (p = 0; p < {h0 * w0}; ++p)\n"
                f"            {inp.pack(f'x + (long)p * {c0}', f'{dst} + (long)p * {nwc}', c0, names)}\n    }}\n")

    def conv_call(i: int, src: str, y: str) -> str:
        return _conv_call(net, i, names, src, None, y)

    def conv_layer(i: int, src: str, y_base: str | None, dst: str, y_scratch: str) -> str:
        conv = net.features[i][0]
        h, w, _ = shapes[i]
        o = conv.out_channels
        y = f"{y_base} + ((long)i * {w} + j) * {o}" if y_base else y_scratch
        return (f"    {{\n        int32_t i, j;\n        for (i = 0; i < {h}; ++i)\n            for (j = 0; j < {w}; ++j) {{\n"
                f"                {conv_call(i, src, y)}\n"
                f"                lp_threshold_pack({y}, {P}_s{i}, {P}_t{i}, {o}, {dst} + ((long)i * {w} + j) * {_nw(o, wb)});\n"
                f"            }}\n    }}\n")

    def fields_pool_forward(i: int, src: str) -> str:
        """conv -> max-pool -> threshold, every intermediate kept: fields y{i}, pooled fields m{i}, bits h{i}."""
        conv, _, _ = net.features[i]
        h, w, _ = shapes[i]
        o = conv.out_channels
        y, m = f"fields + {plan[f'y{i}']}", f"fields + {plan[f'm{i}']}"
        return (f"    {{\n        int32_t i, j, p;\n        for (i = 0; i < {h}; ++i)\n            for (j = 0; j < {w}; ++j)\n"
                f"                {conv_call(i, src, f'{y} + ((long)i * {w} + j) * {o}')}\n"
                f"        lp_max_pool2_fields({y}, {h}, {w}, {o}, {m});\n"
                f"        for (p = 0; p < {(h // 2) * (w // 2)}; ++p)\n"
                f"            lp_threshold_pack({m} + (long)p * {o}, {P}_s{i}, {P}_t{i}, {o}, "
                f"bits + {plan[f'h{i}']} + (long)p * {_nw(o, wb)});\n    }}\n")

    def pool(i: int, src: str, dst: str) -> str:
        h, w, _ = shapes[i]
        return f"    lp_or_pool2({src}, {h}, {w}, {_nw(net.features[i][0].out_channels, wb)}, {dst});\n"

    def gemv(j: int, src: str, dst: str) -> str:
        d = dense[j - n_conv]
        n, k = d.shape
        if d.ternary:
            return f"    lp_ternary_gemv({src}, {P}_w{j}_sign, {P}_w{j}_mask, {P}_w{j}_nnz, {k}, {n}, {dst});\n"
        return f"    lp_xnor_gemv({src}, {P}_w{j}, {k}, {n}, {dst});\n"

    last = n_conv + len(dense) - 1
    src_c = [banner(f"{P}.c", "cnn", wb, net.meta)]
    src_c.append(f'#include "{P}.h"\n\n#undef LOWPREC_WORD_BITS\n#define LOWPREC_WORD_BITS {wb}\n'
                 f'#include "{KERNEL_FILE}"\n#include "{P}_weights.h"\n\n')
    # forward: everything kept at its planned offset
    body = [f"#ifndef {M}_PREDICT_ONLY\n"
            f"int32_t {P}_forward(const {P}_input_t *x, int32_t *fields, {wt} *bits, int64_t *scores)\n{{\n"]
    cur = "x"
    if not pixels:
        body.append(pack_input(f"bits + {plan['xp']}"))
        cur = f"bits + {plan['xp']}"
    for i, (_, _, p) in enumerate(net.features):
        if p == "fields":
            body.append(fields_pool_forward(i, cur))
            cur = f"bits + {plan[f'h{i}']}"
            continue
        body.append(conv_layer(i, cur, f"fields + {plan[f'y{i}']}", f"bits + {plan[f'h{i}']}", ""))
        cur = f"bits + {plan[f'h{i}']}"
        if p:
            body.append(pool(i, cur, f"bits + {plan[f'p{i}']}"))
            cur = f"bits + {plan[f'p{i}']}"
    body.append(f"    lp_flatten_bits({cur}, {hf * wf}, {cf}, bits + {plan['flat']});\n")
    cur = f"bits + {plan['flat']}"
    for j in range(n_conv, last + 1):
        body.append(gemv(j, cur, f"fields + {plan[f'y{j}']}"))
        if j < last:
            body.append(f"    lp_threshold_pack(fields + {plan[f'y{j}']}, {P}_s{j}, {P}_t{j}, {dense[j - n_conv].shape[0]}, "
                        f"bits + {plan[f'h{j}']});\n")
            cur = f"bits + {plan[f'h{j}']}"
    body.append(f"    return lp_affine_argmax(fields + {plan[f'y{last}']}, {P}_scale, {P}_offset, {n_classes}, "
                f"scores);\n}}\n#endif /* {M}_PREDICT_ONLY */\n\n")
    src_c.extend(body)
    src_c.append(predict_source(net, wb, names, inp, pplan))
    return {f"{P}.h": "".join(hd), f"{P}_weights.h": "".join(wh), f"{P}.c": "".join(src_c)}


def _conv_call(net: CNNNetwork, i: int, names: Names, src: str, row0: str | None, y: str,
               i_var: str = "i", j_var: str = "j") -> str:
    """C call computing conv block i's fields of output pixel (i_var, j_var) into ``y``: from the caller's
    pixels (bit-plane first layer), the whole map ``src`` (row0 None) or a row buffer at ``src`` whose first
    row is image row ``row0``."""
    P = names.prefix
    conv = net.features[i][0]
    h, w, c = net.feature_shapes()[i]
    o, k = conv.out_channels, conv.kernel
    if i == 0 and net.input.kind == "bitplanes":
        s, m = (f"{P}_w0_sign", f"{P}_w0_mask") if conv.ternary else (f"{P}_w0", "0")
        return f"lp_pixel_conv_pixel(x, {h}, {w}, {c}, {i_var}, {j_var}, {s}, {m}, {k}, {o}, {conv.pad}, {y});"
    one = int(conv.pad == 1)
    fn, rows = ("", "") if row0 is None else ("_rows", f"{row0}, ")
    if conv.ternary:
        return (f"lp_ternary_conv_pixel{fn}({src}, {rows}{h}, {w}, {c}, {i_var}, {j_var}, {P}_w{i}_sign, "
                f"{P}_w{i}_mask, {k}, {o}, {one}, {y});")
    return f"lp_xnor_conv_pixel{fn}({src}, {rows}{h}, {w}, {c}, {i_var}, {j_var}, {P}_w{i}, {k}, {o}, {one}, {y});"


def predict_source(net: CNNNetwork, word_bits: int, names: Names, inp: InputStage, plan: PredictPlan) -> str:
    """``P_predict``: the conv blocks stream rows through the row buffers of ``plan``, pulled by demand.

    Stage s (the input packer when the first layer reads bits, then one stage per conv block) has taken
    ``done[s]`` steps: a packed input row, a conv row (no pool, or a "bits" pool: conv row r ORs its bits into
    pooled row r/2, complete after its odd row), or a pooled row (a "fields" pool: the running max of the
    four window pixels' fields, thresholded once). Each turn of the loop steps the lowest stage on which the
    last one waits: stage s waits on s-1 while s-1 has fewer complete output rows than the rows the next
    step of s reads (its window, clipped to the image). Production is thus lazy, so a buffer of the rows one
    step reads is enough: conv block i's buffer holds image rows row0[i] .. row0[i] + rows - 1; a producer
    starts row q (shifting the buffer up one row when it is full) only when its consumer's next window
    reaches q, and that window starts at q - (k - 1) (a conv row) or q - k (the two conv rows of a "fields"
    pool step), so the rows it drops are read no more. The loop lives in predict() itself (no nested calls)
    and runs the kernels forward() runs, on the same rows, so every value equals forward()'s."""
    wb = word_bits
    P = names.prefix
    wt = f"{P}_word_t"
    shapes = net.feature_shapes()
    pixels = net.input.kind == "bitplanes"
    n_conv = len(net.features)
    h0, w0, c0 = shapes[0]
    first = 0 if pixels else 1          # stage index of conv block 0

    def avail(st: int) -> str:          # complete output rows of stage st, as C
        i = st - first
        if i >= 0 and net.features[i][2] == "bits":
            return f"done[{st}] / 2"
        return f"done[{st}]"

    def need(st: int) -> str:           # rows of its input stage st's next step reads (from the top), as C
        i = st - first
        conv, _, pool = net.features[i]
        h, r = shapes[i][0], conv.kernel // 2
        last = f"2 * done[{st}] + {2 + r}" if pool == "fields" else f"done[{st}] + {r + 1}"
        return f"lp_min_i32({last}, {h})"

    def start_row(i: int, row: str, indent: str) -> tuple[str, str]:
        """(C making room for output row ``row`` of the stage feeding conv block i, or of the last conv block's
        map when i == n_conv; the row's base address)."""
        if i == n_conv:
            hl, wl, cl = shapes[-1]
            return "", f"wscratch + (long){row} * {wl * _nw(cl, wb)}"
        off, rows, row_words = plan.row_buffers[i]
        buf = f"wscratch + {off}"
        room = (f"{indent}if ({row} - row0[{i}] == {rows}) {{\n"
                f"{indent}    lp_shift_rows({buf}, {rows}, {row_words});\n"
                f"{indent}    ++row0[{i}];\n{indent}}}\n") if rows < shapes[i][0] else ""
        return room, f"{buf} + (long)({row} - row0[{i}]) * {row_words}"

    cases = []
    ind = " " * 12
    if not pixels:
        room, base = start_row(0, "r", ind)
        nwc = _nw(c0, wb)
        pack = inp.pack(f"x + ((long)r * {w0} + j) * {c0}", f"{base} + (long)j * {nwc}", c0, names)
        cases.append(f"{room}{ind}for (j = 0; j < {w0}; ++j)\n{ind}    {pack}\n")
    for i, (conv, _, pool) in enumerate(net.features):
        o = conv.out_channels
        w = shapes[i][1]
        nwo = _nw(o, wb)
        buf = plan.row_buffers[i]
        src, row0 = ("x", None) if buf is None else (f"wscratch + {buf[0]}", f"row0[{i}]")

        def call(y: str, iv: str = "r", jv: str = "j", i: int = i, src: str = src, row0: str | None = row0) -> str:
            return _conv_call(net, i, names, src, row0, y, iv, jv)

        thr = f"{P}_s{i}, {P}_t{i}, {o}"
        if not pool:
            room, base = start_row(i + 1, "r", ind)
            cases.append(f"{room}{ind}for (j = 0; j < {w}; ++j) {{\n"
                         f"{ind}    {call('iscratch')}\n"
                         f"{ind}    lp_threshold_pack(iscratch, {thr}, {base} + (long)j * {nwo});\n"
                         f"{ind}}}\n")
        elif pool == "bits":
            # room is made at the even row (the odd one then finds row r/2 last in the buffer)
            room, base = start_row(i + 1, "(r / 2)", ind)
            cases.append(f"{room}{ind}for (j = 0; j < {w}; ++j) {{\n"
                         f"{ind}    {wt} *px = {base} + (long)(j / 2) * {nwo};\n"
                         f"{ind}    {call('iscratch')}\n"
                         f"{ind}    if ((r | j) & 1)\n"
                         f"{ind}        lp_threshold_or(iscratch, {thr}, px);\n"
                         f"{ind}    else\n"
                         f"{ind}        lp_threshold_pack(iscratch, {thr}, px);\n"
                         f"{ind}}}\n")
        else:
            room, base = start_row(i + 1, "r", ind)
            cases.append(f"{room}{ind}for (j = 0; j < {w // 2}; ++j) {{\n"
                         f"{ind}    for (d = 0; d < 4; ++d) {{\n"
                         f"{ind}        {call(f'iscratch + (d ? {o} : 0)', '(2 * r + d / 2)', '(2 * j + d % 2)')}\n"
                         f"{ind}        if (d)\n"
                         f"{ind}            lp_max_fields(iscratch + {o}, {o}, iscratch);\n"
                         f"{ind}    }}\n"
                         f"{ind}    lp_threshold_pack(iscratch, {thr}, {base} + (long)j * {nwo});\n"
                         f"{ind}}}\n")
    last_st = len(cases) - 1
    hl = shapes[n_conv - 1][0]
    total_last = hl // 2 if net.features[-1][2] == "fields" else hl
    body = [f"int32_t {P}_predict(const {P}_input_t *x, {wt} *wscratch, int32_t *iscratch)\n{{\n",
            f"    int32_t done[{len(cases)}] = {{0}}; /* steps each stage has taken (export.c.cnn.predict_source) */\n"]
    if any(buf is not None for buf in plan.row_buffers):
        body.append(f"    int32_t row0[{n_conv}] = {{0}}; /* first image row in conv block i's row buffer */\n")
    body.append(f"    int32_t s, r, j{', d' if any(p == 'fields' for _, _, p in net.features) else ''};\n"
                f"    {wt} *a{', *b, *t' if net.hidden else ''};\n"
                f"    while (done[{last_st}] < {total_last}) {{\n        s = {last_st};\n")
    for st in range(last_st, 0, -1):
        body.append(f"        if (s == {st} && {avail(st - 1)} < {need(st)})\n            s = {st - 1};\n")
    body.append("        r = done[s];\n        switch (s) {\n")
    for st, case in enumerate(cases):
        body.append(f"        case {st}:\n{case}            break;\n")
    body.append("        default:\n            break;\n        }\n        ++done[s];\n    }\n")
    # flatten, then the dense layers ping-pong between plan.dense[0] and plan.dense[1]
    hf, wf, cf = shapes[-1]
    if plan.flat_aliased:
        body.append("    /* C is a multiple of the word width: the map's pixel words are the flat row already */\n")
    else:
        body.append(f"    lp_flatten_bits(wscratch, {hf * wf}, {cf}, wscratch + {plan.flat});\n")
    dense = [d for d, _ in net.hidden] + [net.output[0]]
    last = n_conv + len(dense) - 1
    body.append(f"    a = wscratch + {plan.dense[0]};\n")
    if net.hidden:
        body.append(f"    b = wscratch + {plan.dense[1]};\n")
    for j in range(n_conv, last + 1):
        d = dense[j - n_conv]
        n, k = d.shape
        wts = f"{P}_w{j}_sign, {P}_w{j}_mask, {P}_w{j}_nnz" if d.ternary else f"{P}_w{j}, 0, 0"
        if j < last:
            body.append(f"    lp_gemv_threshold(a, {wts}, {k}, {n}, {P}_s{j}, {P}_t{j}, iscratch, b);\n"
                        f"    t = a; a = b; b = t;\n")
        elif d.ternary:
            body.append(f"    lp_ternary_gemv(a, {wts}, {k}, {n}, iscratch);\n")
        else:
            body.append(f"    lp_xnor_gemv(a, {P}_w{j}, {k}, {n}, iscratch);\n")
    body.append(f"    return lp_affine_argmax(iscratch, {P}_scale, {P}_offset, {net.output[0].shape[0]}, 0);\n}}\n")
    return "".join(body)
