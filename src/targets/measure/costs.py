"""Operation counts and memory of a deployable network, per layer and in total.

Conventions (stated in every report):
- A MAC is one multiply-accumulate of one weight with one input element, counted densely: ±1 weights are
  never counted as zeros. For ternary layers the MACs on nonzero weights are given separately.
- BOPs follow qonnx (``total_bops`` = Σ bits_input · bits_weight · MACs): BIPOLAR and BINARY are 1 bit,
  TERNARY 2 bits, UINT8 8 bits, FLOAT32 32 bits.
- Keys ``op_mac_<IDT>_<WDT>``, ``mem_w_<DT>`` (weight elements), ``mem_o_<DT>`` (output elements),
  ``total_macs``, ``total_bops``, ``total_mem_w_bits``, ``total_mem_w_elems``, ``total_mem_o_bits``,
  ``total_mem_o_elems`` mean what qonnx's ``inference_cost`` (with ``discount_sparsity=False``) means by them,
  so numbers can be compared. qonnx costs the matrix product alone, whose output is an integer accumulator
  (INT32 for integer operands): ``mem_o_INT32`` and ``total_mem_o_bits`` count every layer output at 32 bits,
  also where the graph thresholds it to one bit right away. What the graph keeps after thresholding (1 bit per
  ±1 output, 32 per integer field or score) is counted separately under ``act_o_<DT>`` and
  ``total_act_o_bits`` (not qonnx keys).
- Zeros: qonnx's default ``discount_sparsity=True`` multiplies a layer's MACs and weight memory by the
  fraction of nonzero weight values. Here ``total_macs`` and weight memory are always dense (a ternary zero
  still occupies its 2 bits and its word in the packed layout) and the nonzero MACs are
  ``total_nonzero_macs``: compare qonnx's default ``total_macs`` with ``total_nonzero_macs``. ±1 weights have
  no zeros in either (qonnx counts nonzero *values*, and -1 is nonzero).
- Word operations per inference for a word width w (bits): for each output row, ceil(K/w) XORs and
  popcounts (binary); plus one AND per word (ternary, mask plane; popcount(mask) is a per-row constant);
  bit-plane inputs (uint8 pixels) need 8 planes x (AND + popcount) per word and 8 popcounts per input word.
- Per inference = one row of the batch through the graph as exported (for an RBM: hidden fields, visible
  fields and every Gibbs step the graph holds).
- Convolutions (qonnx's convention): a conv layer is ``n_out`` = O outputs of fan-in k·k·C repeated at each of
  the H·W output pixels, so MACs = H·W·O·k·k·C; weight elements O·k·k·C; output elements H·W·O. Its packed rows
  are k·k pixel groups of ceil(C/w) words (``groups``), which the word operations count. Max-pool and flatten
  (a repack) are not matrix products and are not in the MACs, BOPs or ``word_ops``; a pooling conv layer's row
  says where it pools (``pool``: ``"bits"`` after the threshold, ``"fields"`` before it) and what the pool
  costs per inference (``pool_ops``: 3 word ORs per pooled pixel and word of channels for ``"bits"``, 3 int32
  maxima per pooled pixel and channel for ``"fields"``), and ``thresholds`` the integer comparisons of the
  layer (H·W·O, or the pooled (H/2)·(W/2)·O for ``"fields"``, which also keeps only those bits in
  ``act_o``/``total_act_o_bits``). ``total_pool_ops`` sums ``pool_ops`` by kind.
- Activation memory (not qonnx keys): ``act_in_bits`` is what a layer reads (the input image at its bits,
  8 per pixel for uint8, 1 per packed ±1 value; else the previous layer's ``act_out_bits``), ``act_out_bits``
  what it hands on (its pooled map when it pools, 1 bit per ±1 value, 32 per int32 field or score), and
  ``peak_act_bits`` their sum: what is live while the layer runs layer at a time with its pool fused.
  ``total_peak_act_bits`` is the largest (``peak_act_layer`` names it). A deployment can need less: the
  emitted C ``predict()`` of a CNN streams rows (``memory_report``'s ``activations``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from export.network import CNNNetwork, MLPNetwork, RBMNetwork

__all__ = ["LayerCost", "layer_costs", "op_counts", "memory_report", "DTYPE_BITS"]

DTYPE_BITS = {"BIPOLAR": 1, "BINARY": 1, "TERNARY": 2, "UINT8": 8, "INT8": 8, "INT32": 32, "FLOAT32": 32}

#: The output type of every matrix product (qonnx's datatype inference gives INT32 for integer operands).
ACCUMULATOR_TYPE = "INT32"
ACCUMULATOR_BITS = DTYPE_BITS[ACCUMULATOR_TYPE]


@dataclass(frozen=True)
class LayerCost:
    """One matrix product of the graph: ``n_out`` outputs of fan-in ``n_in``, executed ``repeat`` times."""

    name: str
    n_in: int
    n_out: int
    input_type: str   # BIPOLAR or UINT8
    weight_type: str  # BIPOLAR or TERNARY
    output_type: str  # BIPOLAR (thresholded), INT32 (fields / scores)
    nonzero: int      # nonzero weights (= n_in * n_out for ±1)
    repeat: int = 1
    groups: int = 1   # the fan-in is `groups` packed groups of n_in / groups bits (conv: k*k pixels of C channels)
    pool: str | bool = False   # conv: where its 2x2 max-pool is ("bits", "fields") or False
    in_elems: int | None = None   # elements of the input map it reads (conv: H*W*C; default n_in)
    out_elems: int | None = None  # elements it hands on (pooled map; default n_out)

    @property
    def input_elems(self) -> int:
        return self.n_in if self.in_elems is None else self.in_elems

    @property
    def output_elems(self) -> int:
        return self.n_out if self.out_elems is None else self.out_elems

    @property
    def thresholded(self) -> int:
        """Outputs that are thresholded (and kept as bits): all of them, or the pooled quarter for "fields"."""
        return self.n_out * self.repeat // (4 if self.pool == "fields" else 1)

    def pool_ops(self, word_bits: int) -> dict[str, int]:
        pooled = self.repeat // 4
        if self.pool == "bits":
            return {"or": 3 * pooled * math.ceil(self.n_out / word_bits)}
        if self.pool == "fields":
            return {"max_int32": 3 * pooled * self.n_out}
        return {}

    @property
    def macs(self) -> int:
        return self.n_in * self.n_out * self.repeat

    @property
    def nonzero_macs(self) -> int:
        return self.nonzero * self.repeat


def layer_costs(network: MLPNetwork | CNNNetwork | RBMNetwork) -> list[LayerCost]:
    """The matrix products of ``network`` in graph order."""
    if isinstance(network, RBMNetwork):
        n, p = network.weight.shape
        out = [
            LayerCost("hidden_field", n, p, "BIPOLAR", "BIPOLAR", "INT32", n * p),
            LayerCost("visible_field", p, n, "BIPOLAR", "BIPOLAR", "INT32", n * p),
        ]
        if network.gibbs_steps:
            k = network.gibbs_steps
            out += [LayerCost("gibbs_hidden", n, p, "BIPOLAR", "BIPOLAR", "BIPOLAR", n * p, repeat=k),
                    LayerCost("gibbs_visible", p, n, "BIPOLAR", "BIPOLAR", "BIPOLAR", n * p, repeat=k)]
        return out
    if isinstance(network, CNNNetwork):
        out = []
        shapes = network.feature_shapes()
        for i, (conv, _, pool) in enumerate(network.features):
            h, w, _ = shapes[i]
            out.append(LayerCost(
                f"conv{i}", conv.fan_in, conv.out_channels,
                "UINT8" if i == 0 and network.input.kind == "bitplanes" else "BIPOLAR",
                "TERNARY" if conv.ternary else "BIPOLAR", "BIPOLAR",
                int(np.count_nonzero(conv.weight)), repeat=h * w, groups=conv.kernel ** 2, pool=pool,
                in_elems=h * w * conv.in_channels,
                out_elems=(h // 2) * (w // 2) * conv.out_channels if pool else h * w * conv.out_channels))
        dense = [d for d, _ in network.hidden] + [network.output[0]]
        for j, d in enumerate(dense, start=len(network.features)):
            n_out, n_in = d.shape
            out.append(LayerCost(f"layer{j}", n_in, n_out, "BIPOLAR", "TERNARY" if d.ternary else "BIPOLAR",
                                 "INT32" if j == len(network.layers) - 1 else "BIPOLAR", int(np.count_nonzero(d.weight))))
        return out
    if isinstance(network, MLPNetwork):
        out = []
        first_in = "UINT8" if network.input.kind == "bitplanes" else "BIPOLAR"
        for i, dense in enumerate(network.layers):
            last = i == len(network.layers) - 1
            n_out, n_in = dense.shape
            out.append(LayerCost(
                f"layer{i}", n_in, n_out, first_in if i == 0 else "BIPOLAR",
                "TERNARY" if dense.ternary else "BIPOLAR", "INT32" if last else "BIPOLAR",
                int(np.count_nonzero(dense.weight))))
        return out
    raise TypeError(f"expected an MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")


def _word_ops(c: LayerCost, word_bits: int) -> dict[str, int]:
    w = c.groups * math.ceil(c.n_in // c.groups / word_bits)
    rows = c.n_out * c.repeat
    if c.input_type == "UINT8":
        planes = 8
        ands = planes * rows * w * (2 if c.weight_type == "TERNARY" else 1)
        pops = planes * rows * w * (2 if c.weight_type == "TERNARY" else 1) + planes * w * c.repeat
        return {"xor": 0, "and": ands, "popcount": pops}
    return {"xor": rows * w, "and": rows * w if c.weight_type == "TERNARY" else 0, "popcount": rows * w}


def op_counts(network: MLPNetwork | CNNNetwork | RBMNetwork, word_bits: int = 64) -> dict:
    """MACs by precision pair, BOPs, memory elements/bits (qonnx keys) and word operations per inference.

    Returns
    -------
    dict with ``layers`` (list of per-layer dicts) and ``total`` (qonnx-compatible totals plus
    ``total_nonzero_macs``, ``binarized_mac_ratio``, ``word_bits``, ``word_ops``).
    """
    if word_bits not in (8, 16, 32, 64):
        raise ValueError(f"word width must be 8, 16, 32 or 64, got {word_bits}")
    layers, total = [], {"total_macs": 0, "total_bops": 0, "total_nonzero_macs": 0, "total_mem_w_bits": 0,
                         "total_mem_w_elems": 0, "total_mem_o_bits": 0, "total_mem_o_elems": 0,
                         "total_act_o_bits": 0, "total_pool_ops": {}, "total_peak_act_bits": 0,
                         "peak_act_layer": None}
    word_ops = {"xor": 0, "and": 0, "popcount": 0}
    binarized = 0
    for c in layer_costs(network):
        bi, bw, bo = DTYPE_BITS[c.input_type], DTYPE_BITS[c.weight_type], DTYPE_BITS[c.output_type]
        # Gibbs layers reuse the weights of hidden_field / visible_field: counted once in memory.
        weight_elems = 0 if c.name.startswith("gibbs") else c.n_in * c.n_out
        wo = _word_ops(c, word_bits)
        row = {"name": c.name, "n_in": c.n_in, "n_out": c.n_out, "repeat": c.repeat,
               "input_type": c.input_type, "weight_type": c.weight_type, "output_type": c.output_type,
               "macs": c.macs, "nonzero_macs": c.nonzero_macs, "bops": bi * bw * c.macs,
               f"op_mac_{c.input_type}_{c.weight_type}": c.macs, "weight_elems": weight_elems,
               "weight_bits": weight_elems * bw, "output_elems": c.n_out * c.repeat,
               "accumulator_bits": c.n_out * c.repeat * ACCUMULATOR_BITS,
               "output_bits": c.thresholded * bo, "word_ops": wo,
               "act_in_bits": c.input_elems * bi, "act_out_bits": c.output_elems * bo}
        row["peak_act_bits"] = row["act_in_bits"] + row["act_out_bits"]
        if row["peak_act_bits"] > total["total_peak_act_bits"]:
            total["total_peak_act_bits"], total["peak_act_layer"] = row["peak_act_bits"], c.name
        if c.pool:
            row.update(pool=c.pool, pool_ops=c.pool_ops(word_bits), thresholds=c.thresholded)
            for k, v in row["pool_ops"].items():
                total["total_pool_ops"][k] = total["total_pool_ops"].get(k, 0) + v
        layers.append(row)
        key = f"op_mac_{c.input_type}_{c.weight_type}"
        total[key] = total.get(key, 0) + c.macs
        total[f"mem_w_{c.weight_type}"] = total.get(f"mem_w_{c.weight_type}", 0) + weight_elems
        total[f"mem_o_{ACCUMULATOR_TYPE}"] = total.get(f"mem_o_{ACCUMULATOR_TYPE}", 0) + c.n_out * c.repeat
        total[f"act_o_{c.output_type}"] = total.get(f"act_o_{c.output_type}", 0) + c.thresholded
        total["total_macs"] += c.macs
        total["total_bops"] += bi * bw * c.macs
        total["total_nonzero_macs"] += c.nonzero_macs
        total["total_mem_w_elems"] += weight_elems
        total["total_mem_w_bits"] += weight_elems * bw
        total["total_mem_o_elems"] += c.n_out * c.repeat
        total["total_mem_o_bits"] += c.n_out * c.repeat * ACCUMULATOR_BITS
        total["total_act_o_bits"] += c.thresholded * bo
        if c.input_type == "BIPOLAR":
            binarized += c.macs
        for k, v in wo.items():
            word_ops[k] += v
    total["binarized_mac_ratio"] = binarized / total["total_macs"] if total["total_macs"] else 0.0
    total["word_bits"] = word_bits
    total["word_ops"] = word_ops
    return {"layers": layers, "total": total}


def _c_bytes(rows: int, k: int, word_bits: int, planes: int) -> int:
    return planes * rows * math.ceil(k / word_bits) * (word_bits // 8)


def memory_report(network: MLPNetwork | CNNNetwork | RBMNetwork, onnx_initializer_bytes: dict[str, int] | None = None,
                  onnx_file_bytes: int | None = None, c_word_bits: tuple[int, ...] = (32, 64)) -> dict:
    """Weight memory as serialised, by precision, next to float32 and int8 versions of the same layers.

    Parameters
    ----------
    network : MLPNetwork or RBMNetwork
    onnx_initializer_bytes : dict, optional
        Bytes of each initializer as stored in the ONNX file (name -> bytes), when a file is at hand.
    onnx_file_bytes : int, optional
        Size of the ONNX file on disk.
    c_word_bits : tuple of int
        Word widths for which the packed C arrays are sized (rows padded to whole words).

    For MLPs and CNNs ``total["activations"]`` gives the layer-at-a-time peak of the activations (see the module
    docstring) and the bytes of caller scratch the emitted C ``predict()`` needs at each word width (a CNN's
    streams rows through buffers of k input rows, so it needs far less than its largest map).
    """
    layers = []
    for c in layer_costs(network):
        if c.name.startswith("gibbs"):
            continue
        planes = 2 if c.weight_type == "TERNARY" else 1
        elems = c.n_in * c.n_out
        row = {"name": c.name, "weight_type": c.weight_type, "elems": elems,
               "packed_bits": planes * elems,
               "float32_bytes": 4 * elems, "int8_bytes": elems,
               "c_bytes": {str(w): _c_bytes(c.n_out * c.groups, c.n_in // c.groups, w, planes) for w in c_word_bits}}
        layers.append(row)
    # The RBM stores ξ packed twice (rows of ξᵀ for v->h, rows of ξ for h->v); both are counted above.
    extra = {}
    if isinstance(network, (MLPNetwork, CNNNetwork)):
        n_thr = sum(d.shape[0] for d in network.layers[:-1])
        extra["threshold_bytes"] = n_thr * (4 + 1)     # int32 t + int8 s per channel
        extra["output_affine_bytes"] = network.layers[-1].shape[0] * 8
    else:
        n, p = network.weight.shape
        extra["table_bytes"] = (n + 1 + p + 1) * (4 + 4)  # float32 probability + uint32 threshold tables
    total = {
        "weight_elems": sum(r["elems"] for r in layers),
        "packed_bytes_exact": sum(r["packed_bits"] for r in layers) / 8,
        "float32_bytes": sum(r["float32_bytes"] for r in layers),
        "int8_bytes": sum(r["int8_bytes"] for r in layers),
        "c_bytes": {str(w): sum(r["c_bytes"][str(w)] for r in layers) for w in c_word_bits},
        **extra,
    }
    if not isinstance(network, RBMNetwork):
        from targets.devices.footprint import api_scratch_bytes  # noqa: PLC0415  (registers device targets)

        ops = op_counts(network, 32)["total"]
        total["activations"] = {
            "peak_bits_layer_at_a_time": ops["total_peak_act_bits"], "peak_layer": ops["peak_act_layer"],
            "c_predict_scratch_bytes": {str(w): api_scratch_bytes(network, w) for w in c_word_bits}}
    if onnx_initializer_bytes is not None:
        total["onnx_initializer_bytes"] = int(sum(onnx_initializer_bytes.values()))
        total["onnx_initializers"] = dict(onnx_initializer_bytes)
    if onnx_file_bytes is not None:
        total["onnx_file_bytes"] = int(onnx_file_bytes)
        total["compression_vs_float32"] = total["float32_bytes"] / onnx_file_bytes if onnx_file_bytes else None
    return {"layers": layers, "total": total}
