"""The ``native`` target: the C kernels of ``targets.native`` behind the common :class:`Target` interface."""
from __future__ import annotations

import os

import numpy as np

from targets.base import Target
from targets.native import missing_reason

__all__ = ["NativeTarget"]


class NativeTarget(Target):
    """Exported models on the host CPU through the blocked XNOR-popcount kernels (code path chosen from CPUID)."""

    name = "native"
    description = "native C kernels in-process (blocked XNOR-popcount GEMM; popcnt/AVX2/AVX-512 chosen at run time)"

    def __init__(self, path: str = "auto", threads: int | None = None, min_work: int | None = None) -> None:
        self.path, self.threads, self.min_work = path, threads, min_work
        self._cache = None

    def availability(self) -> str | None:
        return missing_reason()

    def model(self, model_path):
        """The :class:`NativeModel` of ``model_path``, cached per file (path, size, mtime)."""
        from targets.native.runtime import MIN_WORK, NativeModel

        st = os.stat(model_path)
        key = (os.fspath(model_path), st.st_size, st.st_mtime_ns)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, NativeModel(model_path, path=self.path, threads=self.threads,
                                            min_work=MIN_WORK if self.min_work is None else self.min_work))
        return self._cache[1]

    def run(self, model_path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model(model_path).run(feeds)
