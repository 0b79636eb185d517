"""Fuzzed loaders: damaged copies of valid files must either load correctly or raise the loader's documented
error — never anything else (no zlib.error, AttributeError, IndexError ... escaping), and through the CLI
never a traceback: one ``lowprec: error: ...`` line and exit 2.

Loaders and their documented errors:
- posterior files (``lowprec_rbm.posterior_file.load_posterior``): ``PosteriorFileError``;
- IDX files (``lowprec_rbm.data.idx.read_idx``): ``IDXError``;
- ONNX artifacts (``export.onnx.load_artifact`` + ``network_from_onnx``): ``ArtifactError`` / ``LayoutError``.

Damage: truncation, XOR-ed bytes, overwritten or inserted spans (tests/fuzzing.py), and field changes of
valid files (posterior JSON header values; IDX type code, rank and sizes; ONNX initializer dims/dtypes/data,
metadata, attributes, with the content digest recomputed so that the checks behind it are reached).
Hypothesis runs derandomized, so CI sees the same cases every time; the counts print in the run summary.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_run import run_cli
from devices_models import device_models
from export.layout import LayoutError
from export.onnx import build_model, load_artifact, network_from_onnx, save_model
from export.digest import seal
from export.onnx.load import ArtifactError
from fuzzing import COUNTS, mutated
from lowprec_rbm.data.idx import IDXError, read_idx, write_idx
from lowprec_rbm.posterior_file import FORMAT, PosteriorFileError, load_posterior, save_posterior

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
SRC = Path(__file__).resolve().parents[1] / "src"


# ------------------------------------------------------------------------------------------------ valid files
def _rbm_posterior(path: Path) -> Path:
    rng = np.random.default_rng(0)
    return save_posterior(path, {"lam": rng.normal(size=(30, 5)).astype(np.float32)},
                          {"kind": "rbm", "config": {"beta": 1.0, "threshold": 0.5}, "history": []})


def _mlp_posterior(path: Path) -> Path:
    rng = np.random.default_rng(1)
    sizes = (20, 6, 3)
    arrays = {}
    for i in range(2):
        arrays[f"layer{i}.lam"] = rng.normal(size=(sizes[i + 1], sizes[i])).astype(np.float32)
        arrays[f"bn{i}.mean"] = rng.normal(size=sizes[i + 1])
        arrays[f"bn{i}.var"] = rng.uniform(0.5, 2.0, size=sizes[i + 1]) * sizes[i]
    cfg = {"sizes": list(sizes), "activation": "sign", "input": "binary", "threshold": 0.5, "bn_eps": 1e-4,
           "rule": "bayesbinn"}
    return save_posterior(path, arrays, {"kind": "mlp", "config": cfg})


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-valid")
    files = {"rbm.npz": _rbm_posterior(d / "rbm.npz"), "mlp.npz": _mlp_posterior(d / "mlp.npz")}
    images = np.random.default_rng(2).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    write_idx(d / "img.idx", images)
    write_idx(d / "img.idx.gz", images)
    files.update({"img.idx": d / "img.idx", "img.idx.gz": d / "img.idx.gz"})
    models = device_models()
    for name in ("mlp_binary_u8", "rbm_pm1_gibbs2"):
        files[f"{name}.onnx"] = save_model(build_model(models[name], mode="custom"), d / f"{name}.onnx")
    return {k: Path(v) for k, v in files.items()}


def _outcome(load, path: Path, errors: tuple[type, ...]):
    """Load ``path``; return the result, or None after a documented error. Any other exception fails the test
    with the damaged file's description in the message."""
    try:
        return load(path)
    except errors:
        return None


# ------------------------------------------------------------------------------------------ posterior files
def _check_posterior(result) -> None:
    if result is None:
        return
    arrays, meta = result
    assert isinstance(meta, dict) and meta["format"] == FORMAT and isinstance(meta["kind"], str)
    assert all(a.dtype.kind in "biuf" for a in arrays.values())


