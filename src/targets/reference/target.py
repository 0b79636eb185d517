"""The reference simulator as a :class:`targets.base.Target`."""
from __future__ import annotations

import os

import numpy as np

from targets.base import Target
from targets.reference.interpreter import Program, Trace, load_program
from targets.reference.words import WORD_WIDTHS


class ReferenceTarget(Target):
    """numpy interpreter of the ``lowprec`` ops, word by word at ``word_bits`` (8, 16, 32 or 64)."""

    name = "reference"
    description = "numpy reference simulator (lowprec kernels, np.bitwise_count), no onnxruntime"

    def __init__(self, word_bits: int = 64) -> None:
        if word_bits not in WORD_WIDTHS:
            raise ValueError(f"word width must be one of {WORD_WIDTHS}, got {word_bits}")
        self.word_bits = int(word_bits)
        self._cache: tuple[tuple, Program] | None = None

    def program(self, model_path) -> Program:
        """The parsed program, cached per file (path, size, mtime)."""
        if isinstance(model_path, (str, os.PathLike)):
            st = os.stat(model_path)
            key = (os.fspath(model_path), st.st_size, st.st_mtime_ns)
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, load_program(model_path))
            return self._cache[1]
        return load_program(model_path)

    def trace(self, model_path, feeds: dict[str, np.ndarray]) -> Trace:
        """Every intermediate value, layer by layer."""
        return self.program(model_path).run(feeds, self.word_bits)

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.trace(model_path, feeds).outputs
