"""Checkpoints: interrupted training (SIGKILL, Ctrl-C, a stop request) resumes to the same bits; settings that
differ from the checkpoint's are named; a killed write leaves the previous file intact."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lowprec_rbm import checkpoint as ckpt
from lowprec_rbm.cli.main import main
from lowprec_rbm.data import binarize, load_embedded_sample
from lowprec_rbm.nn import MLPClassifier
from lowprec_rbm.posterior_file import load_posterior, save_posterior
from lowprec_rbm.rbm import BinaryRBM
from lowprec_rbm.rules.base import AdamState, TraceState

SRC = str(Path(__file__).resolve().parents[1] / "src")
# One BLAS thread: float32 sums are then in a fixed order, the premise of bit-identical resumption.
ENV = dict(os.environ, PYTHONPATH=SRC, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

MLP_ARGS = ["train", "mlp", "--data", "sample", "--limit", "1000", "--hidden", "64", "--epochs", "8",
            "--activation", "sign", "--set", "momentum=0.9", "--test-samples", "2", "--seed", "4", "--quiet"]
RBM_ARGS = ["train", "rbm", "--data", "sample", "--limit", "200", "--hidden", "8", "--epochs", "8",
            "--batch-size", "50", "--seed", "4", "--quiet"]


def _lowprec(args, **kw):
    return subprocess.run([sys.executable, "-m", "lowprec_rbm", *args], env=ENV, capture_output=True, text=True,
                          **kw)


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "lowprec_rbm", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Poll until ``path`` exists (the first epoch's checkpoint); the run must still be going."""
    while not path.exists():
        assert proc.poll() is None, f"training ended before writing {path}: {proc.communicate()}"
        time.sleep(0.005)


