"""Entry point of the C emitter: network (in memory or ONNX file) -> self-contained C99 module.

Files (``P`` = sanitised prefix):
    P.h                public header: sizes, layout version, scratch-size macros, prototypes
    P_weights.h        packed weights, thresholds and tables as ``static const`` arrays (flash)
    P.c                the model functions (straight-line calls into the kernels)
    lowprec_kernels.h  the portable kernels (static inline, package data ``export/csrc``)

The three generated files are sealed (``export.digest``): their banner records ``lowprec.network_digest``
(the network, the same value as the ONNX metadata entry), ``lowprec.onnx_digest`` (the digest of the ONNX
file they were emitted from, or ``none``) and ``lowprec.digest``, the file's own content digest;
``export.digest.check_c_sources(folder)`` checks a folder. The kernel header is the same for every model and
is not sealed.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from export.c.cnn import cnn_files
from export.c.common import KERNEL_FILE, Names, kernel_source
from export.c.mlp import mlp_files
from export.c.names import reserved_prefix, sanitize_identifier
from export.c.rbm import rbm_files
from export.digest import C_PLACEHOLDER, DIGEST_KEY, network_digest, seal_c_text
from export.fileio import atomic_write_text
from export.network import CNNNetwork, MLPNetwork, RBMNetwork

__all__ = ["CModule", "c_module", "emit_c", "WORD_BITS_CHOICES"]

WORD_BITS_CHOICES = (32, 64)


@dataclass(frozen=True)
class CModule:
    """The emitted C sources of one network.

    Attributes
    ----------
    prefix : str   sanitised identifier prefix (functions ``prefix_*``, macros ``PREFIX_*``)
    kind : str     ``"mlp"``, ``"cnn"`` or ``"rbm"``
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


_DIGEST_VALUE = re.compile(r"sha256:[0-9a-f]{64}")


def _as_network(network):
    """(network, digest of the ONNX model it was read from or None)."""
    if isinstance(network, (MLPNetwork, CNNNetwork, RBMNetwork)):
        return network, None
    if isinstance(network, (str, os.PathLike)):
        from export.onnx import load_artifact  # noqa: PLC0415 - optional path
        network = load_artifact(network)
    if type(network).__name__ == "ModelProto":
        from export.onnx import network_from_onnx, validate  # noqa: PLC0415
        validate(network)
        return network_from_onnx(network), {p.key: p.value for p in network.metadata_props}.get(DIGEST_KEY)
    raise TypeError(f"expected an MLPNetwork, a CNNNetwork, an RBMNetwork, an ONNX ModelProto or a path to an .onnx file, "
                    f"got {type(network).__name__}")


def _seal(text: str, net_digest: str, onnx_digest: str | None) -> str:
    """Add the integrity lines to the end of a generated file's banner comment, then seal the file."""
    source = onnx_digest or "none (emitted from an in-memory network, not from an ONNX file)"
    lines = (f" *\n * Integrity (export.digest; check with export.digest.check_c_sources):\n"
             f" * lowprec.network_digest = {net_digest}\n"
             f" * lowprec.onnx_digest = {source}\n"
             f" * lowprec.digest = {C_PLACEHOLDER}\n"
             f" *   (sha256 of this file with the value above replaced by sha256:0...0)\n */\n")
    end = text.index("\n */\n") + 1   # the banner is the first comment of every generated file
    return seal_c_text(text[:end] + lines + text[end + len(" */\n"):])


