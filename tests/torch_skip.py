"""Import torch for a test module, or skip the module with the reason (torch is the optional extra)."""
from __future__ import annotations

import pytest


def require_torch():
    try:
        import torch
    except ImportError:
        pytest.skip("PyTorch is not installed: the lowprec_rbm.pytorch tests need the optional extra "
                    "(pip install '.[torch]', which pins torch==2.13.0)", allow_module_level=True)
    return torch
