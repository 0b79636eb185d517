"""``lowprec train rbm`` end to end on the embedded sample, and its error paths."""
import numpy as np
import pytest

from lowprec_rbm.cli.main import main
from cli_run import run_cli
from lowprec_rbm.posterior_file import load_posterior
from lowprec_rbm.rbm import BinaryRBM


def test_train_rbm_end_to_end(tmp_path, capsys):
    out = tmp_path / "posterior.npz"
    code = main(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "4", "--epochs", "2",
                 "--seed", "1", "--verbose", "-o", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("lower bound/sample") == 3 and "epoch   2" in err and str(out) in err
    arrays, meta = load_posterior(out, kind="rbm")
    assert arrays["lam"].shape == (784, 4)
    assert meta["config"]["rule"] == "blr" and meta["config"]["random_state"] == 1 and meta["config"]["beta"] == 1.0
    assert meta["data"]["source"] == "embedded-sample" and meta["data"]["binarize_threshold"] == 0.5
    assert meta["config"]["data_source"] == "embedded-sample" and meta["config"]["binarize_threshold"] == 0.5
    assert meta["data"]["n_used"] == 200 and len(meta["history"]) == 2
    # Same command, same seed -> the same bits; --quiet prints nothing.
    out2 = tmp_path / "again.npz"
    assert main(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "4", "--epochs", "2",
                 "--seed", "1", "--quiet", "-o", str(out2)]) == 0
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(BinaryRBM.load(out2).posterior_.lam, arrays["lam"])


@pytest.mark.parametrize("args,message", [
    (["--data", "/nonexistent/folder"], "does not exist"),
    (["--beta", "0"], "argument --beta: expected a number in (0, inf], got 0"),
    (["--beta", "inf"], "argument --beta: expected a finite number"),
    (["--beta", "1e300"], "--beta 1e+300 is above the limit 100 on the inverse temperature"),
    (["--lr", "-1"], "argument --lr: expected a number in (0, inf], got -1"),
    (["--threshold", "1.5"], "argument --threshold: expected a number in (0, 1], got 1.5"),
    (["--seed", "-3"], "argument --seed: expected an integer >= 0, got -3"),
    (["--hidden", "100000000"], "--hidden 100000000 is above the limit 16,384 on the units per hidden layer"),
    (["--epochs", "20000"], "lowprec --max epochs=N"),
    (["--discriminative", "-1"], "argument --discriminative: expected a number in [0, inf], got -1"),
    (["--readout-rate", "0"], "argument --readout-rate: expected a number in (0, inf], got 0"),
])
def test_train_rbm_bad_input_exits_2(tmp_path, capsys, args, message):
    code, err = run_cli(["train", "rbm", "--data", "sample", "--limit", "50", "--epochs", "1", "--quiet",
                         "-o", str(tmp_path / "p.npz")] + args, capsys)
    assert code == 2
    assert "error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "p.npz").exists()


def test_train_rbm_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "rbm", "--hidden", "0", "-o", str(tmp_path / "p.npz")])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "rbm", "--rule", "sgd", "-o", str(tmp_path / "p.npz")])


def test_train_rbm_discriminative(tmp_path, capsys):
    # the hybrid RBM from the CLI: the labels of the data set are used, the readout's accuracy is printed per
    # epoch, and the posterior file records the weight (the readout itself is not in the file)
    out = tmp_path / "hybrid.npz"
    assert main(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "4", "--epochs", "2",
                 "--discriminative", "10", "--readout-rate", "0.01", "--seed", "1", "--verbose", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("label readout train acc") == 2
    arrays, meta = load_posterior(out, kind="rbm")
    assert meta["config"]["discriminative"] == 10.0 and meta["config"]["readout_rate"] == 0.01
    assert set(arrays) == {"lam", "visible_field", "hidden_field"}
    assert all(0.0 <= r["readout_train_acc"] <= 1.0 for r in meta["history"])
    # the labels change the training: not the generative RBM's bits
    plain = tmp_path / "plain.npz"
    assert main(["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "4", "--epochs", "2",
                 "--seed", "1", "--quiet", "-o", str(plain)]) == 0
    assert not np.array_equal(load_posterior(plain, kind="rbm")[0]["lam"], arrays["lam"])
    assert BinaryRBM.load(out).discriminative == 10.0
