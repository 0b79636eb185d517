"""Everything that runs an exported artifact: the bit-exact reference simulator, onnxruntime,
``onnx.reference``, native C and cross-compiled devices; target profiles; verify and measure logic.

This package may import ``export`` (for the bit layout and artifact metadata) but never ``lowprec_rbm``.

The public API is what ``__all__`` lists (everything else is private by convention):

- :func:`verify` (returns a :class:`VerifyReport`): every target against the reference simulator, bit for bit;
- :func:`get_target` and :func:`target_names`: the registry of targets (built-ins registered on first use);
  :class:`TargetUnavailable` when a target cannot run here;
- :class:`Session`: the small inference API, ``targets.Session(model, target=...).run(x)``.

Names are imported on first use (module ``__getattr__``): ``import targets`` stays free of numpy and onnx.

Examples
--------
>>> import targets
>>> sorted(targets.__all__)
['Session', 'TargetUnavailable', 'VerifyReport', 'get_target', 'target_names', 'verify']
"""
from __future__ import annotations

import importlib
import sys
import types

# public name -> the module that defines it (imported on first access). get_target and target_names come
# through targets.registry so that the built-in targets are registered before the first look-up.
_PUBLIC = {
    "verify": "targets.verify",
    "VerifyReport": "targets.verify",
    "get_target": "targets.registry",
    "target_names": "targets.registry",
    "TargetUnavailable": "targets.base",
    "Session": "targets.session",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'targets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value     # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``targets.verify`` the public function: after loading a submodule, the import system binds it to
    the package attribute of the same name (``import targets.verify`` would make ``targets.verify`` the module
    ``targets/verify.py``). That binding is dropped here for the public names; the module itself stays in
    ``sys.modules`` and ``from targets.verify import make_inputs`` works as before. (``import targets.verify as
    m`` gives the function: Python resolves it through the package attribute.)"""

    def __setattr__(self, name: str, value) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
