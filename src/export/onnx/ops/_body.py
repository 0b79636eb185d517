"""Small helpers for writing FunctionProto bodies: a node list with fresh local names, constants, and the
bit packing/unpacking sub-graphs every op shares.

Everything here uses standard ops (opset 21) in op/dtype combinations that both onnxruntime's CPU kernels
(probed when this was written: BitShift on uint32/uint64, ReduceSum on
int32/int64/float, Gather indices int32, MatMul on float/uint64, no BitCast between widths) and tract 0.23.9
implement (no uint64 MatMul, no Pad on bool), so the inlined standard-ops export runs unmodified in both.

Speed (this 2-core machine): packing through a float32 MatMul against 2^j in 16-bit chunks, then shifting
the four chunks into place and OR-ing them, ~1.0-1.4 ms for 1024 rows of 1000 bits on onnxruntime 1.32
(the former uint64 MatMul against 2^(16 j), which tract lacks, ~0.9-1.1 ms in the same runs); unpacking
byte chunks through a 256 x 8 lookup table (built from constants, so onnxruntime folds it once at session
creation) ~0.4 ms for 1024 x 1024 bits on onnxruntime 1.31 (shift-and-cast per bit: ~0.9 ms). Both exact:
chunks are < 2^16 (exact in float32) and disjoint powers of two add like OR.
"""
from __future__ import annotations

import numpy as np
from onnx import AttributeProto, FunctionProto, TensorProto, helper, numpy_helper

OPSET = 21          # ai.onnx opset of every body and of the main graph
DOMAIN = "lowprec"  # custom domain of the op nodes
DOMAIN_VERSION = 1

__all__ = ["OPSET", "DOMAIN", "DOMAIN_VERSION", "Body", "make_function", "ACC_DTYPES", "UNPACK_CHUNK"]

# bits per lookup in unpack: 8 -> a 256 x 8 table that stays in L1 next to a large MatMul; 16 -> 65536 x 16
# (4 MiB in float32), ~15% faster alone but slower inside whole graphs here.
UNPACK_CHUNK = 8

# accumulator dtype for the MatMul of a gemm body: float32 is exact while every partial sum is an integer
# of magnitude <= 2^24; float64 up to 2^53 (the builder picks per model from the largest bound).
ACC_DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}
_NP = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.INT8: np.int8,
       TensorProto.INT32: np.int32, TensorProto.INT64: np.int64, TensorProto.UINT32: np.uint32,
       TensorProto.UINT64: np.uint64}


