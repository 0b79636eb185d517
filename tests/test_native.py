"""The native target: C kernels vs the reference simulator, bit for bit, on every code path and thread count.

Shapes are chosen to hit every edge of the blocking: K in {1, 63, 64, 65, 4097} (one word, word boundaries,
a partial AVX2/AVX-512 vector tail), widths 67 and 130 (neither a multiple of the 2-channel blocks nor of the
64-channel tasks), batches 1, 3 (fewer rows than the 4-row kernel) and 64. ``min_work=0`` makes two threads
really run at these small sizes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from export.onnx import build_model, save_model
from targets.native import missing_reason
from targets.reference.target import ReferenceTarget
from targets_nets import random_mlp, random_rbm

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "src" / "targets" / "native" / "csrc"
SOURCES = ["lp_module.c", "lp_gemm.c", "lp_blocks.c", "lp_ops.c"]


def _paths() -> list[str]:
    from targets.native import load

    return load().paths()


def _mlp_feeds(rng, net, b: int) -> dict[str, np.ndarray]:
    spec = net.input
    if spec.kind == "pm1":
        x = rng.choice(np.array([-1, 1], np.int8), (b, spec.size))
    elif spec.dtype == "float32":
        x = rng.uniform(100, 156, (b, spec.size)).astype(np.float32)
        x[:, ::5] = np.float32(spec.threshold)  # ties: x == threshold packs to +1
    else:
        x = rng.integers(0, 256, (b, spec.size), dtype=np.uint8)
        x[:, ::7] = 128
    return {"x": x}


def _assert_same(got: dict, ref: dict, what: str) -> None:
    assert list(got) == list(ref), what
    for name in ref:
        assert got[name].dtype == ref[name].dtype, f"{what}: {name} dtype"
        np.testing.assert_array_equal(got[name], ref[name], err_msg=f"{what}: output {name}")


@pytest.mark.parametrize("k", [1, 63, 64, 65, 4097])
@pytest.mark.parametrize("kind,ternary,dtype", [
    ("pm1", False, None), ("threshold", False, None), ("threshold", True, "float32"),
    ("bitplanes", False, None), ("bitplanes", True, None), ("pm1", True, None)])
def test_exact_mlp_every_path_and_thread_count(tmp_path, k, kind, ternary, dtype):
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(k * 7 + len(kind) + ternary)
    net = random_mlp(rng, k, (67, 130), 5, input_kind=kind, ternary=ternary, dtype=dtype)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    for b in (1, 3, 64):
        feeds = _mlp_feeds(rng, net, b)
        ref = ReferenceTarget().run(path, feeds)
        for code_path in _paths():
            for threads in (1, 2):
                got = NativeModel(path, path=code_path, threads=threads, min_work=0).run(feeds)
                _assert_same(got, ref, f"{kind} ternary={ternary} K={k} B={b} {code_path} threads={threads}")


@pytest.mark.parametrize("n,p", [(1, 1), (65, 63), (130, 200), (4097, 67)])
@pytest.mark.parametrize("pixels", [False, True])
def test_exact_rbm_fields_and_gibbs(tmp_path, n, p, pixels):
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(n + p + pixels)
    net = random_rbm(rng, n, p, gibbs_steps=2, pixels=pixels)
    path = tmp_path / "r.onnx"
    save_model(build_model(net), path)
    for b in (1, 3, 64):
        v = rng.integers(0, 256, (b, n), dtype=np.uint8) if pixels else rng.choice(np.array([-1, 1], np.int8), (b, n))
        feeds = {"v": v, "seeds": rng.integers(0, 2**32, b, dtype=np.uint32)}
        ref = ReferenceTarget().run(path, feeds)
        for code_path in _paths():
            for threads in (1, 2):
                got = NativeModel(path, path=code_path, threads=threads, min_work=0).run(feeds)
                _assert_same(got, ref, f"rbm N={n} P={p} B={b} {code_path} threads={threads}")


def test_exact_standard_mode_file_and_subset_of_outputs(tmp_path):
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(5)
    net = random_mlp(rng, 100, (70,), 4, input_kind="threshold", ternary=False)
    path = tmp_path / "s.onnx"
    save_model(build_model(net, mode="standard"), path)
    feeds = _mlp_feeds(rng, net, 9)
    ref = ReferenceTarget().run(path, feeds)
    model = NativeModel(path, threads=2, min_work=0)
    _assert_same(model.run(feeds), ref, "standard mode")
    got = model.run(feeds, ["label", "h0"])
    assert list(got) == ["label", "h0"]
    np.testing.assert_array_equal(got["label"], ref["label"])
    np.testing.assert_array_equal(got["h0"], ref["h0"])


def test_bad_arguments_are_clear_errors(tmp_path):
    from targets.native import load
    from targets.native.runtime import NativeModel

    rng = np.random.default_rng(6)
    net = random_mlp(rng, 30, (8,), 3, input_kind="pm1", ternary=False)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    with pytest.raises(ValueError, match="path must be one of"):
        NativeModel(path, path="sse9")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        NativeModel(path, threads=0)
    model = NativeModel(path)
    with pytest.raises(TypeError, match="dtype int8, got uint8"):
        model.run({"x": np.zeros((2, 30), np.uint8)})
    with pytest.raises(ValueError, match=r"shape \(batch, 30\)"):
        model.run({"x": np.ones((2, 31), np.int8)})
    with pytest.raises(ValueError, match="unknown output"):
        model.run({"x": np.ones((2, 30), np.int8)}, ["nope"])
    lib = load()
    with pytest.raises(ValueError, match="at least 26 items"):  # too short an output buffer: refused, not written
        lib.layer(0, 64, 13, 2, np.zeros(2, np.uint64), None, np.zeros(13, np.uint64), None, None,
                  np.zeros(25, np.int32), 0, None, None, None, None, None, None, 0, 0, 1, 0)
    with pytest.raises(TypeError, match="8-byte items"):
        lib.layer(0, 64, 1, 1, np.zeros(1, np.uint32), None, np.zeros(1, np.uint64), None, None,
                  None, 0, None, None, None, None, None, None, 0, 0, 1, 0)


def test_every_path_the_cpu_supports_is_listed_and_auto_is_the_fastest():
    from targets.native import load

    lib = load()
    paths = lib.paths()
    assert paths[0] == "portable"
    assert lib.best_path() == paths[-1]


def test_verify_cli_native_target(tmp_path, capsys):
    from lowprec_rbm.cli.main import main

    rng = np.random.default_rng(8)
    net = random_mlp(rng, 100, (40, 20), 6, input_kind="bitplanes", ternary=True)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    code = main(["verify", str(path), "--inputs", "20", "--targets", "native"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "native: OK, 20 inputs" in out


def _run_cli(args: list[str], env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-m", "lowprec_rbm", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_without_the_extension_native_is_skipped_with_one_line_and_no_traceback(tmp_path):
    rng = np.random.default_rng(9)
    net = random_mlp(rng, 30, (8,), 3, input_kind="pm1", ternary=False)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    off = {"LOWPREC_NATIVE": "off"}
    # --targets all: the missing runtime is one skipped line saying how to get it
    r = _run_cli(["verify", str(path), "--inputs", "4", "--targets", "all"], off)
    assert r.returncode == 0, r.stdout + r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("native")]
    assert len(line) == 1 and "SKIPPED" in line[0].upper() and "pip install" in line[0], r.stdout
    assert "Traceback" not in r.stderr
    # asked for by name: an error (exit 2), one line, naming how to get it
    r = _run_cli(["verify", str(path), "--inputs", "4", "--targets", "reference,native"], off)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "'native' was requested but cannot run here" in err[0] and "pip install" in err[0]


def test_build_without_a_compiler_still_installs(tmp_path):
    """setup.py's build_ext with a compiler that does not exist: a warning, exit status 0, no extension."""
    env = dict(os.environ, CC=str(tmp_path / "no-such-cc"), LDSHARED=str(tmp_path / "no-such-cc") + " -shared")
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
                        "--build-temp", str(tmp_path / "tmp")], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "native runtime (C extension targets.native._lpnative) was not built" in r.stderr
    assert not list((tmp_path / "lib").rglob("_lpnative*"))


