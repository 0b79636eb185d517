"""The README's "Python API" block runs as written (in a temporary folder), so the documented calls stay true."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_api_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section should hold exactly one python block"
    return blocks[0]


def test_readme_python_api_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_api_block(), "README.md (Python API)", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy of the MAP network: ([0-9.]+)", out).group(1))
    assert acc > 0.5     # 10 classes (chance 0.1); measured 0.660 with these settings (seed 0)
    for target in ("onnxruntime: OK", "onnx-reference: OK", "float ±1 ground truth: OK"):
        assert target in out
    assert (tmp_path / "mlp.npz").is_file() and (tmp_path / "mlp.onnx").is_file()
