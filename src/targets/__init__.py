"""Everything that runs an exported artifact: the bit-exact reference simulator, onnxruntime,
``onnx.reference``, native C and cross-compiled devices; target profiles; verify and measure logic.

This package may import ``export`` (for the bit layout and artifact metadata) but never ``lowprec_rbm``.
``targets.Session(model, target=...)`` is the small inference API (``targets.session``).
"""
from __future__ import annotations

__all__ = ["Session"]


def __getattr__(name: str):
    if name == "Session":  # imported on first use: ``import targets`` stays free of numpy/onnx
        from targets.session import Session

        return Session
    raise AttributeError(f"module 'targets' has no attribute {name!r}")