def _compiler() -> str:
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc) on PATH")
    return cc


def _compile_flags() -> list[str]:
    return [f"-I{CSRC}", f"-I{ROOT / 'src' / 'export' / 'csrc'}", f"-I{sysconfig.get_paths()['include']}",
            "-std=gnu11", "-pthread", "-fPIC"]


@pytest.mark.parametrize("opt", ["-O0", "-O3"])
def test_c_sources_compile_warning_free(tmp_path, opt):
    cc = _compiler()
    for src in SOURCES:
        r = subprocess.run([cc, opt, "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes",
                            *_compile_flags(), "-c", str(CSRC / src), "-o", str(tmp_path / (src + ".o"))],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{src}:\n{r.stderr}"


@pytest.mark.slow
def test_sanitizers_address_and_undefined_behaviour_on_the_exactness_tests(tmp_path):
    """Build the extension with -fsanitize=address,undefined and run the exactness tests of this file and of
    test_native_cnn.py (the conv patch-row gather) on it."""
    cc = _compiler()
    lib = tmp_path / ("_lpnative" + sysconfig.get_config_var("EXT_SUFFIX"))
    r = subprocess.run([cc, "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", "-shared", *_compile_flags(), *[str(CSRC / s) for s in SOURCES],
                        "-o", str(lib)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "asan" in r.stderr.lower():
        pytest.skip(f"the compiler has no sanitizer runtime: {r.stderr.splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    asan = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(asan) or not os.path.exists(asan):
        pytest.skip("libasan.so not found next to the compiler")
    env = dict(os.environ, LD_PRELOAD=asan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", LOWPREC_NATIVE_LIB=str(lib),
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]))
    check = "import targets.native as n; m = n.load(); print(m.__file__)"
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == str(lib), r.stderr  # the sanitized build is the one loaded
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "exact and not sanitizers",
                        str(Path(__file__)), str(Path(__file__).with_name("test_native_cnn.py"))], capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


# ---------------------------------------------------------------------------------------------- Session, run
def test_session_native_matches_reference_session(tmp_path):
    import targets

    rng = np.random.default_rng(11)
    net = random_mlp(rng, 784, (50,), 10, input_kind="threshold", ternary=False)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    fast, slow = targets.Session(path, target="native", threads=2), targets.Session(path, target="reference")
    labels = fast.run(images)
    assert labels.dtype == np.int64 and labels.shape == (7,)
    np.testing.assert_array_equal(labels, slow.run(images))
    np.testing.assert_array_equal(fast.run(images, "scores"), slow.run(images, "scores"))
    every = fast.run(images, "all")
    assert list(every) == fast.output_names
    ref = slow.run(images, "all")
    for name in ref:
        np.testing.assert_array_equal(every[name], ref[name], err_msg=name)
    np.testing.assert_array_equal(fast.run(images[0]), labels[:1])  # one image
    with pytest.raises(TypeError, match="takes uint8 input"):
        fast.run(images.astype(np.float32))
    with pytest.raises(ValueError, match="784 values per row"):
        fast.run(images[:, :27])
    with pytest.raises(ValueError, match="needs an RBM"):
        fast.hidden(images)


def test_session_rbm_hidden_units_and_gibbs(tmp_path):
    import targets
    from export.layout import unpack_pm1

    rng = np.random.default_rng(12)
    net = random_rbm(rng, 70, 33, gibbs_steps=3, pixels=False)
    path = tmp_path / "r.onnx"
    save_model(build_model(net), path)
    v = rng.choice(np.array([-1, 1], np.int8), (5, 70))
    seeds = rng.integers(0, 2**32, 5, dtype=np.uint32)
    fast, slow = targets.Session(path, "native"), targets.Session(path, "reference")
    h = fast.hidden(v)
    np.testing.assert_array_equal(h, np.where(v.astype(np.int64) @ net.weight >= 0, 1, -1))
    np.testing.assert_array_equal(fast.gibbs(v, seeds), slow.gibbs(v, seeds))
    np.testing.assert_array_equal(fast.gibbs(v, seeds), unpack_pm1(slow.run(v, "gibbs_v_3", seeds=seeds), 70))
    with pytest.raises(ValueError, match="pass seeds"):
        fast.run(v, "all")


def test_run_command_writes_labels_and_reports_throughput(tmp_path, capsys):
    from lowprec_rbm.cli.main import main
    from lowprec_rbm.data import load_dataset

    rng = np.random.default_rng(13)
    net = random_mlp(rng, 784, (40,), 10, input_kind="threshold", ternary=False)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    out = tmp_path / "labels.npy"
    assert main(["run", str(path), "--data", "sample", "-o", str(out), "--batch", "64", "--quiet"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("accuracy ") and "on 500 images of embedded-sample" in text[0]
    assert text[-1].startswith("500 images in ") and "images/s (native" in text[-1]
    labels = np.load(out, allow_pickle=False)
    ds = load_dataset("sample")
    want = ReferenceTarget().run(path, {"x": ds.x_test.reshape(500, -1)})["label"]
    np.testing.assert_array_equal(labels, want)
    assert main(["run", str(path), "--data", "sample", "--target", "reference", "--threads", "2"]) == 2
    assert "--threads applies to the native target only" in capsys.readouterr().err


def test_run_command_without_native_runtime_says_so_once(tmp_path):
    rng = np.random.default_rng(14)
    net = random_mlp(rng, 784, (16,), 10, input_kind="threshold", ternary=False)
    path = tmp_path / "m.onnx"
    save_model(build_model(net), path)
    r = _run_cli(["run", str(path), "--data", "sample", "--limit", "20"], {"LOWPREC_NATIVE": "off"})
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "native runtime" in ln]
    assert len(notes) == 1 and "pip install" in notes[0] and "Traceback" not in r.stderr
    assert "images/s (reference)" in r.stdout
    r = _run_cli(["predict", str(path), "--data", "sample", "--target", "native"], {"LOWPREC_NATIVE": "off"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("lowprec: error: target 'native'")