@pytest.mark.parametrize("name", ["rbm.npz", "mlp.npz"])
def test_posterior_bytes_fuzz(valid, tmp_path, name):
    data = valid[name].read_bytes()
    target = tmp_path / "p.npz"

    @settings(FUZZ, max_examples=400)
    @given(mutated(data))
    def case(damaged):
        _, raw = damaged
        target.write_bytes(raw)
        COUNTS["posterior"] += 1
        _check_posterior(_outcome(load_posterior, target, (PosteriorFileError,)))

    case()


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                     max_leaves=6)


def _npz(path: Path, arrays: dict, meta_array) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, __meta__=meta_array)
    path.write_bytes(buf.getvalue())


def test_posterior_header_fuzz(valid, tmp_path):
    """Header values replaced by arbitrary JSON (or the header by a non-JSON / non-text array), arrays by
    non-numeric ones: every case loads into a well-formed result or raises PosteriorFileError."""
    with np.load(valid["rbm.npz"]) as z:
        lam = z["lam"]
        meta = json.loads(str(z["__meta__"][()]))
    target = tmp_path / "h.npz"

    @settings(FUZZ, max_examples=300)
    @given(key=st.sampled_from(["format", "format_version", "kind", "config", "history", "<whole>", "<array>",
                                "<text>", "<str-array>"]),
           value=_json)
    def case(key, value):
        arrays = {"lam": lam}
        if key == "<whole>":
            header = np.array(json.dumps(value))
        elif key == "<array>":
            header = np.arange(3)
        elif key == "<text>":
            header = np.array(str(value) + "{")
        else:
            m = dict(meta)
            if key == "<str-array>":
                arrays["lam"] = np.array(["a", "b"])
            else:
                m[key] = value
            header = np.array(json.dumps(m))
        _npz(target, arrays, header)
        COUNTS["posterior"] += 1
        _check_posterior(_outcome(load_posterior, target, (PosteriorFileError,)))

    case()


def test_posterior_meta_not_an_object_is_a_clear_error(tmp_path):
    _npz(tmp_path / "p.npz", {"lam": np.zeros((2, 2))}, np.array("[1, 2]"))
    with pytest.raises(PosteriorFileError, match="must hold a JSON object, found list"):
        load_posterior(tmp_path / "p.npz")


# ------------------------------------------------------------------------------------------------ IDX files
def _check_idx(result, raw: bytes) -> None:
    if result is None:
        return
    # a correct load: the header's sizes times the item size account for every data byte
    plain = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    ndim = plain[3]
    assert result.ndim == ndim and result.nbytes == len(plain) - 4 - 4 * ndim


@pytest.mark.parametrize("name", ["img.idx", "img.idx.gz"])
def test_idx_bytes_fuzz(valid, tmp_path, name):
    data = valid[name].read_bytes()
    target = tmp_path / "f.idx"

    @settings(FUZZ, max_examples=400)
    @given(mutated(data))
    def case(damaged):
        _, raw = damaged
        target.write_bytes(raw)
        COUNTS["idx"] += 1
        _check_idx(_outcome(read_idx, target, (IDXError,)), raw)

    case()