class Body:
    """A list of nodes with fresh local value names (``_<hint><n>``)."""

    def __init__(self) -> None:
        self.nodes: list = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"_{hint}{self._count}"

    def op(self, op_type: str, inputs, hint: str | None = None, outputs=None, n_out: int = 1, **attrs):
        """Append one standard node; returns its output name (or list of names when n_out > 1)."""
        if outputs is None:
            outputs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def const(self, value, dtype=None, hint: str = "c") -> str:
        """A Constant node holding ``value`` (numpy array or scalar)."""
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name)))
        return name

    def attr_int(self, attr: str) -> str:
        """A scalar int64 Constant whose value is the function attribute ``attr``."""
        name = self.fresh(attr)
        node = helper.make_node("Constant", [], [name])
        node.attribute.append(helper.make_attribute_ref("value_int", AttributeProto.INT, ref_attr_name=attr))
        self.nodes.append(node)
        return name

    def attr_float(self, attr: str) -> str:
        """A scalar float32 Constant whose value is the function attribute ``attr``."""
        name = self.fresh(attr)
        node = helper.make_node("Constant", [], [name])
        node.attribute.append(helper.make_attribute_ref("value_float", AttributeProto.FLOAT, ref_attr_name=attr))
        self.nodes.append(node)
        return name

    # ---- shared sub-graphs -------------------------------------------------------------------------------

    def chunk_table(self, dtype: int, pm1: bool = False) -> str:
        """Lookup table (2^C, C), C = UNPACK_CHUNK: row c holds the bits of c, LSB first, as 0/1 (or ±1).

        Built from a Range so the file stores nothing; onnxruntime constant-folds it once.
        """
        size = 1 << UNPACK_CHUNK
        c = self.op("Range", [self.const(0, np.int64), self.const(size, np.int64), self.const(1, np.int64)])
        c = self.op("Cast", [c], to=TensorProto.UINT32)
        c = self.op("Unsqueeze", [c, self.const([1], np.int64)])                       # (2^C, 1)
        bits = self.op("BitShift", [c, self.const(np.arange(UNPACK_CHUNK), np.uint32)], direction="RIGHT")
        bits = self.op("BitwiseAnd", [bits, self.const(1, np.uint32)])                   # (2^C, C)
        if pm1:  # 2 b - 1 in int32, then cast
            bits = self.op("Cast", [bits], to=TensorProto.INT32)
            bits = self.op("Sub", [self.op("Add", [bits, bits]), self.const(1, np.int32)])
        return self.op("Cast", [bits], to=dtype)

    def unpack(self, words: str, dtype: int, pm1: bool = False) -> str:
        """uint64 words (R, W) -> (R, 64 W) bits (0/1, or ±1 if ``pm1``) of ``dtype``, LSB first.

        Word bits C j .. C j + C - 1 are the chunk ``(word >> C j) & (2^C - 1)``, looked up in :meth:`chunk_table`.
        """
        c = UNPACK_CHUNK
        u = self.op("Unsqueeze", [words, self.const([2], np.int64)])                      # (R, W, 1)
        ch = self.op("BitShift", [u, self.const(np.arange(0, 64, c), np.uint64)], direction="RIGHT")
        ch = self.op("BitwiseAnd", [ch, self.const((1 << c) - 1, np.uint64)])             # (R, W, 64/C)
        ch = self.op("Cast", [ch], to=TensorProto.INT32)
        g = self.op("Gather", [self.chunk_table(dtype, pm1), ch], axis=0)                 # (R, W, 64/C, C)
        return self.op("Flatten", [g], axis=1)                                            # (R, 64 W)

    def slice_k(self, x: str, k: str, out: str | None = None) -> str:
        """The first ``k`` columns of a 2-d tensor (``k``: scalar int64 value name)."""
        end = self.op("Unsqueeze", [k, self.const([0], np.int64)])
        return self.op("Slice", [x, self.const([0], np.int64), end, self.const([1], np.int64)],
                       outputs=[out] if out else None)

    def pack(self, bits: str, n: str, out: str | None = None) -> str:
        """bool (R, n) -> uint64 words (R, ceil(n/64)), bit k of a row = bit k mod 64 of word k // 64.

        ``n`` is a scalar int64 value name (usually an attribute Constant). Zero pad bits up to 64 W.
        """
        pad = self.op("Mod", [self.op("Neg", [n]), self.const(64, np.int64)])             # (-n) mod 64 >= 0
        pads = self.op("Concat", [self.const([0, 0, 0], np.int64), self.op("Unsqueeze", [pad, self.const([0], np.int64)])], axis=0)
        # Cast before Pad: tract has no Pad on bool tensors (float 0.0 pads like False).
        f = self.op("Pad", [self.op("Cast", [bits], to=TensorProto.FLOAT), pads])      # (R, 64 W)
        f = self.op("Reshape", [f, self.const([0, -1, 16], np.int64)])                    # (R, 4 W, 16)
        # 16-bit chunk values: sums of disjoint powers of two < 2^16, exact in float32. (A (16, 1) matrix, not
        # a (16,) vector: onnxruntime's MatMul was ~10x slower with the vector here.)
        ch = self.op("MatMul", [f, self.const((2.0 ** np.arange(16)).reshape(16, 1), np.float32)])
        ch = self.op("Cast", [ch], to=TensorProto.UINT64)
        ch = self.op("Reshape", [ch, self.const([0, -1, 4], np.int64)])                   # (R, W, 4)
        # chunk j to bits 16 j .. 16 j + 15, then OR the four disjoint chunks together. (Not a uint64 MatMul
        # against 2^(16 j): tract has no uint64 MatMul; not ReduceSum: onnxruntime has none on uint64.)
        ch = self.op("BitShift", [ch, self.const(np.arange(4, dtype=np.uint64) * np.uint64(16))], direction="LEFT")
        c0, c1, c2, c3 = self.op("Split", [ch], n_out=4, axis=2, num_outputs=4)           # 4 x (R, W, 1)
        w = self.op("BitwiseOr", [self.op("BitwiseOr", [c0, c1]), self.op("BitwiseOr", [c2, c3])])
        return self.op("Squeeze", [w, self.const([2], np.int64)], outputs=[out] if out else None)  # (R, W)


def make_function(name: str, inputs, outputs, body: Body, attributes) -> FunctionProto:
    """A ``lowprec`` FunctionProto over opset ``OPSET`` with the given required attributes."""
    return helper.make_function(DOMAIN, name, list(inputs), list(outputs), body.nodes,
                                opset_imports=[helper.make_opsetid("", OPSET)], attributes=list(attributes))


# ---- per-pixel (NHWC) helpers for the conv ops ------------------------------------------------------------

def unpack_last(b: Body, words: str, rank: int, dtype: int, pm1: bool = False) -> str:
    """uint64 words (..., W) of rank ``rank`` -> (..., 64 W) bits (0/1 or ±1) of ``dtype``, LSB first."""
    c = UNPACK_CHUNK
    u = b.op("Unsqueeze", [words, b.const([rank], np.int64)])                          # (..., W, 1)
    ch = b.op("BitShift", [u, b.const(np.arange(0, 64, c), np.uint64)], direction="RIGHT")
    ch = b.op("BitwiseAnd", [ch, b.const((1 << c) - 1, np.uint64)])                    # (..., W, 64/C)
    ch = b.op("Cast", [ch], to=TensorProto.INT32)
    g = b.op("Gather", [b.chunk_table(dtype, pm1), ch], axis=0)                        # (..., W, 64/C, C)
    return b.op("Reshape", [g, b.const([0] * (rank - 1) + [-1], np.int64)])           # (..., 64 W)


