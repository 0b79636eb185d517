"""Exported models on the native kernels: :class:`NativeModel` runs an MLP, CNN or RBM artifact and returns any of
its graph outputs, computed by the C kernels (``csrc/``) with the same integers as the reference simulator.

The network comes out of the file through ``export.onnx.network_from_onnx`` (custom and standard exports
alike); weights are packed once (bit layout v1) and handed to the extension. An MLP runs in one C call
(input packing, every layer with its threshold fused into packed output bits, affine + argmax); fields and
hidden bits are written out only when asked for. An RBM runs its conditionals and Gibbs half-steps as fused
layer calls (popcount GEMM -> field -> acceptance threshold -> counter-based PRNG draw -> packed bit).
A CNN runs layer by layer in ``targets.native.cnn`` (conv = the same GEMM over gathered patch rows).
"""
from __future__ import annotations

import math
import os
from typing import Iterable

import numpy as np

from export.layout import n_words, pack_pm1, pack_ternary
from export.network import CNNNetwork, Dense, MLPNetwork, RBMNetwork, rbm_tables
from targets.native import load

__all__ = ["NativeModel", "PATHS", "default_threads", "MIN_WORK"]

# Code path names -> the C enum (lp_native.h). "auto" = the fastest this CPU supports.
PATHS = {"auto": 0, "portable": 1, "popcnt": 2, "avx2": 3, "avx512": 4}
# A layer starts one more thread per MIN_WORK popcount words (~50-100 µs of work): below that, starting a
# thread costs more than it saves (measured in bench/native_speed.py).
MIN_WORK = 1 << 18
_XNOR, _TERNARY, _BITPLANE, _TERNARY_BITPLANE = 0, 1, 2, 3
_ACT_NONE, _ACT_THRESHOLD, _ACT_SAMPLE = 0, 1, 2
_IN_KIND = {"pm1": 0, "u8": 1, "f32": 2, "bitplanes": 3}


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _layer_spec(dense: Dense, bitplanes: bool) -> tuple:
    """(kind, K, N, w, m, nnz) for the extension; the same binary/ternary decision as the exporter."""
    n, k = dense.shape
    if dense.ternary:
        s, m = pack_ternary(dense.weight)
        nnz = np.bitwise_count(m).sum(axis=1, dtype=np.int64).astype(np.int32)
        return (_TERNARY_BITPLANE if bitplanes else _TERNARY, k, n, s, m, nnz)
    return (_BITPLANE if bitplanes else _XNOR, k, n, pack_pm1(dense.weight), None, None)


def _u8_threshold(threshold: float) -> int:
    """x >= t for a uint8 x and the float32 threshold t  <=>  x >= ceil(t), clipped to [0, 256]."""
    return int(min(256, max(0, math.ceil(float(np.float32(threshold))))))


