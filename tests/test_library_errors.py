"""Library code talks about arguments, only the CLI talks about flags (issue 15): no string in the library
sources names a ``--flag``, and where a library message would point at an option, the CLI says its flag."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from export import Dense, InputSpec, MLPNetwork, OutputAffine, build_model, load_artifact, save_model
from export.errors import SignatureError
from lowprec_rbm.cli.main import main
from lowprec_rbm.data import datasets, load_dataset
from targets import verify

SRC = Path(__file__).resolve().parents[1] / "src"
LIBRARY = [SRC / "lowprec_rbm", SRC / "export", SRC / "targets"]
# a long option: two dashes then a lower-case word, not inside a longer token (e.g. not "a--b" or "---")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# (file relative to src, flag) -> why the string is not a message naming one of our flags
ALLOWED = {
    ("targets/devices/host.py", "--tool"): "valgrind's own options on the command line we run, not a message",
    ("targets/devices/host.py", "--callgrind-out-file"): "valgrind's own option, as above",
    ("targets/devices/host.py", "--collect-atstart"): "valgrind's own option, as above",
    ("targets/devices/host.py", "--toggle-collect"): "valgrind's own option, as above",
    ("targets/native/__init__.py", "--force-reinstall"): "pip's option in the reinstall advice (another tool)",
    ("targets/native/__init__.py", "--no-deps"): "pip's option in the reinstall advice (another tool)",
}


def flag_strings(source: str) -> list[tuple[int, str]]:
    """(line, column, flag), sorted, for every flag-looking word in a string literal of ``source`` (f-string parts included);
    docstrings (documentation, which may show the command line) and comments are not looked at."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return sorted((node.lineno, node.col_offset, flag) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  for flag in FLAG.findall(node.value))


def test_the_scanner_finds_flags_in_messages_and_skips_docstrings():
    src = ('"""Run ``lowprec verify --inputs 4``."""\n'
           'def f(n):\n'
           '    """Doc naming --word-bits."""\n'
           '    # a comment naming --seed\n'
           '    raise ValueError(f"--inputs must be >= 1, got {n}" + " (see --data, a--b)")\n')
    assert [(line, flag) for line, _, flag in flag_strings(src)] == [(5, "--inputs"), (5, "--data")]


def test_library_sources_name_no_command_line_flags():
    found, allowed = [], set()
    for root in LIBRARY:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(SRC).as_posix()
            if rel.startswith("lowprec_rbm/cli/"):
                continue   # the CLI is where flags belong
            for line, _, flag in flag_strings(path.read_text(encoding="utf-8")):
                if (rel, flag) in ALLOWED:
                    allowed.add((rel, flag))
                else:
                    found.append(f"src/{rel}:{line}: {flag}")
    assert not found, "library strings naming command-line flags (name the argument instead):\n" + "\n".join(found)
    assert allowed == set(ALLOWED), f"stale allow-list entries: {sorted(set(ALLOWED) - allowed)}"


def _model(tmp_path) -> Path:
    w = np.where(np.arange(48).reshape(3, 16) % 5 < 2, 1, -1)
    net = MLPNetwork(InputSpec("threshold", 16), hidden=(), output=(Dense(w), OutputAffine.identity(3)))
    return save_model(build_model(net), tmp_path / "m.onnx")


def test_no_targets_names_the_argument_in_the_library_and_the_flag_in_the_cli(tmp_path, capsys):
    path = _model(tmp_path)
    with pytest.raises(ValueError, match=r"^targets names no target") as exc:
        verify(path, [" ", ""])
    assert "--" not in str(exc.value)
    assert main(["verify", str(path), "--targets", ","]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowprec: error: --targets names no target (e.g. --targets ") and err.count("\n") == 1


def test_word_bits_and_n_inputs_are_named_as_arguments(tmp_path):
    path = _model(tmp_path)
    with pytest.raises(ValueError, match=r"^word_bits must be one of \(8, 16, 32, 64\), got 12$"):
        verify(path, word_bits=12)
    with pytest.raises(ValueError, match=r"^n_inputs must be >= 1, got 0$"):
        verify(path, n_inputs=0)


def test_missing_debian_data_names_the_argument_in_the_library_and_the_flag_in_the_cli(tmp_path, monkeypatch,
                                                                                      capsys):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "not-installed")
    with pytest.raises(FileNotFoundError, match="pass data='sample'") as exc:
        load_dataset("debian")
    assert "--" not in str(exc.value)
    path = _model(tmp_path)
    assert main(["verify", str(path), "--inputs", "2", "--data", "debian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowprec: error: --data debian: ") and "pass --data DIR or --data sample" in err
    from test_cli_export_verify import _mlp_posterior

    posterior = _mlp_posterior(tmp_path / "mlp.npz", np.random.default_rng(0), sizes=(784, 8, 10))
    assert main(["export", str(posterior), "-o", str(tmp_path / "x.onnx"), "--calibrate", "debian"]) == 2
    assert "pass --calibrate DIR or --calibrate sample" in capsys.readouterr().err


def test_a_missing_signature_names_the_keyword_in_the_library_and_the_flag_in_the_cli(tmp_path, capsys):
    path = _model(tmp_path)        # sealed with a digest, not signed
    key = tmp_path / "k.key"
    key.write_bytes(bytes(range(32)))
    with pytest.raises(SignatureError, match=r"sign it when exporting \(build_model\(\.\.\., sign_key=KEY\)\)"):
        load_artifact(path, verify_key=key.read_bytes())
    assert main(["verify", str(path), "--inputs", "2", "--verify-key", str(key)]) == 2
    err = capsys.readouterr().err
    assert "no keyed signature" in err and "(lowprec export --sign-key FILE)" in err and "sign_key" not in err
