"""The C emitter: files, bit layout of the const arrays, sanitised identifiers and comments, strict C99,
several models in one program, argument checks."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from devices_models import device_feeds, device_models
from export.c import c_module, emit_c, sanitize_comment, sanitize_identifier
from export.c.names import check_prefix
from export.layout import METADATA, pack_pm1, pack_ternary, view_words
from export.onnx import build_model, save_model
from targets.devices.toolchain import STRICT_CFLAGS

MODELS = device_models()
GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not found: install the Debian package gcc")


def _array(text: str, name: str) -> np.ndarray:
    m = re.search(rf"static const \w+ {name}\[\d+\] = {{(.*?)}};", text, re.S)
    assert m, name
    vals = [v.strip().rstrip("ul").rstrip("u") for v in m.group(1).replace("\n", " ").split(",")]
    return np.array([int(v, 0) for v in vals if v], dtype=object)


@pytest.mark.parametrize("word_bits", [32, 64])
def test_const_arrays_are_layout_v1(word_bits):
    net = MODELS["mlp_ternary_pm1"]
    mod = c_module(net, word_bits, "m")
    w = mod.files["m_weights.h"]
    for i, d in enumerate(net.layers):
        n, k = d.shape
        s, m = pack_ternary(d.weight)
        nw = -(-k // word_bits)
        for plane, name in ((s, f"m_w{i}_sign"), (m, f"m_w{i}_mask")):
            want = view_words(plane, word_bits)[:, :nw].astype(object).ravel()
            np.testing.assert_array_equal(_array(w, name), want)
        np.testing.assert_array_equal(_array(w, f"m_w{i}_nnz"), np.count_nonzero(d.weight, axis=1))
    rbm = MODELS["rbm_pm1_gibbs2"]
    w = c_module(rbm, word_bits, "r").files["r_weights.h"]
    nw = -(-rbm.n_visible // word_bits)
    np.testing.assert_array_equal(_array(w, "r_xi_t"),
                                  view_words(pack_pm1(rbm.weight.T), word_bits)[:, :nw].astype(object).ravel())


def test_files_and_header_comments(tmp_path):
    net = MODELS["mlp_binary_u8"]
    mod = emit_c(net, tmp_path / "out", 32, "Digits")
    assert mod.prefix == "digits"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["digits.h", "digits_weights.h", "digits.c", "lowprec_kernels.h"])
    h = (tmp_path / "out" / "digits.h").read_text()
    for key, val in METADATA.items():
        assert f"{key} = {val}" in h
    assert "#define DIGITS_LAYOUT_VERSION 1" in h and "#define DIGITS_WORD_BITS 32" in h
    assert "#define DIGITS_LAYER0_IN 100" in h and "#define DIGITS_N_CLASSES 10" in h
    code = re.sub(r"/\*.*?\*/", "", "".join(mod.files.values()), flags=re.S)
    assert "malloc" not in code and "double" not in code


@pytest.mark.device
def test_no_floating_point_in_the_binary_layers():
    """On a soft-float Cortex-M0 any float operation is a libgcc call: an integer-input model calls none, a
    float32-input model only the input comparison."""
    from targets.devices import device_target
    from targets.devices.toolchain import run_cmd, sibling_tool

    tgt = device_target("cortex-m0")
    reason = tgt.availability()
    if reason:
        pytest.skip(reason)
    nm = sibling_tool(tgt.profile.compiler["size"], "nm")
    undefined = {}
    for name in ("mlp_binary_u8", "rbm_pm1_gibbs2", "mlp_float_threshold"):
        obj = tgt.build(MODELS[name]).model_obj
        undefined[name] = set(run_cmd([nm, "-u", str(obj)], what="nm").stdout.decode().split()) - {"U"}
    fp = lambda syms: {s for s in syms if re.match(r"__aeabi_[fd]|__(add|sub|mul|div|lt|le|gt|ge|eq)[sd]f", s)}  # noqa: E731
    assert fp(undefined["mlp_binary_u8"]) == set() and fp(undefined["rbm_pm1_gibbs2"]) == set()
    assert fp(undefined["mlp_float_threshold"]) <= {"__aeabi_fcmpge", "__aeabi_fcmplt", "__aeabi_fcmpgt",
                                                   "__aeabi_fcmple", "__aeabi_fcmpun"}


def test_sanitize_identifier():
    # never a leading/trailing/double underscore, so PREFIX_name never contains "__" (reserved in C++)
    assert sanitize_identifier("My Model-v2!") == "my_model_v2"
    assert sanitize_identifier("2fast") == "m_2fast"
    assert sanitize_identifier("_x") == "x"
    assert sanitize_identifier("a--b") == "a_b"
    assert sanitize_identifier("int") == "m_int"
    for text in ("My Model-v2!", "2fast", "_x", "int", "a--b", "x" * 60 + "_y"):
        assert check_prefix(sanitize_identifier(text)) == sanitize_identifier(text)
    with pytest.raises(ValueError, match="no letters or digits"):
        sanitize_identifier("*/-")
    with pytest.raises(TypeError):
        sanitize_identifier(3)


def test_sanitize_comment_cannot_escape():
    evil = "a */ int x; /* b ??/\nc \\\n d é \x00 ???????/ */"
    out = sanitize_comment(evil)
    assert "*/" not in out and "/*" not in out and "??" not in out and "\\" not in out
    assert all(" " <= ch <= "~" or ch == "\n" for ch in out)


@needs_gcc
def test_hostile_metadata_compiles_strictly(tmp_path):
    net = MODELS["mlp_ternary_pm1"]
    evil = type(net)(net.input, net.hidden, net.output, meta={"name": "x */ #error boom /* ??/", "k": "\\"})
    mod = emit_c(evil, tmp_path, 64, "evil */ name")
    assert "#error" not in re.sub(r"/\*.*?\*/", "", mod.files[mod.source], flags=re.S)
    subprocess.run([GCC, *STRICT_CFLAGS, "-trigraphs", "-Wtrigraphs", "-c", str(mod.paths[mod.source]), "-o",
                    str(tmp_path / "e.o")], check=True, capture_output=True)


@needs_gcc
def test_two_models_two_word_widths_in_one_program(tmp_path):
    """Kernels are static inline per translation unit: models of different word widths link together, and
    both agree with the reference on a compiled-in input."""
    from targets.reference.interpreter import simulate

    a, b = MODELS["mlp_binary_u8"], MODELS["mlp_bitplane_ternary"]
    emit_c(a, tmp_path, 32, "alpha")
    emit_c(b, tmp_path, 64, "beta")
    fa, fb = device_feeds(a, 1, 7)["x"], device_feeds(b, 1, 8)["x"]
    la = simulate(build_model(a), {"x": fa}, 64).outputs["label"][0]
    lb = simulate(build_model(b), {"x": fb}, 64).outputs["label"][0]
    main = f"""#include <stdio.h>
