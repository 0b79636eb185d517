"""The bit-exact reference simulator: a numpy interpreter of exported ONNX files (see ``interpreter``).

One kernel per file in ``ops/`` (the op contract of docs/ops.md, with derivations), word-level helpers in
``words``, and :class:`ReferenceTarget` for ``lowprec verify``.
"""
from targets.reference.interpreter import Program, Trace, load_program, simulate
from targets.reference.target import ReferenceTarget
from targets.reference.words import WORD_WIDTHS

__all__ = ["Program", "Trace", "load_program", "simulate", "ReferenceTarget", "WORD_WIDTHS"]