class NativeModel:
    """An exported model bound to the native kernels.

    Parameters
    ----------
    source : path of an exported ``.onnx`` file, or an ``MLPNetwork`` / ``CNNNetwork`` / ``RBMNetwork``
    path : code path, one of :data:`PATHS` (default ``"auto"``: the fastest this CPU runs)
    threads : worker threads per layer (default: the cores available)
    min_work : popcount words per extra thread (0: always use ``threads``; for tests)
    """

    def __init__(self, source, *, path: str = "auto", threads: int | None = None, min_work: int = MIN_WORK,
                 _tables: dict | None = None) -> None:
        self.lib = load()
        if path not in PATHS:
            raise ValueError(f"path must be one of {sorted(PATHS)}, got {path!r}")
        if path != "auto" and path not in self.lib.paths():
            raise ValueError(f"code path {path!r} is not supported on this CPU (supported: {self.lib.paths()})")
        threads = default_threads() if threads is None else threads
        if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool):
            raise TypeError(f"threads must be an int, got {type(threads).__name__}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.path, self.threads, self.min_work = path, int(threads), int(min_work)
        self.output_dtypes: dict[str, np.dtype] = {}
        tables = _tables
        if isinstance(source, (str, os.PathLike)):
            from export.onnx import initializers, load_artifact, network_from_onnx
            from onnx.helper import tensor_dtype_to_np_dtype

            model = load_artifact(source)
            net = network_from_onnx(model, os.fspath(source))
            self.output_dtypes = {o.name: np.dtype(tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type))
                                  for o in model.graph.output}
            if isinstance(net, RBMNetwork):
                tables = _file_tables(initializers(model), net)
        else:
            net = source
        if not isinstance(net, (MLPNetwork, RBMNetwork, CNNNetwork)):
            raise TypeError(f"expected an ONNX path, MLPNetwork, CNNNetwork or RBMNetwork, got {type(source).__name__}")
        self.network = net
        self.kind = {MLPNetwork: "mlp", CNNNetwork: "cnn"}.get(type(net), "rbm")
        spec = net.input
        self._in_kind = {"pm1": "pm1", "bitplanes": "bitplanes"}.get(
            spec.kind, "u8" if spec.dtype == "uint8" else "f32")
        self._thr_f32 = float(np.float32(spec.threshold if spec.kind == "threshold" else 0.0))
        self._thr_u8 = _u8_threshold(spec.threshold) if spec.kind == "threshold" else 0
        if self.kind == "mlp":
            self._build_mlp(net)
        elif self.kind == "cnn":
            from export.onnx.names import output_names
            from targets.native.cnn import CNNRunner

            self._cnn = CNNRunner(self.lib, net, self._in_kind, self._thr_f32, self._thr_u8)
            self.output_names = output_names(net)
        else:
            self._build_rbm(net, tables or {})

    # ------------------------------------------------------------------------------------------------ MLP
    def _build_mlp(self, net: MLPNetwork) -> None:
        bp = net.input.kind == "bitplanes"
        layers = tuple(_layer_spec(d, bp and i == 0) for i, d in enumerate(net.layers))
        s = tuple(np.ascontiguousarray(t.s, np.int8) for _, t in net.hidden)
        t = tuple(np.ascontiguousarray(t.t, np.int32) for _, t in net.hidden)
        aff = net.output[1]
        self._scale = np.ascontiguousarray(aff.scale, np.int64)
        self._offset = np.ascontiguousarray(aff.offset, np.int64)
        self._handle = self.lib.mlp_build(_IN_KIND[self._in_kind], self._thr_f32, self._thr_u8, layers, s, t,
                                          self._scale, self._offset)
        self._widths = [d.shape[0] for d in net.layers]
        from export.onnx.names import output_names

        self.output_names = output_names(net)

    def _check_input(self, x, name: str) -> np.ndarray:
        spec = self.network.input
        x = np.asarray(x)
        if x.dtype != np.dtype(spec.dtype):
            raise TypeError(f"input {name!r} must have dtype {spec.dtype}, got {x.dtype}")
        if x.ndim != 2 or x.shape[1] != spec.size:
            raise ValueError(f"input {name!r} must have shape (batch, {spec.size}), got {x.shape}")
        return np.ascontiguousarray(x)

    def _exec(self) -> tuple[int, int, int]:
        return PATHS[self.path], self.threads, self.min_work

    def _run_mlp(self, feeds: dict, want: set[str]) -> dict[str, np.ndarray]:
        x = self._check_input(feeds["x"], "x")
        b = x.shape[0]
        nl = len(self._widths)
        out: dict[str, np.ndarray] = {}
        xp = None
        if "xp" in want and self._in_kind != "bitplanes":
            xp = out["xp"] = np.empty((b, n_words(self.network.input.size)), np.uint64)
        ys = None
        if any(f"y{i}" in want for i in range(nl)):
            ys = tuple(np.empty((b, n), np.int32) if f"y{i}" in want else None
                       for i, n in enumerate(self._widths))
            out.update({f"y{i}": y for i, y in enumerate(ys) if y is not None})
        hs = None
        if any(f"h{i}" in want for i in range(nl - 1)):
            hs = tuple(np.empty((b, n_words(n)), np.uint64) if f"h{i}" in want else None
                       for i, n in enumerate(self._widths[:-1]))
            out.update({f"h{i}": h for i, h in enumerate(hs) if h is not None})
        scores = np.empty((b, self._widths[-1]), np.int64) if "scores" in want else None
        label = np.empty(b, np.int64) if "label" in want else None
        self.lib.mlp_run(self._handle, x, b, xp, ys, hs, scores, label, *self._exec())
        if scores is not None:
            out["scores"] = scores.astype(self.output_dtypes.get("scores", np.int64), copy=False)
        if label is not None:
            out["label"] = label
        return out

    # ------------------------------------------------------------------------------------------------ CNN
    def _run_cnn(self, feeds: dict, want: set[str]) -> dict[str, np.ndarray]:
        got = self._cnn.run(self._check_input(feeds["x"], "x"), want, self._exec())
        got["scores"] = got["scores"].astype(self.output_dtypes.get("scores", np.int64), copy=False)
        return got

    # ------------------------------------------------------------------------------------------------ RBM
    def _build_rbm(self, net: RBMNetwork, tables: dict) -> None:
        from export.onnx.names import output_names

        w = net.weight
        self._xi_t = pack_pm1(w.T)   # (P, words(N)): hidden fields X = σ ξ
        self._xi = pack_pm1(w)       # (N, words(P)): visible fields Y = ξ h
        computed = rbm_tables(net)
        self._tables = {k: np.ascontiguousarray(tables.get(k, computed[k]))
                        for k in ("p_hidden", "t_hidden", "t_visible")}
        self._map_s = np.ones(net.n_hidden, np.int8)
        self._map_t = np.ascontiguousarray(net.map_thresholds)   # hidden fields folded (0 without them)
        self._units = net.n_hidden if net.hidden_field is not None else 0   # p_hidden: one row per hidden unit
        self.output_names = output_names(net)

    def _layer(self, x, w, k: int, n: int, b: int, *, y=None, act=_ACT_NONE, bits=None, s=None, t=None,
               table=None, thr=None, seeds=None, stream: int = 0) -> None:
        self.lib.layer(_XNOR, k, n, b, x, None, w, None, None, y, act, bits, s, t, table, thr, seeds, stream,
                       *self._exec())

    def _pack(self, x: np.ndarray) -> np.ndarray:
        b, k = x.shape
        out = np.empty((b, n_words(k)), np.uint64)
        self.lib.pack(_IN_KIND[self._in_kind], k, b, x, self._thr_f32, self._thr_u8, out)
        return out

    def _run_rbm(self, feeds: dict, want: set[str], steps: int | None = None) -> dict[str, np.ndarray]:
        net = self.network
        n, p = net.n_visible, net.n_hidden
        v = self._check_input(feeds["v"], "v")
        b = v.shape[0]
        if steps is None:  # the Gibbs chain runs only when one of its outputs is asked for
            steps = net.gibbs_steps if any(w.startswith("gibbs_") for w in want) else 0
        seeds = feeds.get("seeds")
        if steps:
            seeds = np.asarray(seeds) if seeds is not None else None
            if seeds is None or seeds.dtype != np.uint32 or seeds.shape != (b,):
                got = "nothing" if seeds is None else f"{seeds.dtype} {seeds.shape}"
                raise TypeError(f"input 'seeds' must be uint32 of shape ({b},) (one PRNG seed per row), got {got}")
            seeds = np.ascontiguousarray(seeds)
        out: dict[str, np.ndarray] = {}
        vp = out["vp"] = self._pack(v)
        hf = out["hidden_field"] = np.empty((b, p), np.int32)
        hb = out["hidden_bits"] = np.empty((b, n_words(p)), np.uint64)
        self._layer(vp, self._xi_t, n, p, b, y=hf, act=_ACT_THRESHOLD, bits=hb, s=self._map_s, t=self._map_t)
        if "hidden_prob" in want:
            prob = out["hidden_prob"] = np.empty((b, p), np.float32)
            self.lib.lookup(b * p, n, hf, self._tables["p_hidden"], prob, self._units)
        if "visible_field" in want:
            vf = out["visible_field"] = np.empty((b, n), np.int32)
            self._layer(hb, self._xi, p, n, b, y=vf)
        cur = vp
        for t in range(steps):
            need = lambda name: name in want  # noqa: E731
            hfield = np.empty((b, p), np.int32) if t and need(f"gibbs_hfield_{t}") else None
            hthr = np.empty((b, p), np.uint32) if need(f"gibbs_hthr_{t}") else None
            h = np.empty((b, n_words(p)), np.uint64)
            self._layer(cur, self._xi_t, n, p, b, y=hfield, act=_ACT_SAMPLE, bits=h,
                        table=self._tables["t_hidden"], thr=hthr, seeds=seeds, stream=2 * t)
            vfield = np.empty((b, n), np.int32) if need(f"gibbs_vfield_{t}") else None
            vthr = np.empty((b, n), np.uint32) if need(f"gibbs_vthr_{t}") else None
            cur = np.empty((b, n_words(n)), np.uint64)
            self._layer(h, self._xi, p, n, b, y=vfield, act=_ACT_SAMPLE, bits=cur,
                        table=self._tables["t_visible"], thr=vthr, seeds=seeds, stream=2 * t + 1)
            for name, arr in ((f"gibbs_hfield_{t}", hfield), (f"gibbs_hthr_{t}", hthr), (f"gibbs_h_{t}", h),
                              (f"gibbs_vfield_{t}", vfield), (f"gibbs_vthr_{t}", vthr), (f"gibbs_v_{t + 1}", cur)):
                if arr is not None:
                    out[name] = arr
        return out

    # ------------------------------------------------------------------------------------------------ API
    def describe(self) -> str:
        """The code path that runs and the thread count, e.g. ``avx2, 2 threads``."""
        path = self.lib.best_path() if self.path == "auto" else self.path
        return f"{path}, {self.threads} thread{'s' if self.threads > 1 else ''}"

    def labels(self, x: np.ndarray) -> np.ndarray:
        """MLP class labels (int64 (B,)) of the input batch ``x``: the lean path (one C call, nothing else kept)."""
        if self.kind == "rbm":
            raise ValueError("labels() needs an MLP or CNN model; this is an RBM")
        x = self._check_input(x, "x")
        if self.kind == "cnn":
            return self._run_cnn({"x": x}, {"label"})["label"]
        label = np.empty(x.shape[0], np.int64)
        self.lib.mlp_run(self._handle, x, x.shape[0], None, None, None, None, label, *self._exec())
        return label

    def run(self, feeds: dict[str, np.ndarray], outputs: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Graph outputs by name (all of them when ``outputs`` is None), as the reference simulator returns them."""
        want = list(self.output_names if outputs is None else outputs)
        unknown = [o for o in want if o not in self.output_names]
        if unknown:
            raise ValueError(f"unknown output(s) {unknown}; this model has {self.output_names}")
        if not isinstance(feeds, dict):
            raise TypeError(f"feeds must be a dict of input name -> array, got {type(feeds).__name__}")
        inputs = ["v", "seeds"] if self.kind == "rbm" else ["x"]
        missing = [i for i in inputs if i not in feeds and not (i == "seeds" and not self.network.gibbs_steps)]
        extra = [f for f in feeds if f not in inputs]
        if missing or extra:
            raise ValueError(f"feeds must be the graph inputs {inputs}; missing {missing}, unexpected {extra}")
        run = {"mlp": self._run_mlp, "cnn": self._run_cnn, "rbm": self._run_rbm}[self.kind]
        got = run(feeds, set(want))
        return {name: got[name] for name in want}


def _file_tables(inits: dict, net: RBMNetwork) -> dict[str, np.ndarray]:
    """The RBM tables a file holds, per-unit rows whole: a compact table (``export.compact_table``, values +
    ``_lo``/``_hi``/``_off``) is expanded, exactly, to its (R, K + 1) rows; the native kernels index whole rows
    (host memory is not the constraint here that flash is on a microcontroller)."""
    from export.compact_table import CompactTable, expand

    out = {}
    for name, k in (("p_hidden", net.n_visible), ("t_hidden", net.n_visible), ("t_visible", net.n_hidden)):
        if name not in inits:
            continue
        if f"{name}_lo" in inits:
            out[name] = expand(CompactTable(inits[name], inits[f"{name}_lo"], inits[f"{name}_hi"],
                                            inits[f"{name}_off"], k))
        else:
            out[name] = inits[name]
    return out
