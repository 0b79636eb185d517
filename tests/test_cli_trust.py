"""User errors are one line and exit 2; internal errors exit 3 and say so; --debug shows tracebacks; explicit
requests (targets, flags) fail loudly; size arguments are bounded; outputs never overwrite inputs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_run import run_cli
from export.network import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold
from export.onnx import build_model, save_model
from lowprec_rbm.data import load_embedded_sample, write_idx
from lowprec_rbm.posterior_file import save_posterior

SRC = Path(__file__).resolve().parents[1] / "src"


def _rbm(path: Path) -> Path:
    lam = np.random.default_rng(0).normal(size=(784, 6))
    return save_posterior(path, {"lam": lam}, {"kind": "rbm", "config": {"beta": 1.0, "threshold": 0.5}})


def _mlp(path: Path, sizes=(784, 16, 10)) -> Path:
    rng = np.random.default_rng(1)
    arrays = {}
    for i in range(len(sizes) - 1):
        arrays[f"layer{i}.lam"] = rng.normal(size=(sizes[i + 1], sizes[i])).astype(np.float32)
        arrays[f"bn{i}.mean"] = rng.normal(size=sizes[i + 1])
        arrays[f"bn{i}.var"] = rng.uniform(0.5, 2.0, size=sizes[i + 1]) * sizes[i]
    cfg = {"sizes": list(sizes), "activation": "sign", "input": "binary", "threshold": 0.5, "bn_eps": 1e-4,
           "rule": "bayesbinn"}
    return save_posterior(path, arrays, {"kind": "mlp", "config": cfg})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    return {"rbm": _rbm(d / "rbm.npz"), "mlp": _mlp(d / "mlp.npz"), "dir": d}


def _one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("lowprec: error:"), err
    for n in needles:
        assert n in err, err


# ------------------------------------------------------------------------------ user vs internal errors
def test_internal_error_exits_3_and_debug_shows_the_traceback(files, tmp_path, capsys, monkeypatch):
    import lowprec_rbm.cli.verify_cmd as verify_cmd

    def broken(args):
        return {}["no such key"]          # a bug: KeyError is not a user error

    monkeypatch.setattr(verify_cmd, "run", broken)
    code, err = run_cli(["verify", tmp_path / "m.onnx"], capsys)
    assert code == 3
    assert err.startswith("lowprec: internal error: KeyError") and "lowprec --debug" in err
    assert "Traceback" not in err
    code, err = run_cli(["--debug", "verify", tmp_path / "m.onnx"], capsys)
    assert code == 3 and "Traceback (most recent call last)" in err and "KeyError" in err


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys):
    code, err = run_cli(["--debug", "verify", tmp_path / "missing.onnx"], capsys)
    assert code == 2 and "Traceback (most recent call last)" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lowprec: error:") and "missing.onnx" in last


def test_onnxruntime_errors_count_as_user_errors():
    import onnxruntime  # noqa: F401  (the classification lists its errors once it is loaded)
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph

    from lowprec_rbm.cli.errors import user_error_types

    assert issubclass(Fail, user_error_types()) and issubclass(InvalidGraph, user_error_types())
    assert not issubclass(KeyError, user_error_types()) and not issubclass(AttributeError, user_error_types())


# ------------------------------------------------------------------------------ outputs never overwrite inputs
def test_export_refuses_to_overwrite_its_posterior(files, tmp_path, capsys):
    post = tmp_path / "x.npz"
    shutil.copy(files["rbm"], post)
    before = post.read_bytes()
    code, err = run_cli(["export", post, "-o", post], capsys)
    _one_line_error(code, err, "is the same file as the posterior")
    assert post.read_bytes() == before
    os.symlink(post, tmp_path / "link.onnx")           # same file through a link
    code, err = run_cli(["export", post, "-o", tmp_path / "link.onnx"], capsys)
    _one_line_error(code, err, "is the same file as the posterior")
    assert post.read_bytes() == before


def test_export_refuses_c_sources_over_the_posterior(files, tmp_path, capsys):
    post = tmp_path / "digits.c"                      # a posterior named like the C file it would become
    shutil.copy(files["rbm"], post)
    code, err = run_cli(["export", post, "-o", tmp_path / "m.onnx", "--c", tmp_path, "--c-prefix", "digits"], capsys)
    _one_line_error(code, err, "--c", "is the same file as the posterior")
    assert not (tmp_path / "m.onnx").exists()


def test_report_and_train_refuse_outputs_that_are_inputs(files, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert run_cli(["export", files["rbm"], "-o", model, "-q"], capsys)[0] == 0
    code, err = run_cli(["report", model, "--json", model], capsys)
    _one_line_error(code, err, "--json", "is the same file as the model")
    data = tmp_path / "data"
    data.mkdir()
    ds = load_embedded_sample()
    for stem, arr in (("train-images-idx3-ubyte", ds.x_train[:50]), ("train-labels-idx1-ubyte", ds.y_train[:50]),
                      ("t10k-images-idx3-ubyte", ds.x_test[:10]), ("t10k-labels-idx1-ubyte", ds.y_test[:10])):
        write_idx(data / stem, arr)
    before = (data / "train-images-idx3-ubyte").read_bytes()
    code, err = run_cli(["train", "rbm", "--data", data, "-o", data / "train-images-idx3-ubyte"], capsys)
    _one_line_error(code, err, "is the same file as --data file train-images-idx3-ubyte")
    assert (data / "train-images-idx3-ubyte").read_bytes() == before


# ------------------------------------------------------------------------------ flags that do not apply
@pytest.mark.parametrize("kind, extra, message", [
    ("mlp", ["--gibbs-steps", "3"], "--gibbs-steps applies to RBM posteriors only"),
    ("mlp", ["--rbm-input", "pm1"], "--rbm-input applies to RBM posteriors only"),
    ("rbm", ["--seed", "3"], "--seed applies to --mode sample only"),
    ("rbm", ["--c-prefix", "digits"], "--c-prefix applies to C output only: add --c DIR"),
    ("rbm", ["--c-word-bits", "64"], "--c-word-bits applies to C output only"),
    ("mlp", ["--calib-size", "50"], "--calib-size applies with --calibrate DATA only"),
    ("rbm", ["--samples", "2"], "--samples > 1 needs --mode sample"),
])
def test_flags_that_do_not_apply_are_errors(files, tmp_path, capsys, kind, extra, message):
    out = tmp_path / "m.onnx"
    code, err = run_cli(["export", files[kind], "-o", out, *extra], capsys)
    _one_line_error(code, err, message)
    assert not out.exists()


def test_report_seed_and_inputs_need_data(files, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert run_cli(["export", files["rbm"], "-o", model, "-q"], capsys)[0] == 0
    for extra, flag in ((["--seed", "3"], "--seed"), (["--inputs", "10"], "--inputs")):
        code, err = run_cli(["report", model, *extra], capsys)
        _one_line_error(code, err, f"{flag} applies with --data only")


@pytest.mark.parametrize("prefix, message", [
    ("lowprec", "reserved"), ("lp_net", "reserved"), ("int", "C keyword"), ("a__b", "single underscores"),
    ("_x", "single underscores"), ("x_", "single underscores"), ("lowprec_popcount", "collides"),
])
def test_c_prefix_refused_before_any_file_is_written(files, tmp_path, capsys, prefix, message):
    out = tmp_path / "m.onnx"
    code, err = run_cli(["export", files["rbm"], "-o", out, "--c", tmp_path / "c", "--c-prefix", prefix], capsys)
    _one_line_error(code, err, "--c-prefix", message)
    assert not out.exists() and not (tmp_path / "c").exists()


def test_good_c_prefix_writes_lower_case_files(files, tmp_path, capsys):
    code, _ = run_cli(["export", files["rbm"], "-o", tmp_path / "m.onnx", "--c", tmp_path / "c",
                       "--c-prefix", "Digits_V2", "-q"], capsys)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "digits_v2.c", "digits_v2.h", "digits_v2_weights.h", "lowprec_kernels.h"]


@pytest.mark.parametrize("argv, flag", [
    (["export", "{rbm}", "-o", "{tmp}/m.onnx", "--c", "{file}"], "--c"),
    (["report", "{model}", "--plots", "{file}"], "--plots"),
    (["demo", "--out", "{file}"], "--out"),
    (["report", "{model}", "--plots", "{file}/sub"], "--plots"),
])
def test_folder_arguments_that_name_a_file(files, tmp_path, capsys, argv, flag):
    model = tmp_path / "m0.onnx"
    assert run_cli(["export", files["rbm"], "-o", model, "-q"], capsys)[0] == 0
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    argv = [a.format(rbm=files["rbm"], tmp=tmp_path, file=a_file, model=model) for a in argv]
    code, err = run_cli(argv, capsys)
    _one_line_error(code, err, f"argument {flag}: cannot write into folder", "expected a folder")


# ------------------------------------------------------------------------------ limits
@pytest.mark.parametrize("argv, message", [
    (["export", "{rbm}", "-o", "{tmp}/m.onnx", "--mode", "sample", "--samples", "100000"],
     "--samples 100000 is above the limit 256"),
    (["export", "{rbm}", "-o", "{tmp}/m.onnx", "--gibbs-steps", "100000"], "--gibbs-steps 100000 is above the limit 100"),
    (["verify", "{tmp}/m.onnx", "--inputs", "100000000"], "--inputs 100000000 is above the limit 100,000"),
    (["verify", "{tmp}/m.onnx", "--batch", "10000000"], "--batch 10000000 is above the limit"),
    (["train", "mlp", "--hidden", "100000000", "-o", "{tmp}/p.npz"], "--hidden 100000000 is above the limit 16,384"),
    (["train", "rbm", "--beta", "1e300", "-o", "{tmp}/p.npz"], "--beta 1e+300 is above the limit 100"),
    (["train", "rbm", "--n-z", "100000", "-o", "{tmp}/p.npz"], "--n-z 100000 is above the limit"),
    (["train", "mlp", "--test-samples", "5000", "-o", "{tmp}/p.npz"], "--test-samples 5000 is above the limit"),
])
def test_size_arguments_are_bounded_before_work(files, tmp_path, capsys, argv, message):
    argv = [a.format(rbm=files["rbm"], tmp=tmp_path) for a in argv]
    code, err = run_cli(argv, capsys)
    _one_line_error(code, err, message, "lowprec --max ")
    assert not any(tmp_path.iterdir())               # nothing written


def test_max_raises_and_lowers_a_limit(files, tmp_path, capsys):
    argv = ["export", files["rbm"], "-o", tmp_path / "e.onnx", "--mode", "sample", "--samples", "3", "-q"]
    code, err = run_cli(["--max", "samples=2", *argv], capsys)
    _one_line_error(code, err, "--samples 3 is above the limit 2")
    assert run_cli(["--max", "samples=3", *argv], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e-0.onnx", "e-1.onnx", "e-2.onnx"]
    # the limit is per invocation: the next call starts from the defaults again
    code, err = run_cli(["export", files["rbm"], "-o", tmp_path / "g.onnx", "--gibbs-steps", "101"], capsys)
    _one_line_error(code, err, "above the limit 100")
    code, err = run_cli(["--max", "nonsense=3", "verify", "x.onnx"], capsys)
    _one_line_error(code, err, "--max expects NAME=VALUE with NAME one of hidden")


@pytest.mark.parametrize("flag, value, message", [
    ("--beta", "nan", "expected a finite number"), ("--beta", "-1", "expected a number in (0, inf]"),
    ("--lr", "inf", "expected a finite number"), ("--bp-damping", "1", "expected a number in [0, 1)"),
    ("--threshold", "0", "expected a number in (0, 1]"),
])
def test_float_arguments_are_validated(tmp_path, capsys, flag, value, message):
    code, err = run_cli(["train", "rbm", flag, value, "-o", tmp_path / "p.npz"], capsys)
    _one_line_error(code, err, f"argument {flag}: {message}")


# ------------------------------------------------------------------------------ predict on labels the model lacks
def test_predict_with_labels_beyond_the_models_classes(files, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert run_cli(["export", files["mlp"], "-o", model, "-q"], capsys)[0] == 0
    ds = load_embedded_sample()
    data = tmp_path / "data"
    data.mkdir()
    labels = ds.y_test[:20].copy()
    labels[7] = 12
    for stem, arr in (("train-images-idx3-ubyte", ds.x_train[:20]), ("train-labels-idx1-ubyte", ds.y_train[:20]),
                      ("t10k-images-idx3-ubyte", ds.x_test[:20]), ("t10k-labels-idx1-ubyte", labels)):
        write_idx(data / stem, arr)
    code, err = run_cli(["predict", model, "--data", data, "--quiet"], capsys)
    # an IndexError before; now the image counts as wrong, with a warning (label-to-class mapping)
    assert code == 0 and "Traceback" not in err
    assert "warning: 1 of 20 test images have labels [12] that the model was not trained on" in err


# ------------------------------------------------------------------------------ explicit targets
def test_requested_target_without_its_toolchain_is_an_error(files, tmp_path, capsys):
    """A device named with --targets fails with the Debian package when its compiler is missing (PATH empty:
    no tool can be found); with --target all the same device is only reported as skipped."""
    model = tmp_path / "m.onnx"
    assert run_cli(["export", files["rbm"], "-o", model, "-q"], capsys)[0] == 0
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty), PYTHONPATH=str(SRC))
    run = lambda *a: subprocess.run([sys.executable, "-m", "lowprec_rbm", "verify", str(model), "--inputs", "2", *a],
                                    env=env, capture_output=True, text=True, timeout=300)  # noqa: E731
    proc = run("--targets", "cortex-m4")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("lowprec: error: target 'cortex-m4' was requested but cannot run here: "
                                   "arm-none-eabi-gcc not found: install the Debian packages gcc-arm-none-eabi "
                                   "libnewlib-arm-none-eabi (apt-get install gcc-arm-none-eabi "
                                   "libnewlib-arm-none-eabi)")
    proc = run("--targets", "reference,all", "--no-float")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("cortex-m4"))
    assert "SKIPPED" in row and "gcc-arm-none-eabi" in row


def _default_size_mlp(path: Path, first: int = 1024) -> Path:
    """The default trained architecture, 784-1024-1024-10 with ±1 weights (what `train mlp` writes); ``first``
    changes the first hidden layer's width."""
    rng = np.random.default_rng(0)
    pm = lambda shape: rng.choice(np.array([-1, 1], np.int8), shape)  # noqa: E731
    hidden = [(Dense(pm((n, k))), Threshold(np.ones(n, int), np.zeros(n, int)))
              for n, k in ((first, 784), (1024, first))]
    net = MLPNetwork(InputSpec("threshold", 784, "uint8", threshold=127.5), hidden,
                     (Dense(pm((10, 1024))), OutputAffine.identity(10)))
    return save_model(build_model(net, mode="custom"), path)


needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                               reason="needs gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")


@pytest.mark.device
@needs_arm
def test_model_too_large_for_the_device(tmp_path, capsys):
    from targets.verify import verify

    model = _default_size_mlp(tmp_path / "big.onnx")
    sizes = "the device has 256.0 kB of flash and 16.0 kB of RAM"
    # 784-2048-1024-10: 456 kB of packed weights, so not even the deployed predict() fits 256 kB of flash
    huge = _default_size_mlp(tmp_path / "huge.onnx", first=2048)
    code, err = run_cli(["report", huge, "--target", "cortex-m0", "--quiet"], capsys)
    _one_line_error(code, err, "cortex-m0: the model does not fit the device: the deployed predict() program",
                    "of RAM", sizes)
    # verify: neither its verify harness nor its deployed predict() fits; named, it is an error with the sizes
    code, err = run_cli(["verify", huge, "--targets", "cortex-m0", "--inputs", "1"], capsys)
    _one_line_error(code, err, "target 'cortex-m0' was requested but cannot run this model", sizes,
                    "nor does the deployed predict() program: it needs")
    # what --target all does with it: the device is skipped with the sizes, nothing fails
    report = verify(huge, ["cortex-m0"], n_inputs=1, ground_truth=False)
    (res,) = report.results
    assert res.status == "skipped" and "does not fit" in res.reason and sizes in res.reason
    assert report.ok
    # the default size: its deployment fits (report measures it), its verify harness (buffers for every
    # layer's outputs) does not, so verify runs the deployed build and compares its outputs
    out = tmp_path / "big.json"
    assert run_cli(["report", model, "--target", "cortex-m0", "--quiet", "--json", str(out)], capsys)[0] == 0
    dev = json.loads(out.read_text())["device"]
    assert dev["flash_bytes"] < 256 * 1024 and dev["ram_bytes"] < 16 * 1024
    report = verify(model, ["cortex-m0"], n_inputs=2, batch=2, ground_truth=False)
    (res,) = report.results
    assert report.ok and (res.status, res.inputs, res.tensors) == ("ok", 2, 2)
    assert res.note.startswith("outputs only: the deployed predict() build") and res.note.endswith(
        "the device has 16.0 kB")
