"""Stock ONNX runtimes as targets: onnxruntime (CPUExecutionProvider) and ``onnx.reference``.

Both run the exported file as is: the ``lowprec`` nodes through their model-local function bodies (custom
mode) or the inlined standard ops (standard mode), with no extra library.
"""
from __future__ import annotations

import os

import numpy as np

from targets.base import Target, TargetUnavailable


def _file_key(path) -> tuple:
    st = os.stat(path)
    return (os.fspath(path), st.st_size, st.st_mtime_ns)


class OnnxRuntimeTarget(Target):
    """onnxruntime on the CPU (default graph optimisations, which constant-fold the weight unpacking)."""

    name = "onnxruntime"
    description = "onnxruntime, CPUExecutionProvider"

    def __init__(self) -> None:
        self._cache = None

    def availability(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "onnxruntime is not installed (pip install onnxruntime)"
        return None

    def session(self, model_path):
        reason = self.availability()
        if reason:
            raise TargetUnavailable(reason)
        import onnxruntime as ort

        key = _file_key(model_path)
        if self._cache is None or self._cache[0] != key:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self._cache = (key, ort.InferenceSession(os.fspath(model_path), opts,
                                                     providers=["CPUExecutionProvider"]))
        return self._cache[1]

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sess = self.session(model_path)
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds)))


class OnnxReferenceTarget(Target):
    """``onnx.reference.ReferenceEvaluator``: the ONNX project's own numpy evaluator (slow; small shapes)."""

    name = "onnx-reference"
    description = "onnx.reference.ReferenceEvaluator (function bodies, numpy)"

    def __init__(self) -> None:
        self._cache = None

    def availability(self) -> str | None:
        try:
            import onnx.reference  # noqa: F401
        except ImportError:
            return "onnx.reference is not available (pip install 'onnx>=1.13')"
        return None

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from onnx.reference import ReferenceEvaluator

        key = _file_key(model_path)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, ReferenceEvaluator(os.fspath(model_path)))
        ev = self._cache[1]
        names = list(ev.output_names)
        return {n: np.asarray(v) for n, v in zip(names, ev.run(names, feeds))}
