"""The target registry with the built-in targets registered: import this module, then use
``targets.base.get_target(name)`` / ``target_names()``.

Built-ins: ``reference`` (numpy simulator, 64-bit words; ``ReferenceTarget(word_bits)`` for others),
``onnxruntime`` (CPUExecutionProvider), ``onnx-reference`` (``onnx.reference.ReferenceEvaluator``),
``tract`` (the Rust ONNX runtime, optional package; skipped with its name when absent) and ``native`` (the C
kernels of ``targets.native``; reported unavailable when the extension was not built).
Other modules (native C, emulated devices) register more names with ``targets.base.register``; the modules
named in ``PLUGIN_MODULES`` are imported here when they exist, so importing this module registers them too.
"""
from __future__ import annotations

import importlib

from targets.base import Target, get_target, register, target_names
from targets.onnx_runtimes import OnnxReferenceTarget, OnnxRuntimeTarget
from targets.native.target import NativeTarget
from targets.reference.target import ReferenceTarget
from targets.tract_runtime import TractTarget

__all__ = ["get_target", "target_names", "available_targets", "PLUGIN_MODULES"]

register("reference", ReferenceTarget)
register("onnxruntime", OnnxRuntimeTarget)
register("onnx-reference", OnnxReferenceTarget)
register("tract", TractTarget)
register("native", NativeTarget)

# Modules that register further targets when imported (device helpers add their module here).
PLUGIN_MODULES: tuple[str, ...] = ("targets.devices",)

for _name in PLUGIN_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # the optional module is absent; anything else is a real error
        if _exc.name is None or not _name.startswith(_exc.name):
            raise


def available_targets() -> tuple[list[Target], list[tuple[str, str]]]:
    """Every registered target split into (runnable here, [(name, reason it is skipped)])."""
    ok, skipped = [], []
    for name in target_names():
        t = get_target(name)
        reason = t.availability()
        if reason is None:
            ok.append(t)
        else:
            skipped.append((name, reason))
    return ok, skipped
