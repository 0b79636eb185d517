"""Entry point of the C emitter: network (in memory or ONNX file) -> self-contained C99 module.

Files (``P`` = sanitised prefix):
    P.h                public header: sizes, layout version, scratch-size macros, prototypes
    P_weights.h        packed weights, thresholds and tables as ``static const`` arrays (flash)
    P.c                the model functions (straight-line calls into the kernels)
    lowprec_kernels.h  the portable kernels (static inline, package data ``export/csrc``)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from export.c.common import KERNEL_FILE, Names, kernel_source
from export.c.mlp import mlp_files
from export.c.names import reserved_prefix, sanitize_identifier
from export.c.rbm import rbm_files
from export.fileio import atomic_write_text
from export.network import MLPNetwork, RBMNetwork

__all__ = ["CModule", "c_module", "emit_c", "WORD_BITS_CHOICES"]

WORD_BITS_CHOICES = (32, 64)


@dataclass(frozen=True)
class CModule:
    """The emitted C sources of one network.

    Attributes
    ----------
    prefix : str   sanitised identifier prefix (functions ``prefix_*``, macros ``PREFIX_*``)
    kind : str     ``"mlp"`` or ``"rbm"``
    word_bits : int
    files : dict   file name -> text
    paths : dict   file name -> written path (empty until :func:`emit_c` writes them)
    """

    prefix: str
    kind: str
    word_bits: int
    files: dict[str, str]
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def header(self) -> str:
        return f"{self.prefix}.h"

    @property
    def source(self) -> str:
        return f"{self.prefix}.c"

    def write(self, out_dir: str | os.PathLike) -> "CModule":
        """Write every file atomically into ``out_dir`` (created if missing); returns a copy with ``paths``."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"C output folder {str(out)!r} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: atomic_write_text(out / name, text) for name, text in self.files.items()}
        return CModule(self.prefix, self.kind, self.word_bits, dict(self.files), paths)


def _as_network(network):
    if isinstance(network, (MLPNetwork, RBMNetwork)):
        return network
    if isinstance(network, (str, os.PathLike)):
        from export.onnx import load_artifact, network_from_onnx  # noqa: PLC0415 - optional path
        return network_from_onnx(load_artifact(network))
    if type(network).__name__ == "ModelProto":
        from export.onnx import network_from_onnx  # noqa: PLC0415
        return network_from_onnx(network)
    raise TypeError(f"expected an MLPNetwork, an RBMNetwork, an ONNX ModelProto or a path to an .onnx file, "
                    f"got {type(network).__name__}")


def c_module(network, word_bits: int = 32, prefix: str = "lowprec_model") -> CModule:
    """Generate (without writing) the C module of ``network``.

    Parameters
    ----------
    network : MLPNetwork, RBMNetwork, onnx.ModelProto or path to an exported .onnx file
    word_bits : {32, 64}
        Kernel word width: 32 for 32-bit cores (Cortex-M, armhf), 64 for 64-bit cores.
    prefix : str
        Identifier prefix; sanitised (see ``export.c.names.sanitize_identifier``); ValueError when it collides
        with the kernel header's names (``export.c.names.reserved_prefix``).
    """
    if isinstance(word_bits, bool) or not isinstance(word_bits, int):
        raise TypeError(f"word_bits must be an int (32 or 64), got {type(word_bits).__name__}")
    if word_bits not in WORD_BITS_CHOICES:
        raise ValueError(f"word_bits must be 32 or 64, got {word_bits}")
    net = _as_network(network)
    ident = sanitize_identifier(prefix)
    why = reserved_prefix(ident)
    if why:
        raise ValueError(f"prefix {why}")
    names = Names(ident)
    if isinstance(net, MLPNetwork):
        files, kind = mlp_files(net, word_bits, names), "mlp"
    else:
        files, kind = rbm_files(net, word_bits, names), "rbm"
    if KERNEL_FILE in files:
        raise ValueError(f"prefix {prefix!r} collides with the kernel file name {KERNEL_FILE}")
    files[KERNEL_FILE] = kernel_source()
    return CModule(names.prefix, kind, word_bits, files)


def emit_c(network, out_dir: str | os.PathLike, word_bits: int = 32, prefix: str = "lowprec_model") -> CModule:
    """Emit the C99 module of ``network`` into ``out_dir`` (atomic writes); returns the :class:`CModule`.

    Compile with e.g. ``cc -std=c99 -O2 -c out_dir/prefix.c``; select a portable popcount with
    ``-DLOWPREC_POPCOUNT=2`` (SWAR) where the compiler has no ``__builtin_popcount``.
    """
    return c_module(network, word_bits, prefix).write(out_dir)