def _assert_same_arrays(a_path, b_path):
    a, meta_a = load_posterior(a_path)
    b, meta_b = load_posterior(b_path)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    return meta_a, meta_b


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference runs, in a subprocess with the same environment as the interrupted ones."""
    tmp = tmp_path_factory.mktemp("ref")
    out = {}
    for kind, args in (("mlp", MLP_ARGS), ("rbm", RBM_ARGS)):
        out[kind] = tmp / f"{kind}.npz"
        r = _lowprec([*args, "-o", str(out[kind])])
        assert r.returncode == 0, r.stderr
        assert not ckpt.default_path(out[kind]).exists()   # removed once the output is written
    return out


@pytest.mark.parametrize("kind, args", [("mlp", MLP_ARGS), ("rbm", RBM_ARGS)])
def test_sigkill_then_resume_is_bit_identical(tmp_path, uninterrupted, kind, args):
    out = tmp_path / f"{kind}.npz"
    ck = ckpt.default_path(out)
    proc = _start([*args, "-o", str(out)])
    _wait_for(ck, proc)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    _, meta = load_posterior(ck)
    assert 1 <= meta["epoch"] < 8 and meta["position"] is None
    r = _lowprec([*args, "-o", str(out), "--resume"])
    assert r.returncode == 0, r.stderr
    assert not ck.exists()
    meta_ref, meta_res = _assert_same_arrays(uninterrupted[kind], out)
    assert [h["epoch"] for h in meta_res["history"]] == list(range(1, 9))
    key = "loss" if kind == "mlp" else "lower_bound"
    assert [h[key] for h in meta_res["history"]] == [h[key] for h in meta_ref["history"]]


@pytest.mark.parametrize("kind, args", [("mlp", MLP_ARGS), ("rbm", RBM_ARGS)])
def test_ctrl_c_saves_a_checkpoint_exits_130_and_resumes(tmp_path, uninterrupted, kind, args):
    out = tmp_path / f"{kind}.npz"
    ck = tmp_path / "my.ckpt.npz"
    proc = _start([*args, "-o", str(out), "--checkpoint", str(ck)])
    _wait_for(ck, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"checkpoint saved to {ck}" in lines[0] and "--resume" in lines[0] and "Traceback" not in err
    assert not out.exists()
    _, meta = load_posterior(ck)
    assert meta["position"] is not None   # saved at a minibatch boundary inside an epoch
    r = _lowprec([*args, "-o", str(out), "--checkpoint", str(ck), "--resume"])
    assert r.returncode == 0, r.stderr
    assert not ck.exists()
    _assert_same_arrays(uninterrupted[kind], out)


def test_resume_with_other_settings_names_the_keys(tmp_path, capsys):
    out = tmp_path / "m.npz"
    ck = ckpt.default_path(out)
    base = ["train", "mlp", "--data", "sample", "--limit", "300", "--hidden", "8", "--epochs", "2",
            "--activation", "sign", "--test-samples", "1", "--quiet", "-o", str(out)]
    assert main([*base, "--resume"]) == 2
    assert "lowprec: error: --resume: no checkpoint at" in capsys.readouterr().err
    # Write a checkpoint by a stopped fit (after one step).
    ds = load_embedded_sample()
    x, y = ds.x_train[:200], ds.y_train[:200]
    kw = dict(hidden="8", activation="sign", epochs=2, test_samples=1)
    calls = []
    with pytest.raises(ckpt.TrainingInterrupted):
        MLPClassifier(**kw).fit(x, y, checkpoint=ck, stop=lambda: calls.append(1) or len(calls) > 1)
    with pytest.raises(ValueError) as exc:
        MLPClassifier(**dict(kw, epochs=3), learning_rate=0.05).fit(x, y, checkpoint=ck, resume=True)
    msg = str(exc.value)
    assert "epochs: 2 in the checkpoint, 3 now" in msg and "rule_params.lr: 0.1 in the checkpoint, 0.05 now" in msg
    assert "seed" not in msg
    with pytest.raises(ValueError, match="data_sha256"):
        MLPClassifier(**kw).fit(x[:150], y[:150], checkpoint=ck, resume=True)
    # The CLI: an existing checkpoint is never overwritten by a run without --resume; other settings: exit 2.
    assert main(base) == 2
    assert "exists from an interrupted run: add --resume" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowprec: error: checkpoint") and "other settings" in err and "run.data" in err
    assert ck.exists() and not out.exists()


def test_stop_request_at_every_kind_of_boundary_resumes_exactly(tmp_path):
    """In process, each rule: stopped before the first step, mid-epoch and at an epoch boundary."""
    ds = load_embedded_sample()
    x, y = ds.x_train[:400], ds.y_train[:400]
    for rule, extra in (("bayesbinn", {"momentum": 0.9, "estimator": "published"}), ("ste", {}), ("adam", {}),
                        ("ternary-vi", {})):
        kw = dict(hidden="12", activation="sign", rule=rule, rule_params=extra, epochs=2, batch_size=50,
                  bn_calib=100, test_samples=2, random_state=3)
        ref = MLPClassifier(**kw).fit(x[:300], y[:300], x[300:], y[300:])
        for n_steps in (0, 3, 6):     # 6 steps = one epoch of 300 / 50
            ck = tmp_path / f"{rule}-{n_steps}.npz"
            calls = []
            with pytest.raises(ckpt.TrainingInterrupted) as exc:
                MLPClassifier(**kw).fit(x[:300], y[:300], x[300:], y[300:], checkpoint=ck,
                                        stop=lambda: calls.append(1) or len(calls) > n_steps)
            assert (exc.value.epoch, exc.value.step) == divmod(n_steps, 6)
            res = MLPClassifier(**kw).fit(x[:300], y[:300], x[300:], y[300:], checkpoint=ck, resume=True)
            a, b = ref.to_arrays(), res.to_arrays()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{rule} after {n_steps} steps: {key}")
            assert [h["val_acc"] for h in res.history_] == [h["val_acc"] for h in ref.history_]


def test_rbm_stop_request_resumes_exactly(tmp_path):
    X = binarize(load_embedded_sample().x_train[:200])
    for kw in ({"rule": "blr", "momentum": 0.5}, {"rule": "huang"}, {"partition": "annealed", "n_z": 2}):
        make = lambda: BinaryRBM(n_hidden=6, epochs=2, batch_size=100, random_state=1, **kw)  # noqa: E731
        ref = make().fit(X)
        for n_steps in (1, 2, 3):
            ck = tmp_path / f"rbm-{n_steps}.npz"
            calls = []
            with pytest.raises(ckpt.TrainingInterrupted):
                make().fit(X, checkpoint=ck, stop=lambda: calls.append(1) or len(calls) > n_steps)
            res = make().fit(X, checkpoint=ck, resume=True)
            np.testing.assert_array_equal(ref.posterior_.lam, res.posterior_.lam)
            assert [h["lower_bound"] for h in res.history_] == [h["lower_bound"] for h in ref.history_]
        with pytest.raises(ValueError, match="n_hidden: 6 in the checkpoint, 7 now"):
            BinaryRBM(n_hidden=7, epochs=2, batch_size=100, random_state=1, **kw).fit(X, checkpoint=ck, resume=True)


def test_state_trees_round_trip_and_refuse_other_structures():
    arrays = {}
    state = (AdamState(3, [np.ones(2, np.float32)], [np.full(2, 2.0, np.float32)]), TraceState(np.zeros(3)))
    spec = ckpt.pack_tree(state, "s", arrays)
    template = (AdamState(0, [np.zeros(2, np.float32)], [np.zeros(2, np.float32)]), TraceState(np.ones(3)))
    back = ckpt.unpack_tree(ckpt.jsonable(spec), arrays, template)
    assert type(back[0]) is AdamState and back[0].count == 3 and type(back[1]) is TraceState
    np.testing.assert_array_equal(back[0].nu[0], state[0].nu[0])
    with pytest.raises(ValueError, match="expected float32 \\(3,\\)"):
        ckpt.unpack_tree(spec, arrays, (AdamState(0, [np.zeros(3, np.float32)], [np.zeros(2, np.float32)]),
                                        TraceState(np.ones(3))))
    with pytest.raises(ValueError, match="sequence of 1"):
        ckpt.unpack_tree(spec, arrays, (AdamState(0, [np.zeros(2, np.float32)], [np.zeros(2, np.float32)]),))
    rng = np.random.default_rng(7)
    rng.random(5)
    st = ckpt.jsonable(ckpt.rng_state(rng))
    other = np.random.default_rng(0)
    ckpt.set_rng_state(other, st, "rng")
    np.testing.assert_array_equal(other.random(4), rng.random(4))


def test_a_killed_overwrite_leaves_the_previous_file_intact(tmp_path):
    """The writer process dies (SIGKILL) after writing all its bytes but before the rename: the old file stays."""
    path = tmp_path / "post.npz"
    old = {"lam": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_posterior(path, old, {"kind": "rbm"})
    code = (
        "import os, signal, numpy as np\n"
        "from lowprec_rbm.posterior_file import save_posterior\n"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"   # dies between write and rename
        f"save_posterior({str(path)!r}, {{'lam': np.ones((500, 500), np.float32)}}, {{'kind': 'rbm'}})\n")
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    arrays, meta = load_posterior(path, kind="rbm")
    np.testing.assert_array_equal(arrays["lam"], old["lam"])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "post.npz"]
    assert leftovers and all(n.startswith(".post.npz.") and n.endswith(".tmp") for n in leftovers)
