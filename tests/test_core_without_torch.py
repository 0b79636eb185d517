"""The core never imports torch: the optional extra stays optional (issue 16)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_core_and_cli_import_without_touching_torch():
    code = ("import sys\n"
            "import lowprec_rbm, lowprec_rbm.cli.main, lowprec_rbm.nn.mlp, lowprec_rbm.nn.cnn, lowprec_rbm.derive\n"
            "import export, export.onnx, targets, targets.verify\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_torch_package_names_the_extra_when_torch_is_missing():
    code = ("import sys\nsys.modules['torch'] = None\n"
            "try:\n    import lowprec_rbm.pytorch\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'lowprec-rbm[torch]'" in out.stdout and "torch==2.13.0" in out.stdout
