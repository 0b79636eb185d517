"""Build of the optional C extension ``targets.native._lpnative`` (everything else is in pyproject.toml).

The extension is optional: where no C compiler is available (or the build fails for any reason) the
package still installs, without it, and runs every model on the numpy reference simulator; ``lowprec`` then
says in one line that the native runtime is missing and how to get it (targets/native/__init__.py).
"""
from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = "src/targets/native/csrc"
SOURCES = [f"{CSRC}/{name}" for name in ("lp_module.c", "lp_gemm.c", "lp_blocks.c", "lp_ops.c")]
# -O3 and the baseline ISA: the popcnt/AVX2/AVX-512 kernels carry their own target attributes and are chosen
# at run time from CPUID, so one build runs on every x86-64 CPU.
UNIX_FLAGS = ["-O3", "-std=gnu11", "-pthread", "-fvisibility=hidden"]


class OptionalBuildExt(build_ext):
    """build_ext that never fails the installation: a failed compile leaves the package without the extension."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing Python headers, ...: the numpy path still works
            self._skipped(exc)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skipped(exc)

    @staticmethod
    def _skipped(exc: Exception) -> None:
        print(f"WARNING: the native runtime (C extension targets.native._lpnative) was not built: {exc}. "
              "lowprec-rbm works without it on the numpy simulator; install a C compiler and the Python headers "
              "and reinstall to get it.", file=sys.stderr)


ext = Extension(
    "targets.native._lpnative",
    sources=SOURCES,
    include_dirs=[CSRC, "src/export/csrc"],
    depends=[f"{CSRC}/lp_native.h", f"{CSRC}/lp_blocks.h", f"{CSRC}/lp_config.h", f"{CSRC}/lp_block_scalar.inc",
             "src/export/csrc/lowprec_kernels.h"],
    extra_compile_args=[] if sys.platform == "win32" else UNIX_FLAGS,
    extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
    optional=True,
)

setup(ext_modules=[ext], cmdclass={"build_ext": OptionalBuildExt})