#include "alpha.h"
#include "beta.h"
static const alpha_input_t xa[ALPHA_N_INPUT] = {{{", ".join(map(str, fa[0]))}}};
static const beta_input_t xb[BETA_N_INPUT] = {{{", ".join(map(str, fb[0]))}}};
int main(void) {{
    alpha_word_t wa[ALPHA_PREDICT_WORDS]; int32_t ia[ALPHA_PREDICT_INTS];
    beta_word_t wb[BETA_PREDICT_WORDS]; int32_t ib[BETA_PREDICT_INTS];
    printf("%ld %ld\\n", (long)alpha_predict(xa, wa, ia), (long)beta_predict(xb, wb, ib));
    return 0;
}}
"""
    (tmp_path / "main.c").write_text(main)
    exe = tmp_path / "both"
    subprocess.run([GCC, *STRICT_CFLAGS, "-O2", "-I", str(tmp_path), str(tmp_path / "main.c"),
                    str(tmp_path / "alpha.c"), str(tmp_path / "beta.c"), "-o", str(exe)], check=True,
                   capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert [int(v) for v in out] == [int(la), int(lb)]


def test_onnx_file_gives_the_same_sources(tmp_path):
    net = MODELS["rbm_float_gibbs1"]
    path = tmp_path / "m.onnx"
    model = build_model(net)
    save_model(model, path)
    digest = {p.key: p.value for p in model.metadata_props}["lowprec.digest"]
    # the same text, the banner's provenance line included, once the in-memory call names the same ONNX digest
    assert c_module(str(path), 32, "m").files == c_module(net, 32, "m", onnx_digest=digest).files


def test_bad_arguments():
    net = MODELS["mlp_binary_u8"]
    with pytest.raises(ValueError, match="32 or 64"):
        c_module(net, 16)
    with pytest.raises(TypeError, match="word_bits"):
        c_module(net, "32")
    with pytest.raises(TypeError, match="MLPNetwork"):
        c_module(np.zeros(3), 32)
    with pytest.raises(ValueError, match="collides"):
        c_module(net, 32, "lowprec_kernels")
    # "lowprec" would define LOWPREC_* macros beside the kernel header's LOWPREC_WORD_BITS / LOWPREC_POPCOUNT
    for reserved in ("lowprec", "lp", "lp_model", "LP"):
        with pytest.raises(ValueError, match="reserved"):
            c_module(net, 32, reserved)


@pytest.mark.parametrize("prefix, rule", [
    ("lowprec", "reserved"), ("lp_net", "reserved"), ("lowprec_popcount", "collides"), ("int", "C keyword"),
    ("While", "C keyword"), ("_x", "single underscores"), ("x_", "single underscores"), ("a__b", "single underscores"),
    ("2fast", "a letter"), ("my-model", "a letter"), ("", "a letter"), ("a" * 49, "at most 48"),
])
def test_check_prefix_refuses(prefix, rule):
    with pytest.raises(ValueError, match=rule):
        check_prefix(prefix)


def test_check_prefix_accepts():
    assert check_prefix("digits") == "digits"
    assert check_prefix("Model_v2") == "model_v2"
    assert check_prefix("lowprec_model") == "lowprec_model"   # the default: no kernel name starts with it
    with pytest.raises(TypeError):
        check_prefix(3)
