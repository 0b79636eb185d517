"""The ``native`` target: exported models run on the host through the C kernels in ``csrc/``.

``load()`` returns the compiled extension (``targets.native._lpnative``, built at ``pip install``) or raises
:class:`targets.base.TargetUnavailable` with one line saying how to get it; ``missing_reason()`` gives that
line without raising. ``LOWPREC_NATIVE=off`` in the environment hides the extension (the numpy path is
used), and ``LOWPREC_NATIVE_LIB=/path/_lpnative*.so`` loads another build of it (e.g. a sanitizer build).
"""
from __future__ import annotations

import importlib
import importlib.util
import os

from targets.base import TargetUnavailable

__all__ = ["load", "missing_reason", "HOW_TO_GET"]

HOW_TO_GET = ("reinstall with a C compiler and the Python headers present "
              "(e.g. apt install gcc python3-dev; pip install --force-reinstall --no-deps lowprec-rbm)")

_cache: dict = {}


def _import():
    if os.environ.get("LOWPREC_NATIVE", "").lower() in ("off", "0", "no"):
        raise ImportError("disabled by LOWPREC_NATIVE=off")
    path = os.environ.get("LOWPREC_NATIVE_LIB")
    if path:
        spec = importlib.util.spec_from_file_location("targets.native._lpnative", path)
        if spec is None or not os.path.isfile(path):
            raise ImportError(f"LOWPREC_NATIVE_LIB={path!r} is not an extension module file")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module("targets.native._lpnative")


def missing_reason() -> str | None:
    """``None`` when the extension loads, else one line: why not, and how to get it."""
    if "mod" not in _cache:
        try:
            _cache["mod"], _cache["why"] = _import(), None
        except ImportError as exc:
            _cache["mod"], _cache["why"] = None, (f"the native runtime (C extension) is missing ({exc}); "
                                                  f"to get it, {HOW_TO_GET}")
    return _cache["why"]


def load():
    """The extension module; :class:`TargetUnavailable` (one line with the remedy) when it is not built."""
    why = missing_reason()
    if why:
        raise TargetUnavailable(why)
    return _cache["mod"]
