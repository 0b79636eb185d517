"""Which exceptions are the user's (a one-line ``lowprec: error: ...``, exit 2) and which are ours (a bug).

The decision is made here and nowhere else. A user error is something the user can fix without touching the
code: a bad argument, a missing / unreadable / corrupt / foreign file, a missing tool, a model too large for
the device they named, running out of memory or disk. Everything else that escapes a command is an internal
error: ``lowprec: internal error: ...`` with exit 3 and a request to rerun with ``--debug`` (which shows the
traceback) and report it.

Why each type is on the user side:

- ``CLIError``: raised by the CLI itself for a bad combination of flags or a limit exceeded.
- ``ValueError`` / ``TypeError``: the toolkit's library convention for bad input (wrong value / wrong type);
  its file readers raise subclasses (``PosteriorFileError``, ``IDXError``, ``ArtifactError``, ``LayoutError``)
  and ``json.JSONDecodeError`` / ``UnicodeDecodeError`` are ValueErrors too.
- ``OSError`` (missing file, folder in the way, permission, disk full, ``gzip.BadGzipFile``): the environment.
- ``EOFError``, ``zlib.error``, ``zipfile.BadZipFile``, ``lzma.LZMAError``: a truncated or corrupt compressed
  file that reached a decompressor.
- protobuf ``DecodeError``, ``onnx.checker.ValidationError``, ``onnx.shape_inference.InferenceError``: a
  corrupt or hand-edited ONNX file.
- onnxruntime's ``Fail``, ``InvalidGraph``, ``InvalidArgument``, ``InvalidProtobuf``, ``NoSuchFile``,
  ``NotImplemented``: onnxruntime refusing a file (session creation) that passed our own checks.
- ``targets.base.TargetUnavailable`` (a tool is missing, or the model does not fit the device).
- ``MemoryError``: the machine cannot hold what the arguments asked for (the limits catch the usual cases).
- ``FloatingPointError``: raised by the trainers when training diverges (non-finite parameters), with advice
  on the hyper-parameter to change (e.g. a smaller learning rate or β).
"""
from __future__ import annotations

import sys

__all__ = ["CLIError", "user_error_types", "one_line"]


class CLIError(Exception):
    """A user-facing error raised by the CLI: printed as ``lowprec: error: ...`` with exit code 2."""


def _optional(module: str, names: tuple[str, ...]) -> tuple[type, ...]:
    """Exception classes of a module that is already imported (a command that never loaded onnxruntime cannot
    have raised its errors, and importing it just to classify an error would cost seconds)."""
    mod = sys.modules.get(module)
    if mod is None:
        return ()
    return tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))


def user_error_types() -> tuple[type, ...]:
    """Every exception type that means "the user's input or environment", as documented above."""
    import lzma
    import zipfile
    import zlib

    types: list[type] = [CLIError, ValueError, TypeError, OSError, EOFError, MemoryError, FloatingPointError, zlib.error,
                         zipfile.BadZipFile, lzma.LZMAError]
    types += _optional("google.protobuf.message", ("DecodeError",))
    types += _optional("onnx.checker", ("ValidationError",))
    types += _optional("onnx.shape_inference", ("InferenceError",))
    types += _optional("onnxruntime.capi.onnxruntime_pybind11_state",
                       ("Fail", "InvalidGraph", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "NotImplemented"))
    types += _optional("targets.base", ("TargetUnavailable",))
    return tuple(types)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line: its first non-empty line, with a pointer to ``--debug`` when the
    rest (e.g. a compiler's stderr) was left out."""
    if isinstance(exc, MemoryError):
        return ("out of memory: the arguments ask for more than this machine has (use smaller sizes)"
                + (f": {exc}" if str(exc) else ""))
    text = str(exc).strip()
    if not text:
        text = type(exc).__name__
    elif not isinstance(exc, (CLIError, ValueError, TypeError, OSError)):
        text = f"{text} ({type(exc).__name__})"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else text
    if len(lines) > 1:
        first += " [more with lowprec --debug]"
    return first