def c_module(network, word_bits: int = 32, prefix: str = "lowprec_model", *,
             onnx_digest: str | None = None) -> CModule:
    """Generate (without writing) the C module of ``network``.

    Parameters
    ----------
    network : MLPNetwork, CNNNetwork, RBMNetwork, onnx.ModelProto or path to an exported .onnx file
    word_bits : {32, 64}
        Kernel word width: 32 for 32-bit cores (Cortex-M, armhf), 64 for 64-bit cores.
    prefix : str
        Identifier prefix; sanitised (see ``export.c.names.sanitize_identifier``); ValueError when it collides
        with the kernel header's names (``export.c.names.reserved_prefix``).
    onnx_digest : str, optional
        ``"sha256:<hex>"`` of the ONNX model built from the same network (recorded in the banners); taken from
        the model itself when ``network`` is a model or a path.
    """
    if isinstance(word_bits, bool) or not isinstance(word_bits, int):
        raise TypeError(f"word_bits must be an int (32 or 64), got {type(word_bits).__name__}")
    if word_bits not in WORD_BITS_CHOICES:
        raise ValueError(f"word_bits must be 32 or 64, got {word_bits}")
    if onnx_digest is not None and (not isinstance(onnx_digest, str) or not _DIGEST_VALUE.fullmatch(onnx_digest)):
        raise ValueError(f"onnx_digest must be 'sha256:' and 64 lower-case hex digits, got {onnx_digest!r}")
    net, recorded = _as_network(network)
    if recorded is not None and onnx_digest is not None and onnx_digest != recorded:
        raise ValueError(f"onnx_digest {onnx_digest[:23]}... differs from the model's own {recorded[:23]}...")
    onnx_digest = onnx_digest or recorded
    ident = sanitize_identifier(prefix)
    why = reserved_prefix(ident)
    if why:
        raise ValueError(f"prefix {why}")
    names = Names(ident)
    if isinstance(net, MLPNetwork):
        files, kind = mlp_files(net, word_bits, names), "mlp"
    elif isinstance(net, CNNNetwork):
        files, kind = cnn_files(net, word_bits, names), "cnn"
    else:
        files, kind = rbm_files(net, word_bits, names), "rbm"
    if KERNEL_FILE in files:
        raise ValueError(f"prefix {prefix!r} collides with the kernel file name {KERNEL_FILE}")
    net_digest = network_digest(net)
    files = {name: _seal(text, net_digest, onnx_digest) for name, text in files.items()}
    files[KERNEL_FILE] = kernel_source()
    return CModule(names.prefix, kind, word_bits, files)


def emit_c(network, out_dir: str | os.PathLike, word_bits: int = 32, prefix: str = "lowprec_model", *,
           onnx_digest: str | None = None) -> CModule:
    """Emit the C99 module of ``network`` into ``out_dir`` (atomic writes); returns the :class:`CModule`.

    Compile with e.g. ``cc -std=c99 -O2 -c out_dir/prefix.c``; select a portable popcount with
    ``-DLOWPREC_POPCOUNT=2`` (SWAR) where the compiler has no ``__builtin_popcount``.

    Parameters
    ----------
    network : MLPNetwork, CNNNetwork or RBMNetwork
    out_dir : path-like
        Folder to write ``prefix.c``, ``prefix.h``, ``prefix_weights.h`` and ``lowprec_kernels.h`` into.
    word_bits : {32, 64}, default 32
        The C word width (32 for Cortex-M, 64 for 64-bit cores).
    prefix : str, default "lowprec_model"
        File and symbol prefix (a C identifier).
    onnx_digest : str, optional
        The digest of the ONNX file the network came from, recorded in the banner.

    Examples
    --------
    >>> import numpy as np
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine
    >>> w = np.where(np.arange(48).reshape(3, 16) % 5 < 2, 1, -1)      # 3 classes x 16 inputs, ±1
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=(), output=(Dense(w), OutputAffine.identity(3)))
    >>> import os, tempfile
    >>> from export import emit_c
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     module = emit_c(net, tmp, word_bits=32, prefix="demo")
    ...     print(sorted(os.listdir(tmp)))
    ['demo.c', 'demo.h', 'demo_weights.h', 'lowprec_kernels.h']
    """
    return c_module(network, word_bits, prefix, onnx_digest=onnx_digest).write(out_dir)
