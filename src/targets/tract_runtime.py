"""tract (Sonos' Rust ONNX runtime, pip package ``tract``) as a target: a second, independent runtime.

What it runs. tract has no ONNX functions, so a custom-mode file (``lowprec`` nodes with model-local
FunctionProtos) is first inlined with ``onnx.inliner.inline_local_functions`` -- the expansion the ONNX
standard defines for a model-local function, the one onnxruntime performs internally and the exporter's own
``--standard-ops`` mode writes -- into a temporary file, and tract runs that; a standard-mode file runs as is.
Either way tract checks the standard-op bodies (docs/ops.md), not a native kernel of the ``lowprec`` ops.

How it runs. In a child process (``python -m targets.tract_runtime MODEL FEEDS OUT``): a graph tract cannot
handle may end in a Rust panic that aborts the whole interpreter instead of raising, and a verify run must
report that as this target's error, not die with it. Feeds and outputs travel as ``.npz`` files (no pickle).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from targets.base import Target, TargetUnavailable

__all__ = ["TractTarget", "inlined_if_needed", "TIMEOUT_S"]

TIMEOUT_S = 600.0  # one batch through the child; loading + optimising a 784-1024-1024-10 MLP takes ~1 s here


def _tract_spec():
    return importlib.util.find_spec("tract")


def inlined_if_needed(model_path, folder) -> str:
    """``model_path`` itself when it holds no functions, else an inlined copy written under ``folder``."""
    import onnx
    import onnx.inliner

    model = onnx.load(os.fspath(model_path))
    if not model.functions:
        return os.fspath(model_path)
    domains = {f.domain for f in model.functions}
    model = onnx.inliner.inline_local_functions(model)
    del model.functions[:]
    keep = [o for o in model.opset_import if o.domain not in domains]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    path = os.path.join(folder, "inlined.onnx")
    onnx.save(model, path)
    return path


def _child_env() -> dict[str, str]:
    # the child must import this package and tract from wherever this process found them
    dirs = [str(Path(__file__).resolve().parent.parent)]
    spec = _tract_spec()
    if spec is not None and spec.origin:
        dirs.append(str(Path(spec.origin).resolve().parent.parent))
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        dirs.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dirs)
    env.setdefault("RUST_BACKTRACE", "0")
    return env


def _tract_message(stderr: str) -> str:
    """The informative lines of a failed child's stderr: tract's error or panic message, no backtrace."""
    lines = [ln.strip() for ln in stderr.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("tract.bindings.TractError") or " panicked at " in ln), 0)
    keep = [ln for ln in lines[start:] if ln and not ln.startswith(("at ", "stack backtrace", "Stack backtrace", "note:"))
            and not ln[:1].isdigit()]
    return " | ".join(keep[:8])[-2000:]


class TractTarget(Target):
    """tract on the CPU, through its Python bindings, in a child process (see the module docstring)."""

    name = "tract"
    description = "tract (Rust ONNX runtime; model-local functions inlined first)"

    def availability(self) -> str | None:
        if _tract_spec() is None:
            return ("tract is not installed (pip install tract; tract 0.23.9 has wheels for CPython 3.10-3.14 on "
                    "x86_64 Linux, Windows and macOS and on arm64 macOS)")
        return None

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        reason = self.availability()
        if reason:
            raise TargetUnavailable(reason)
        with tempfile.TemporaryDirectory(prefix="lowprec-tract-") as d:
            path = inlined_if_needed(model_path, d)
            fin, fout = os.path.join(d, "feeds.npz"), os.path.join(d, "outputs.npz")
            np.savez(fin, **feeds)
            cmd = [sys.executable, "-m", "targets.tract_runtime", path, fin, fout]
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, env=_child_env())
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"tract did not finish {os.fspath(model_path)} within {TIMEOUT_S:g} s") from None
            if proc.returncode != 0:
                msg = _tract_message(proc.stderr.decode("utf-8", "replace"))
                raise RuntimeError(f"tract could not run {os.fspath(model_path)} (exit status {proc.returncode}): {msg}")
            with np.load(fout, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}


def _child(model_path: str, feeds_path: str, out_path: str) -> None:
    import tract

    model = tract.onnx().load(model_path)
    in_names = [model.input_name(i) for i in range(model.input_count())]
    out_names = [model.output_name(i) for i in range(model.output_count())]
    runnable = model.into_model().into_runnable()
    with np.load(feeds_path, allow_pickle=False) as z:
        missing = [n for n in in_names if n not in z.files]
        if missing:
            raise SystemExit(f"feeds lack graph inputs {missing}")
        inputs = [z[n] for n in in_names]
    outs = runnable.run(inputs)
    np.savez(out_path, **{n: t.to_numpy() for n, t in zip(out_names, outs)})


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python -m targets.tract_runtime MODEL.onnx FEEDS.npz OUT.npz")
    _child(*sys.argv[1:])
