"""The reference kernels, one per file, and the table the interpreter dispatches on.

``KERNELS[(domain, op_type)] = (function, input names)``; a function takes the node's inputs positionally
and its attributes plus ``word_bits`` as keywords, and returns one array. Domain ``""`` is standard ONNX.
"""
from __future__ import annotations

from targets.reference.ops import standard
from targets.reference.ops.bernoulli_sample import bernoulli_sample
from targets.reference.ops.binarize_pack import binarize_pack
from targets.reference.ops.bitplane_conv import bitplane_conv, ternary_bitplane_conv
from targets.reference.ops.bitplane_gemm import bitplane_gemm, ternary_bitplane_gemm
from targets.reference.ops.flatten_bits import flatten_bits
from targets.reference.ops.max_pool_bits import max_pool_bits
from targets.reference.ops.max_pool_fields import max_pool_fields
from targets.reference.ops.pack_pixels import pack_pixels
from targets.reference.ops.field_table import field_table
from targets.reference.ops.ternary_popcount_gemm import ternary_popcount_gemm
from targets.reference.ops.threshold_sign import threshold_sign
from targets.reference.ops.threshold_sign_pixels import threshold_sign_pixels
from targets.reference.ops.unit_field_table import unit_field_table
from targets.reference.ops.unit_field_table_compact import unit_field_table_compact
from targets.reference.ops.unpack_bits import unpack_bits
from targets.reference.ops.xnor_popcount_conv import ternary_popcount_conv, xnor_popcount_conv
from targets.reference.ops.xnor_popcount_gemm import xnor_popcount_gemm

__all__ = ["KERNELS", "LOWPREC_DOMAIN"]

LOWPREC_DOMAIN = "lowprec"

KERNELS = {
    (LOWPREC_DOMAIN, "BinarizePack"): (binarize_pack, ("x",)),
    (LOWPREC_DOMAIN, "XnorPopcountGemm"): (xnor_popcount_gemm, ("xp", "wp")),
    (LOWPREC_DOMAIN, "TernaryPopcountGemm"): (ternary_popcount_gemm, ("xp", "ws", "wm")),
    (LOWPREC_DOMAIN, "BitplaneGemm"): (bitplane_gemm, ("x", "wp")),
    (LOWPREC_DOMAIN, "TernaryBitplaneGemm"): (ternary_bitplane_gemm, ("x", "ws", "wm")),
    (LOWPREC_DOMAIN, "ThresholdSign"): (threshold_sign, ("y", "s", "t")),
    (LOWPREC_DOMAIN, "FieldTable"): (field_table, ("y", "table")),
    (LOWPREC_DOMAIN, "UnitFieldTable"): (unit_field_table, ("y", "table")),
    (LOWPREC_DOMAIN, "UnitFieldTableCompact"): (unit_field_table_compact, ("y", "values", "lo", "hi", "off")),
    (LOWPREC_DOMAIN, "BernoulliSample"): (bernoulli_sample, ("thr", "seeds")),
    (LOWPREC_DOMAIN, "UnpackBits"): (unpack_bits, ("p",)),
    (LOWPREC_DOMAIN, "PackPixels"): (pack_pixels, ("x",)),
    (LOWPREC_DOMAIN, "XnorPopcountConv"): (xnor_popcount_conv, ("xp", "wp")),
    (LOWPREC_DOMAIN, "TernaryPopcountConv"): (ternary_popcount_conv, ("xp", "ws", "wm")),
    (LOWPREC_DOMAIN, "BitplaneConv"): (bitplane_conv, ("x", "wp")),
    (LOWPREC_DOMAIN, "TernaryBitplaneConv"): (ternary_bitplane_conv, ("x", "ws", "wm")),
    (LOWPREC_DOMAIN, "ThresholdSignPixels"): (threshold_sign_pixels, ("y", "s", "t")),
    (LOWPREC_DOMAIN, "MaxPoolBits"): (max_pool_bits, ("p",)),
    (LOWPREC_DOMAIN, "MaxPoolFields"): (max_pool_fields, ("y",)),
    (LOWPREC_DOMAIN, "FlattenBits"): (flatten_bits, ("p",)),
    ("", "Add"): (standard.add, ("a", "b")),
    ("", "Sub"): (standard.sub, ("a", "b")),
    ("", "Mul"): (standard.mul, ("a", "b")),
    ("", "ArgMax"): (standard.argmax, ("x",)),
    ("", "Identity"): (standard.identity, ("x",)),
    ("", "Cast"): (standard.cast, ("x",)),
    ("", "CastLike"): (standard.cast_like, ("x", "like")),
    ("", "Constant"): (standard.constant, ()),
}