def test_idx_header_fuzz(tmp_path):
    """Type code, rank and sizes of the header set to anything (sizes up to 2^32 - 1, whose product overflows
    int64 for rank >= 3), with or without gzip."""
    target = tmp_path / "h.idx"

    @settings(FUZZ, max_examples=300)
    @given(code=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), max_size=5),
           payload=st.binary(max_size=64), zipped=st.booleans())
    def case(code, dims, payload, zipped):
        raw = b"\x00\x00" + bytes([code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload
        target.write_bytes(gzip.compress(raw) if zipped else raw)
        COUNTS["idx"] += 1
        _check_idx(_outcome(read_idx, target, (IDXError,)), raw)

    case()


def test_idx_corrupt_gzip_is_an_idx_error(valid, tmp_path):
    raw = bytearray(valid["img.idx.gz"].read_bytes())
    raw[12] ^= 0xFF                          # inside the deflate stream: zlib.error before this fix
    (tmp_path / "bad.gz").write_bytes(bytes(raw))
    with pytest.raises(IDXError, match="gzip stream is corrupt"):
        read_idx(tmp_path / "bad.gz")


# ------------------------------------------------------------------------------------------- ONNX artifacts
def _load_onnx(path):
    return network_from_onnx(load_artifact(path))


ONNX_ERRORS = (ArtifactError, LayoutError)


@pytest.mark.parametrize("name", ["mlp_binary_u8.onnx", "rbm_pm1_gibbs2.onnx"])
def test_onnx_bytes_fuzz(valid, tmp_path, name):
    data = valid[name].read_bytes()
    target = tmp_path / "m.onnx"

    @settings(FUZZ, max_examples=150)
    @given(mutated(data))
    def case(damaged):
        _, raw = damaged
        target.write_bytes(raw)
        COUNTS["onnx"] += 1
        _outcome(_load_onnx, target, ONNX_ERRORS)

    case()


def _restamp(model: onnx.ModelProto) -> None:
    seal(model)  # a recomputed digest: the checks behind it must catch the edit


@pytest.mark.parametrize("name", ["mlp_binary_u8.onnx", "rbm_pm1_gibbs2.onnx"])
def test_onnx_field_fuzz(valid, tmp_path, name):
    """Field changes with a recomputed digest, so that every check behind the digest is exercised."""
    base = onnx.load(valid[name])
    target = tmp_path / "f.onnx"
    n_init, n_meta = len(base.graph.initializer), len(base.metadata_props)
    attr_nodes = [i for i, n in enumerate(base.graph.node) if n.attribute]

    @settings(FUZZ, max_examples=150)
    @given(kind=st.sampled_from(["dims", "dtype", "raw", "meta", "config", "attr", "drop-node", "ir", "opset"]),
           i=st.integers(0, 10**6), value=st.integers(-1, 2**31) | st.sampled_from([0, 1, 2, 3, 64]),
           text=st.text(max_size=8), cfg_value=_json)
    def case(kind, i, value, text, cfg_value):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        t = m.graph.initializer[i % n_init]
        if kind == "dims" and len(t.dims):
            t.dims[i % len(t.dims)] = value
        elif kind == "dtype":
            t.data_type = value % 26
        elif kind == "raw":
            t.raw_data = t.raw_data[:value % (len(t.raw_data) + 1)]
        elif kind == "meta":
            m.metadata_props[i % n_meta].value = text
        elif kind == "config":
            p = next(p for p in m.metadata_props if p.key == "lowprec.config")
            cfg = json.loads(p.value)
            cfg[sorted(cfg)[i % len(cfg)]] = cfg_value
            p.value = json.dumps(cfg)
        elif kind == "attr" and attr_nodes:
            a = m.graph.node[attr_nodes[i % len(attr_nodes)]].attribute[0]
            if a.type == onnx.AttributeProto.INT:
                a.i = value
            elif a.type == onnx.AttributeProto.FLOAT:
                a.f = float(value)
        elif kind == "drop-node":
            del m.graph.node[i % len(m.graph.node)]
        elif kind == "ir":
            m.ir_version = value % 100
        elif kind == "opset":
            m.opset_import[i % len(m.opset_import)].version = value % 100
        _restamp(m)
        target.write_bytes(m.SerializeToString())
        COUNTS["onnx"] += 1
        _outcome(_load_onnx, target, ONNX_ERRORS)

    case()


# ----------------------------------------------------------------------------------------- through the CLI
def _damaged_copies(data: bytes, n: int, seed: int) -> list[bytes]:
    """n deterministic damaged copies (truncations and byte flips) for the CLI runs."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        if k % 2 == 0:
            out.append(data[:int(rng.integers(0, len(data)))])
        else:
            b = bytearray(data)
            for pos in rng.integers(0, len(data), 3):
                b[pos] ^= int(rng.integers(1, 256))
            out.append(bytes(b))
    return out


def _assert_one_line_error(code: int, err: str, what: str) -> None:
    assert code in (0, 2), f"{what}: exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err, f"{what}: {err}"
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("lowprec: error:"), f"{what}: {err}"


def test_cli_on_damaged_posteriors(valid, tmp_path, capsys):
    for name in ("rbm.npz", "mlp.npz"):
        for j, raw in enumerate(_damaged_copies(valid[name].read_bytes(), 12, seed=len(name))):
            bad = tmp_path / f"{j}-{name}"
            bad.write_bytes(raw)
            code, err = run_cli(["export", bad, "-o", tmp_path / "out.onnx", "-q"], capsys)
            COUNTS["cli"] += 1
            _assert_one_line_error(code, err, f"export of damaged {name} #{j}")
            assert code == 2 or load_posterior(bad)     # exit 0 only when the loader accepted the file


def test_cli_on_damaged_models(valid, tmp_path, capsys):
    for name in ("mlp_binary_u8.onnx", "rbm_pm1_gibbs2.onnx"):
        for j, raw in enumerate(_damaged_copies(valid[name].read_bytes(), 8, seed=len(name))):
            bad = tmp_path / f"{j}-{name}"
            bad.write_bytes(raw)
            for argv in (["verify", bad, "--inputs", "2", "--targets", "reference,onnxruntime"], ["report", bad]):
                code, err = run_cli(argv, capsys)
                COUNTS["cli"] += 1
                _assert_one_line_error(code, err, f"{argv[0]} of damaged {name} #{j}")
                assert code == 2     # a damaged artifact never passes its digest


def test_cli_on_damaged_idx_folder(tmp_path, capsys):
    """Four-file data folders with one damaged file: training reads them (exit 2 with one line, or a run on
    data that still loads)."""
    from lowprec_rbm.data import load_embedded_sample

    ds = load_embedded_sample()
    parts = {"train-images-idx3-ubyte": ds.x_train[:40], "train-labels-idx1-ubyte": ds.y_train[:40],
             "t10k-images-idx3-ubyte": ds.x_test[:10], "t10k-labels-idx1-ubyte": ds.y_test[:10]}
    for j, victim in enumerate(parts):
        clean = io.BytesIO()
        write_idx(tmp_path / "clean.idx", parts[victim])
        for k, raw in enumerate(_damaged_copies((tmp_path / "clean.idx").read_bytes(), 4, seed=j)):
            folder = tmp_path / f"d{j}-{k}"
            folder.mkdir()
            for stem, arr in parts.items():
                if stem == victim:
                    (folder / stem).write_bytes(raw)
                else:
                    write_idx(folder / stem, arr)
            code, err = run_cli(["train", "rbm", "--data", folder, "--hidden", "2", "--epochs", "1", "--quiet",
                                 "-o", tmp_path / "p.npz"], capsys)
            COUNTS["cli"] += 1
            _assert_one_line_error(code, err, f"train rbm on {victim} damaged #{k}")
        del clean


def test_cli_subprocess_no_traceback_no_hang(valid, tmp_path):
    """The installed entry point in a fresh process (what a user runs), with a timeout against hangs."""
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = []
    for name, argv in (("rbm.npz", ["export", "{bad}", "-o", str(tmp_path / "o.onnx")]),
                       ("mlp_binary_u8.onnx", ["verify", "{bad}", "--inputs", "2"]),
                       ("img.idx.gz", ["predict", str(valid["mlp_binary_u8.onnx"]), "--data", "{folder}"])):
        for j, raw in enumerate(_damaged_copies(valid[name].read_bytes(), 2, seed=7)):
            bad = tmp_path / f"s{j}-{name}"
            bad.write_bytes(raw)
            folder = tmp_path / f"s{j}-data"
            folder.mkdir(exist_ok=True)
            for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                         "t10k-labels-idx1-ubyte"):
                (folder / stem).write_bytes(raw)
            runs.append([a.format(bad=bad, folder=folder) for a in argv])
    for argv in runs:
        proc = subprocess.run([sys.executable, "-m", "lowprec_rbm", *argv], env=env, capture_output=True,
                              text=True, timeout=120)
        COUNTS["cli-subprocess"] += 1
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1].startswith("lowprec: error:"), proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_posterior_given_a_npy_file(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(4))
    with pytest.raises(PosteriorFileError, match="a single .npy array"):
        load_posterior(tmp_path / "a.npy")
