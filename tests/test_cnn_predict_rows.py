"""The deployed CNN ``predict()`` streams rows: each conv block reads a buffer of k input rows (k + 1 before a
"fields" pool) that its producer fills on demand, pooling is fused into the conv row loop, and only the last
conv map is kept whole (export.c.cnn.predict_source / predict_plan).

Shapes that stress the row bookkeeping, compiled with AddressSanitizer + UBSan over arrays of exactly
PREDICT_WORDS / PREDICT_INTS: odd heights and widths, k = 5 and 7 (also taller than the image, so the buffer is
the whole image), k = 1, channel counts that are not multiples of the word, both pool kinds, ternary and
binary convs and dense layers, every input kind, both C word widths. For every input the label and the
output layer's int32 fields of predict() must equal the simulator's (the ONNX graph's) exactly; forward() is
compared with them too. The device harness makes the same predict/forward comparison on every device
(tests/test_devices_targets.py), where these kernels are cross-compiled.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from devices_models import device_feeds
from export.c import emit_c
from export.c.cnn import predict_plan, predict_scratch
from export.onnx import build_model
from targets.devices.toolchain import STRICT_CFLAGS
from targets.reference.interpreter import simulate
from targets_nets import random_cnn

GCC = shutil.which("gcc")

# name -> (image, convs ((out channels, k, pool), ...), hidden, classes, input kind, ternary)
CASES = {
    # odd 7x7 and 7x5 maps, k = 5 after a "fields" pool (buffer of k + 1 = 6 rows shifted down a 14-row image),
    # channels 9, 33, 66 (not multiples of 32 or 64)
    "bitplanes_fields_k5_odd": ((14, 10, 1), ((9, 3, "fields"), (33, 5, False), (66, 3, False)), (12,), 5,
                                "bitplanes", False),
    # ternary: k = 5 and k = 7 on a 5x3 map (taller kernels than the image: the buffer is the whole map)
    "pm1_ternary_bits_k7": ((10, 6, 3), ((12, 3, "bits"), (7, 5, False), (8, 7, False)), (), 4, "pm1", True),
    # threshold input packed row by row into conv 0's buffer; all three block kinds in one network
    "f32_mixed_pools": ((8, 8, 1), ((16, 3, False), (16, 3, "fields"), (40, 3, "bits")), (70,), 3,
                        "threshold", False),
    # many rows through every buffer: 16 rows, "bits" then "fields" pool, k = 1 last (a one-row buffer)
    "u8_long_rows_k1": ((16, 12, 2), ((5, 3, False), (6, 3, "bits"), (7, 5, "fields"), (3, 1, False)), (9, 5),
                        4, "threshold", False),
    # ternary bit-plane first layer with a "bits" pool, ternary dense layers
    "bitplanes_ternary_bits": ((12, 8, 2), ((10, 3, "bits"), (65, 3, "fields")), (33,), 6, "bitplanes", True),
}


def _net(name):
    image, convs, hidden, classes, kind, ternary = CASES[name]
    dtype = "uint8" if name.startswith("u8") else None
    return random_cnn(np.random.default_rng(sorted(CASES).index(name)), image, convs, hidden, classes,
                      input_kind=kind, ternary=ternary, dtype=dtype)


@pytest.mark.skipif(GCC is None, reason="gcc not found: install the Debian package gcc")
@pytest.mark.parametrize("word_bits", [32, 64])
def test_streamed_predict_equals_the_graph_in_label_and_output_fields(word_bits, tmp_path):
    rows = 10
    mains, expected = [], []
    for name in CASES:
        net = _net(name)
        emit_c(net, tmp_path, word_bits, name)
        feeds = device_feeds(net, rows, 3)
        sim = simulate(build_model(net), feeds, word_bits).outputs
        y_last = sim[f"y{len(net.layers) - 1}"]
        for r in range(rows):
            expected.append([int(sim["label"][r])] + y_last[r].astype(int).tolist())
            expected.append(expected[-1])
        up, n_cls = name.upper(), net.output[0].shape[0]
        data = ", ".join("{" + ", ".join(repr(float(v)) if feeds["x"].dtype.kind == "f" else str(v) for v in row)
                         + "}" for row in feeds["x"])
        data = data.replace("nan", "NAN").replace("inf", "INFINITY")
        mains.append(f"""    {{
        static const {name}_input_t x[{rows}][{up}_N_INPUT] = {{{data}}};
        static int32_t fields[{up}_FIELDS_LEN];
        static {name}_word_t bits[{up}_BITS_WORDS];
        static int64_t scores[{up}_N_CLASSES];
        {name}_word_t ws[{up}_PREDICT_WORDS];
        int32_t is[{up}_PREDICT_INTS];
        static const int32_t kind[] = {up}_OUT_KIND_INIT, off[] = {up}_OUT_OFFSET_INIT;
        int r, c, o, last = 0;
        for (o = 0; o < {up}_N_OUTPUTS; ++o)
            if (kind[o] == 0)
                last = o;
        for (r = 0; r < {rows}; ++r) {{
            printf("%ld", (long){name}_forward(x[r], fields, bits, scores));
            for (c = 0; c < {n_cls}; ++c)
                printf(" %ld", (long)fields[off[last] + c]);
            printf("\\n%ld", (long){name}_predict(x[r], ws, is));
            for (c = 0; c < {n_cls}; ++c)
                printf(" %ld", (long)is[c]);
            printf("\\n");
        }}
    }}
