"""`lowprec verify --target all` ends with a table: one row per registered target, skipped ones with a reason."""
import numpy as np

from lowprec_rbm.cli.main import main
from lowprec_rbm.posterior_file import save_posterior


def test_all_targets_table(tmp_path, capsys):
    import targets.registry  # noqa: F401
    from targets.base import target_names

    post = tmp_path / "rbm.npz"
    save_posterior(post, {"lam": np.random.default_rng(3).normal(size=(40, 7))}, {"kind": "rbm", "config": {}})
    assert main(["export", str(post), "-o", str(tmp_path / "m.onnx"), "-q"]) == 0
    assert main(["verify", str(tmp_path / "m.onnx"), "--target", "all", "--inputs", "5", "--batch", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = out.index(next(l for l in out if l.startswith("target ")))
    # columns are separated by two or more spaces (names themselves contain single spaces)
    import re

    rows = {re.split(r"\s{2,}", line)[0]: re.split(r"\s{2,}", line)[1] for line in out[head + 2:] if line.strip()}
    names = {n.split(" (")[0] for n in rows}
    assert set(target_names()) <= names and "float ±1 ground truth" in rows
    assert rows["onnxruntime"] == "OK" and rows["float ±1 ground truth"] == "OK"
    assert all(v in ("OK", "SKIPPED") for v in rows.values())