def slice_last(b: Body, x: str, n: str, rank: int) -> str:
    """The first ``n`` entries of the last axis (``n``: scalar int64 value name)."""
    end = b.op("Unsqueeze", [n, b.const([0], np.int64)])
    return b.op("Slice", [x, b.const([0], np.int64), end, b.const([rank - 1], np.int64)])


def pack_last(b: Body, bits: str, n: str, rank: int, out: str | None = None) -> str:
    """bool or 0/1 float (..., n) of rank ``rank`` -> uint64 words (..., ceil(n/64)) along the last axis,
    zero pad bits (the same construction as :meth:`Body.pack`, for any rank)."""
    keep = [0] * (rank - 1)
    pad = b.op("Mod", [b.op("Neg", [n]), b.const(64, np.int64)])
    pads = b.op("Concat", [b.const([0] * (2 * rank - 1), np.int64), b.op("Unsqueeze", [pad, b.const([0], np.int64)])],
                axis=0)
    f = b.op("Pad", [b.op("Cast", [bits], to=TensorProto.FLOAT), pads])                # no Pad on bool in tract
    f = b.op("Reshape", [f, b.const(keep + [-1, 16], np.int64)])                       # (..., 4 W, 16)
    ch = b.op("MatMul", [f, b.const((2.0 ** np.arange(16)).reshape(16, 1), np.float32)])
    ch = b.op("Cast", [ch], to=TensorProto.UINT64)
    ch = b.op("Reshape", [ch, b.const(keep + [-1, 4], np.int64)])                      # (..., W, 4)
    ch = b.op("BitShift", [ch, b.const(np.arange(4, dtype=np.uint64) * np.uint64(16))], direction="LEFT")
    c0, c1, c2, c3 = b.op("Split", [ch], n_out=4, axis=rank, num_outputs=4)
    w = b.op("BitwiseOr", [b.op("BitwiseOr", [c0, c1]), b.op("BitwiseOr", [c2, c3])])
    return b.op("Squeeze", [w, b.const([rank], np.int64)], outputs=[out] if out else None)


def image_shape(b: Body) -> str:
    """int64 [4] shape (0, H, W, C) from the attributes H, W, C (0 keeps the batch dimension)."""
    dims = [b.op("Unsqueeze", [b.attr_int(a), b.const([0], np.int64)]) for a in ("H", "W", "C")]
    return b.op("Concat", [b.const([0], np.int64)] + dims, axis=0)


def conv_same(b: Body, x_nhwc: str, w_ohwc: str, pad_value: str, out: str) -> str:
    """int32 (B, H, W, O) = Σ over the k x k window and C channels of x · w, "same" size, stride 1.

    ``x_nhwc`` float (B, H, W, C), ``w_ohwc`` float (O, k, k, C), ``pad_value`` a float scalar: the value of
    every position outside the image. The sum is one standard float Conv over the explicitly padded input
    (the Pad carries the layer's value; Conv itself pads nothing). Exact while every partial sum is an integer
    of magnitude <= 2^24 (the builder refuses conv layers beyond that: ONNX Conv runs in float32 here).
    """
    x = b.op("Transpose", [x_nhwc], perm=[0, 3, 1, 2])                                  # (B, C, H, W)
    w = b.op("Transpose", [w_ohwc], perm=[0, 3, 1, 2])                                  # (O, C, k, k)
    r = b.op("Div", [b.attr_int("kernel"), b.const(2, np.int64)])                       # k // 2 (k odd, > 0)
    r = b.op("Unsqueeze", [r, b.const([0], np.int64)])
    z = b.const([0, 0], np.int64)
    pads = b.op("Concat", [z, r, r, z, r, r], axis=0)                                  # [0,0,r,r,0,0,r,r]
    x = b.op("Pad", [x, pads, pad_value], mode="constant")
    y = b.op("Conv", [x, w])                                                            # (B, O, H, W)
    y = b.op("Transpose", [y], perm=[0, 2, 3, 1])
    return b.op("Cast", [y], outputs=[out], to=TensorProto.INT32)


def conv_weights(b: Body, ws: str, mask: str | None = None) -> str:
    """Packed per-(o, di, dj) channel words (O, k, k, Wc) -> float (O, k, k, C) weights ±1 (or m (2s - 1))."""
    w = slice_last(b, unpack_last(b, ws, 4, TensorProto.FLOAT, pm1=True), b.attr_int("C"), 4)
    if mask is not None:
        w = b.op("Mul", [w, slice_last(b, unpack_last(b, mask, 4, TensorProto.FLOAT), b.attr_int("C"), 4)])
    return w


def pad_float(b: Body) -> str:
    """The int attribute ``pad`` as a float32 scalar (the Pad constant)."""
    return b.op("Cast", [b.attr_int("pad")], to=TensorProto.FLOAT)
