"""`lowprec demo` and `lowprec report --plots` without matplotlib (the optional 'plot' extra).

matplotlib is made really absent in a child interpreter: a meta-path finder placed first raises
ModuleNotFoundError for it and its submodules, exactly what `import matplotlib` raises when it is not installed.
The commands then run for real; nothing of the toolkit is replaced.
"""
import os
import subprocess
import sys
from pathlib import Path

import lowprec_rbm

BLOCK = """
import sys

class _NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoMatplotlib())
from lowprec_rbm.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _lowprec(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    # The folder holding lowprec_rbm also holds export/ and targets/ (src/ or site-packages).
    root = str(Path(lowprec_rbm.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", BLOCK, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_blocker_makes_matplotlib_absent(tmp_path):
    r = subprocess.run([sys.executable, "-c", BLOCK.split("from lowprec_rbm")[0] + "import matplotlib"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "ModuleNotFoundError: No module named 'matplotlib'" in r.stderr


def test_demo_and_report_without_matplotlib(tmp_path):
    out = tmp_path / "demo"
    r = _lowprec("demo", "--out", str(out), "--quick", "--no-devices", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    # one line says what was skipped and how to get it
    skipped = [line for line in r.stdout.splitlines() if "plots skipped" in line]
    assert skipped == ["demo: plots skipped: matplotlib is not installed; pip install 'lowprec-rbm[plot]' "
                       "(or pip install matplotlib)"]
    # every other step ran: both models exported, verified, measured; the MLP scored
    for name in ("rbm.onnx", "mlp.onnx", "report-rbm.json", "report-mlp.json", "c/mlp/mlp.c"):
        assert (out / name).is_file(), name
    assert r.stdout.count("onnx-reference: OK") == 2 and "accuracy" in r.stdout
    assert not (out / "plots-rbm").exists() and not (out / "plots-mlp").exists()

    r = _lowprec("report", str(out / "mlp.onnx"), "--posterior", str(out / "mlp.npz"), "--plots",
                 str(tmp_path / "figs"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines()[-1] == ("plots skipped: matplotlib is not installed; "
                                         "pip install 'lowprec-rbm[plot]' (or pip install matplotlib)")
    assert "total" in r.stdout and not (tmp_path / "figs").exists()
