"""`lowprec train mlp` end to end on the embedded sample, and its input errors."""
import numpy as np
import pytest

from lowprec_rbm.cli.main import main
from cli_run import run_cli
from lowprec_rbm.nn import MLPClassifier, deployable_mlp
from lowprec_rbm.posterior_file import load_posterior

FAST = ["--data", "sample", "--hidden", "32", "--epochs", "2", "--limit", "600", "--test-samples", "2"]


def test_train_mlp_writes_a_posterior(tmp_path, capsys):
    out = tmp_path / "bin.npz"
    rc = main(["train", "mlp", *FAST, "--rule", "bayesbinn", "--activation", "sign", "--input", "bitplanes",
               "--set", "kl_weight=0.01", "--seed", "3", "-o", str(out)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "epoch   2/2" in err and "val " in err and "test (map)" in err and "test (mean of 2)" in err
    arrays, meta = load_posterior(out, kind="mlp")
    cfg = meta["config"]
    assert cfg["rule"] == "bayesbinn" and cfg["input"] == "bitplanes" and cfg["activation"] == "sign"
    assert cfg["rule_params"]["kl_weight"] == 0.01 and cfg["seed"] == 3
    assert cfg["data"]["source"] == "embedded-sample" and cfg["data"]["n_val"] == 60
    assert cfg["data"]["n_train_used"] == 540 and cfg["n_train"] == 540
    assert len(meta["history"]) == 2 and "abs_lam_quantiles" in meta["history"][-1]
    assert {"test_map", "test_mean"} <= set(meta["final"])
    assert arrays["layer0.lam"].shape == (32, 784) and arrays["layer1.lam"].shape == (10, 32)
    dep = deployable_mlp(out)
    assert [w.shape for w in dep.weights] == [(32, 784), (10, 32)]


def test_train_mlp_same_seed_same_bits(tmp_path):
    paths = []
    for name in ("a", "b"):
        p = tmp_path / f"{name}.npz"
        assert main(["train", "mlp", *FAST, "--rule", "ternary-vi", "--activation", "sign", "--quiet",
                     "--seed", "5", "-o", str(p)]) == 0
        paths.append(p)
    a, _ = load_posterior(paths[0])
    b, _ = load_posterior(paths[1])
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert MLPClassifier.load(paths[0]).rule == "ternary-vi"


@pytest.mark.parametrize("args, message", [
    (["--rule", "ternary-vi"], "activation='sign'"),
    (["--set", "nonsense"], "NAME=VALUE"),
    (["--set", "foo=1"], "unknown hyper-parameter"),
    (["--hidden", "10,abc"], "argument --hidden: expected comma-separated positive integers, got '10,abc'"),
    (["--hidden", "100000000"], "--hidden 100000000 is above the limit 16,384"),
    (["--hidden", ",".join(["8"] * 65)], "--hidden (number of layers) 65 is above the limit 64"),
    (["--seed", "-1"], "argument --seed"),
    (["--lr", "0"], "argument --lr: expected a number in (0, inf]"),
    (["--lr", "nan"], "argument --lr: expected a finite number"),
    (["--bn-eps", "0"], "argument --bn-eps"),
    (["--batch-size", "5000"], "--batch-size"),
    (["--data", "/nonexistent/folder"], "does not exist"),
])
def test_train_mlp_bad_input(tmp_path, capsys, args, message):
    rc, err = run_cli(["train", "mlp", *FAST, "--quiet", *args, "-o", str(tmp_path / "x.npz")], capsys)
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_train_mlp_argparse_errors(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["train", "mlp", "--rule", "bop", "-o", str(tmp_path / "x.npz")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["train", "mlp", "--epochs", "0", "-o", str(tmp_path / "x.npz")])
