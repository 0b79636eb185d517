"""The ``lowprec`` v1 ops (``docs/ops.md``), one per file, each building its FunctionProto of standard ops."""
from __future__ import annotations

from onnx import TensorProto, helper

from . import (binarize_pack, bernoulli_sample, bitplane_conv, bitplane_gemm, field_table, flatten_bits,
               max_pool_bits, max_pool_fields, pack_pixels, ternary_bitplane_conv, ternary_bitplane_gemm,
               ternary_popcount_conv, ternary_popcount_gemm, threshold_sign, threshold_sign_pixels, unit_field_table,
               unit_field_table_compact, unpack_bits, xnor_popcount_conv, xnor_popcount_gemm)
from ._body import DOMAIN, DOMAIN_VERSION, OPSET

__all__ = ["OPS", "DOMAIN", "DOMAIN_VERSION", "OPSET", "function", "make_node"]

OPS = {m.NAME: m for m in (binarize_pack, xnor_popcount_gemm, ternary_popcount_gemm, bitplane_gemm,
                           ternary_bitplane_gemm, threshold_sign, field_table, bernoulli_sample, unpack_bits,
                           pack_pixels, xnor_popcount_conv, ternary_popcount_conv, bitplane_conv,
                           ternary_bitplane_conv, threshold_sign_pixels, max_pool_bits, max_pool_fields,
                           flatten_bits, unit_field_table, unit_field_table_compact)}


def function(name: str, acc: int = TensorProto.FLOAT):
    """The FunctionProto of op ``name`` (gemm bodies accumulate in ``acc``: TensorProto.FLOAT or DOUBLE)."""
    if name not in OPS:
        raise ValueError(f"unknown lowprec op {name!r}; known: {', '.join(OPS)}")
    return OPS[name].function(acc)


def make_node(name: str, inputs, outputs, **attrs):
    """A ``lowprec`` node; every attribute the op declares must be given (no defaults)."""
    op = OPS[name]
    missing = set(op.ATTRIBUTES) - set(attrs)
    extra = set(attrs) - set(op.ATTRIBUTES)
    if missing or extra:
        raise ValueError(f"{name} takes attributes {op.ATTRIBUTES}; missing {sorted(missing)}, unknown {sorted(extra)}")
    return helper.make_node(name, list(inputs), list(outputs), domain=DOMAIN, name=outputs[0], **attrs)