""")
    includes = "".join(f'#include "{n}.h"\n' for n in CASES)
    (tmp_path / "main.c").write_text(f"#include <math.h>\n#include <stdio.h>\n{includes}int main(void)\n{{\n"
                                     f"{''.join(mains)}    return 0;\n}}\n")
    exe = tmp_path / "predict"
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    srcs = [str(tmp_path / "main.c")] + [str(tmp_path / f"{n}.c") for n in CASES]
    subprocess.run([GCC, *STRICT_CFLAGS, "-O1", *san, "-I", str(tmp_path), *srcs, "-o", str(exe), "-lm"],
                   check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.strip().splitlines()
    got = [[int(v) for v in line.split()] for line in out]
    assert got == expected
    assert len({e[0] for e in expected}) > 1          # several classes occur: the labels can disagree


def test_plan_of_the_vgg_network_by_hand():
    """c32,c32,p,c64,c64,p,d256 on 28x28 bit-plane pixels at 32-bit words. Words: the last conv map 7x7 pixels x
    2 words = 98; conv 1 reads 3 rows of 28 pixels x 1 word = 84, conv 2 3 rows of 14 x 1 = 42, conv 3 3 rows of
    14 x 2 = 84 (conv 0 reads the caller's pixels); the dense phase needs the 98-word flat row (the map itself:
    64 channels fill whole words) and 8 words of hidden bits. Int32s: one pixel's 64 fields (the 256 dense
    fields are thresholded 32 at a time). The whole-map scheme it replaced needed 2 x 784 words + 256 int32s."""
    net = random_cnn(np.random.default_rng(0), (28, 28, 1), ((32, 3, False), (32, 3, True), (64, 3, False),
                                                            (64, 3, True)), (256,), 10, input_kind="bitplanes")
    plan = predict_plan(net, 32)
    assert plan.map_words == 98 and plan.flat_aliased and plan.flat == 0
    assert [b[1:] if b else None for b in plan.row_buffers] == [None, (3, 28), (3, 14), (3, 28)]
    assert predict_scratch(net, 32) == (98 + 84 + 42 + 84, 64)
    # 64-bit words: 32 channels take a whole word per pixel too
    assert predict_scratch(net, 64) == (49 + 84 + 42 + 42, 64)


def test_fields_pool_buffers_one_more_row_and_short_images_are_held_whole():
    net = _net("bitplanes_fields_k5_odd")       # conv 1 (k = 5) reads a 7-row map, conv 2 (k = 3) too
    bufs = predict_plan(net, 32).row_buffers
    assert bufs[0] is None and bufs[1][1] == 5 and bufs[2][1] == 3
    net = _net("u8_long_rows_k1")               # conv 2: k = 5 before a "fields" pool on 8 rows -> 6 rows
    bufs = predict_plan(net, 32).row_buffers
    assert [b[1] for b in bufs] == [3, 3, 6, 1]
    net = _net("pm1_ternary_bits_k7")           # k = 7 on a 5-row map: all 5 rows
    assert [b[1] for b in predict_plan(net, 32).row_buffers] == [3, 5, 5]


@pytest.mark.device
@pytest.mark.parametrize("device_name", ["cortex-m4", "aarch64-linux"])
def test_stress_shapes_on_emulated_devices(device_name):
    """The same networks cross-compiled for a 32-bit microcontroller and a 64-bit core: every graph output of
    forward() equals the simulator's, and the harness fails the run (exit 5) unless predict() agrees with
    forward() in the label and the output layer's int32 fields."""
    from export.onnx import output_names
    from targets.devices import device_target

    device = device_target(device_name)
    reason = device.availability()
    if reason is not None:
        pytest.skip(f"{device_name}: {reason}")
    for name in CASES:
        net = _net(name)
        feeds = device_feeds(net, 6, 11)
        expected = simulate(build_model(net), feeds, device.profile.word_bits).outputs
        found = device.run_network(net, feeds)
        for out in output_names(net):
            np.testing.assert_array_equal(found[out], expected[out], err_msg=f"{name}: {out}")
