"""lowprec sample (Gibbs samples as a PNG grid), train rbm --ais-every, and report's AIS log-likelihood."""
import struct
import zlib

import numpy as np
import pytest

from lowprec_rbm.cli.main import main
from lowprec_rbm.data import binarize, load_dataset
from lowprec_rbm.posterior_file import load_posterior
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.report.png import image_grid


@pytest.fixture(scope="module")
def posterior(tmp_path_factory):
    ds = load_dataset("sample")
    X = binarize(ds.x_train[:200])
    model = BinaryRBM(n_hidden=4, epochs=1, batch_size=100, random_state=0).fit(X, data_info=ds.describe())
    return model.save(tmp_path_factory.mktemp("rbm") / "rbm.npz")


def _read_png(path):
    """Decode the greyscale PNG written by report.png (independently of it: chunks, CRCs, zlib, filter 0)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, w + 1)
    assert np.all(rows[:, 0] == 0)
    return rows[:, 1:]


def test_sample_writes_the_grid_and_is_seeded(posterior, tmp_path, capsys):
    png, bits = tmp_path / "s.png", tmp_path / "s.npy"
    assert main(["sample", str(posterior), "-n", "5", "--steps", "30", "-o", str(png), "--bits", str(bits),
                 "--quiet"]) == 0
    v = np.load(bits)
    assert v.shape == (5, 784) and v.dtype == np.int8
    np.testing.assert_array_equal(_read_png(png), image_grid(v, (28, 28)))
    # the CLI's draws are BinaryRBM.sample's with a Generator seeded from --seed
    model = BinaryRBM.load(posterior)
    np.testing.assert_array_equal(v, model.sample(5, n_steps=30, random_state=np.random.default_rng(0)))
    again = tmp_path / "t.npy"
    main(["sample", str(posterior), "-n", "5", "--steps", "30", "-o", str(tmp_path / "t.png"), "--bits",
          str(again), "--quiet"])
    np.testing.assert_array_equal(np.load(again), v)
    other = tmp_path / "u.npy"
    main(["sample", str(posterior), "-n", "5", "--steps", "30", "--seed", "1", "-o", str(tmp_path / "u.png"),
          "--bits", str(other), "--quiet"])
    assert not np.array_equal(np.load(other), v)
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["reference", "onnxruntime"])
def test_sample_on_a_target_equals_numpy(posterior, tmp_path, capsys, target):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert main(["sample", str(posterior), "-n", "3", "--steps", "27", "-o", str(tmp_path / "a.png"), "--bits",
                 str(a), "--quiet"]) == 0
    assert main(["sample", str(posterior), "-n", "3", "--steps", "27", "--target", target, "--check", "-o",
                 str(tmp_path / "b.png"), "--bits", str(b), "--quiet"]) == 0
    assert "agree on all 2352 units" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(a), np.load(b))


def test_sample_errors(posterior, tmp_path, capsys):
    from lowprec_rbm.posterior_file import save_posterior

    bare = tmp_path / "bare.npz"
    save_posterior(bare, {"lam": np.zeros((10, 2))}, {"kind": "rbm", "config": {"beta": 1.0}})
    cases = [
        (["sample", str(bare), "-o", str(tmp_path / "x.png")], "does not record the image shape"),
        (["sample", str(bare), "--image-shape", "3x3", "-o", str(tmp_path / "x.png")], "has 9 pixels"),
        (["sample", str(posterior), "--check", "-o", str(tmp_path / "x.png")], "--check compares a target"),
        (["sample", str(posterior), "--target", "gpu", "-o", str(tmp_path / "x.png")], "unknown --target 'gpu'"),
        (["sample", str(posterior), "--image-shape", "28by28", "-o", str(tmp_path / "x.png")], "expected HxW"),
        (["sample", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.png")], "missing.npz"),
        (["sample", str(tmp_path / "model.onnx"), "-o", str(tmp_path / "x.png")], "not an exported .onnx"),
    ]
    for argv, msg in cases:
        try:
            code = main(argv)
        except SystemExit as exc:        # argparse's own errors (same one-line format)
            code = exc.code
        assert code == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("lowprec: error:") and msg in err and "Traceback" not in err, err
    assert main(["sample", str(bare), "--image-shape", "2x5", "--steps", "3", "-n", "2", "-o",
                 str(tmp_path / "ok.png"), "--quiet"]) == 0


def test_train_with_ais_and_report(tmp_path, capsys):
    out = tmp_path / "rbm.npz"
    assert main(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "4", "--epochs", "2",
                 "--ais-every", "1", "--ais-samples", "20", "--ais-chains", "10", "--ais-temperatures", "50",
                 "--verbose", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("test ln p/image") == 2 and "test log-likelihood per image (AIS, epoch 2, 20 test" in err
    _, meta = load_posterior(out, kind="rbm")
    assert [("ais_log_likelihood" in r) for r in meta["history"]] == [True, True]
    assert meta["config"]["ais_every"] == 1 and meta["config"]["ais_chains"] == 10
    onnx = tmp_path / "rbm.onnx"
    assert main(["export", str(out), "-o", str(onnx)]) == 0
    rep = tmp_path / "rep.json"
    assert main(["report", str(onnx), "--posterior", str(out), "--data", "sample", "--inputs", "20", "--json",
                 str(rep), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "test log-likelihood per image (AIS, 20 test images, exported weights)" in text
    import json

    lik = json.loads(rep.read_text())["likelihood"]
    t, h = lik["test"], lik["training"]
    assert t["images"] == 20 and h["epoch"] == 2 and h["ais_samples"] == 20
    # same weights (MAP), same 20 test images, same binarisation: the two AIS runs estimate the same number;
    # their difference is two independent ln Z errors (training used 10 chains x 50 temperatures)
    assert abs(t["log_likelihood_per_image"] - h["ais_log_likelihood"]) <= 4 * np.hypot(t["log_z_se"],
                                                                                       h["ais_log_z_se"])
    # the one-sided figure is the estimate plus ln(1/0.05) (Markov on the unbiased Ẑ), printed with it
    assert t["log_likelihood_upper_95"] == pytest.approx(t["log_likelihood_per_image"] + np.log(20.0), abs=1e-9)
    assert f"at most {t['log_likelihood_upper_95']:.2f} nats with 95 % confidence" in text
    for flag, value in (("--ais-chains", "1"), ("--ais-temperatures", "2")):
        assert main(["train", "rbm", "--data", "sample", "--limit", "100", "--hidden", "2", "--epochs", "1",
                     "--ais-every", "1", flag, value, "-o", str(tmp_path / "x.npz")]) == 2
        assert flag in capsys.readouterr().err


def test_sample_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--steps" in out and "--target" in out and "--check" in out
