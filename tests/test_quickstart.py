"""The README's quick start is what CI runs: `.ci/run` reads the two lines from README.md; both must be there,
each self-contained (make/activate the venv, install, run)."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quickstart(word: str) -> subprocess.CompletedProcess:
    script = ROOT / ".ci" / "run"
    if not script.is_file():
        pytest.skip("not run from a checkout (no .ci/run)")
    fn = subprocess.run(["sed", "-n", "/^quickstart()/,/^}/p", str(script)], capture_output=True, text=True,
                        check=True).stdout
    assert fn.startswith("quickstart()"), "the quickstart function moved in .ci/run"
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{fn}\nquickstart '{word}'"], cwd=ROOT,
                          capture_output=True, text=True)


def test_ci_reads_both_quickstart_lines_from_the_readme():
    tests = _quickstart("pytest")
    demo = _quickstart("lowprec demo")
    assert tests.returncode == 0 and demo.returncode == 0, tests.stderr + demo.stderr
    assert tests.stdout.strip() == ("python3 -m venv .venv && . .venv/bin/activate && "
                                    "pip install '.[test,plot]' && python -m pytest -q")
    assert demo.stdout.strip() == ("python3 -m venv .venv && . .venv/bin/activate && "
                                   "pip install '.[plot]' && lowprec demo")


def test_a_missing_line_fails_ci():
    r = _quickstart("no such command")
    assert r.returncode == 1 and "no quick-start line with 'no such command'" in r.stderr
