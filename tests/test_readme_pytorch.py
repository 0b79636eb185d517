"""The README's PyTorch example runs as written (in a temporary folder) and its posterior exports and verifies."""
from __future__ import annotations

import re
from pathlib import Path

from torch_skip import require_torch

torch = require_torch()

from lowprec_rbm.cli.main import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_readme_pytorch_block_runs_and_its_posterior_exports(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Training in PyTorch", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the PyTorch section should hold exactly one python block"
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)         # small matrices: one thread is faster than two on a shared 2-core machine
    try:
        exec(compile(blocks[0], "README.md (PyTorch)", "exec"), {"__name__": "readme"})
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    acc = float(re.search(r"MAP test accuracy: ([0-9.]+)", out).group(1))
    assert acc > 0.5          # 10 classes (chance 0.1); measured 0.722 (3 epochs on the 2,000-image sample)
    assert main(["export", "torch.npz", "-o", "m.onnx"]) == 0
    assert main(["verify", "m.onnx", "--inputs", "8", "--targets", "reference,onnxruntime"]) == 0
    assert "onnxruntime: OK" in capsys.readouterr().out
