"""An inference session shaped like onnxruntime's: ``Session(model, target=...).run(inputs)``.

    s = targets.Session("model.onnx", target="native")
    labels = s.run(images)                       # uint8 images (B, 28, 28) or (B, 784); ±1 int8 for pm1 models
    scores = s.run(images, "scores")             # one named graph output
    every = s.run(images, "all")                 # every intermediate: packed input, fields, hidden bits, ...
    h = rbm.hidden(v); v_t = rbm.gibbs(v, seeds) # RBM: MAP hidden units, the state after the Gibbs steps

Inputs are checked against the model (dtype, size); images of any trailing shape are flattened. On the
``native`` target only the outputs asked for are computed (the label alone needs no int32 field of any
hidden layer); every other target runs the whole graph and the requested outputs are picked from it.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from targets.base import TargetUnavailable

__all__ = ["Session"]


class Session:
    """An exported MLP, CNN or RBM bound to a target.

    Parameters
    ----------
    model : path-like
        An exported ``.onnx`` file (checked on load: digest, bit layout, consistency).
    target : str, default "native"
        A registered target name (``native``, ``reference``, ``onnxruntime``, ...; :func:`targets.target_names`).
    threads : int, optional
        Worker threads for the ``native`` target (default: the cores available).
    path : str, default "auto"
        The ``native`` code path (``auto``, ``portable``, ``popcnt``, ``avx2``, ``avx512``).

    Raises
    ------
    TargetUnavailable
        The target cannot run here (e.g. the native extension was not built); the message says why.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from export import Dense, InputSpec, MLPNetwork, OutputAffine, Threshold, build_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> w0 = rng.choice(np.array([-1, 1], np.int8), size=(8, 16))
    >>> w1 = rng.choice(np.array([-1, 1], np.int8), size=(3, 8))
    >>> net = MLPNetwork(InputSpec("threshold", 16), hidden=[(Dense(w0), Threshold(np.ones(8, int), np.zeros(8, int)))],
    ...                  output=(Dense(w1), OutputAffine.identity(3)))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = save_model(build_model(net), os.path.join(tmp.name, "model.onnx"))
    >>> from targets import Session
    >>> x = rng.integers(0, 256, size=(5, 16), dtype=np.uint8)      # 5 rows of 16 uint8 pixels
    >>> labels = Session(path, "reference").run(x)                  # int64 class indices, shape (5,)
    >>> labels.shape, labels.dtype
    ((5,), dtype('int64'))
    >>> bool(np.array_equal(labels, Session(path, "onnxruntime").run(x)))
    True
    >>> Session(path, "reference").run(x, "y0").shape                 # int32 fields of layer 0, (B, 8)
    (5, 8)
    >>> tmp.cleanup()
    """

    def __init__(self, model: str | os.PathLike, target: str = "native", *, threads: int | None = None,
                 path: str = "auto") -> None:
        import targets.registry  # noqa: F401  (registers the built-in targets)
        from export.network import CNNNetwork, MLPNetwork
        from export.onnx import load_artifact, network_from_onnx
        from export.onnx.names import output_names
        from targets.base import get_target

        if not isinstance(model, (str, os.PathLike)):
            raise TypeError(f"model must be the path of an exported .onnx file, got {type(model).__name__}")
        self.model_path = os.fspath(model)
        self.target = get_target(target)
        why = self.target.availability()
        if why:
            raise TargetUnavailable(f"target {target!r} cannot run here: {why}")
        self.network = network_from_onnx(load_artifact(self.model_path), self.model_path)
        self.kind = ("mlp" if isinstance(self.network, MLPNetwork) else
                     "cnn" if isinstance(self.network, CNNNetwork) else "rbm")
        self.output_names: list[str] = output_names(self.network)
        self.input_names = ["v", "seeds"] if self.kind == "rbm" else ["x"]
        self._native = None
        if target == "native":
            from targets.native.runtime import NativeModel

            self._native = NativeModel(self.model_path, path=path, threads=threads)
        elif threads is not None or path != "auto":
            raise ValueError("threads and path apply to the 'native' target only")

    def describe(self) -> str:
        """The target, and for ``native`` its code path and thread count (e.g. ``native, avx2, 2 threads``)."""
        return self.target.name + (f", {self._native.describe()}" if self._native is not None else "")

    # -------------------------------------------------------------------------------------------- inputs
    def prepare(self, x) -> np.ndarray:
        """Raw input -> the model's (batch, K) operand: images flattened, dtype checked (±1 ints cast to int8)."""
        spec = self.network.input
        x = np.asarray(x)
        if x.size == spec.size and not (x.ndim == 2 and x.shape[1] == spec.size):
            x = x.reshape(1, -1)  # one image, flat or (H, W)
        elif x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        if x.ndim != 2 or x.shape[1] != spec.size:
            raise ValueError(f"input must hold {spec.size} values per row (e.g. shape (batch, {spec.size})), "
                             f"got shape {np.shape(x)}")
        want = np.dtype(spec.dtype)
        if x.dtype == want:
            return np.ascontiguousarray(x)
        if spec.kind == "pm1" and x.dtype.kind in "iu" and np.all((x == 1) | (x == -1)):
            return x.astype(np.int8)
        if want == np.float32 and x.dtype.kind == "f":
            return x.astype(np.float32)
        raise TypeError(f"this model takes {spec.dtype} input ({spec.kind}), got {x.dtype}")

    def _feeds(self, x, seeds, names: list[str]) -> dict[str, np.ndarray]:
        if self.kind != "rbm":
            if seeds is not None:
                raise ValueError("seeds apply to RBM models only")
            return {"x": self.prepare(x)}
        v = self.prepare(x)
        if not self.network.gibbs_steps:   # a MAP-only graph (exported with 0 Gibbs steps) takes no seeds
            return {"v": v}
        if seeds is None:
            if any(n.startswith("gibbs_") for n in names):
                raise ValueError("this RBM draws Gibbs samples: pass seeds (uint32, one per row)")
            seeds = np.zeros(v.shape[0], np.uint32)  # no requested output depends on the PRNG
        seeds = np.asarray(seeds)
        if seeds.dtype != np.uint32 or seeds.shape != (v.shape[0],):
            raise TypeError(f"seeds must be uint32 of shape ({v.shape[0]},), got {seeds.dtype} {seeds.shape}")
        return {"v": v, "seeds": seeds}

    # -------------------------------------------------------------------------------------------- running
    def run(self, x, outputs: str | Sequence[str] | None = None, *, seeds=None):
        """Run on a batch.

        outputs : None -> the class labels (MLP or CNN, int64 (B,)) or the MAP hidden bits (RBM, packed uint64);
                  a name -> that graph output; a list of names -> {name: array}; ``"all"`` -> every output.
        seeds : RBM only, uint32 (B,): the per-row PRNG seeds of the Gibbs draws.
        """
        if outputs is None and self._native is not None and self.kind != "rbm" and seeds is None:
            return self._native.labels(self.prepare(x))  # the common case, without building any dict
        default = "hidden_bits" if self.kind == "rbm" else "label"
        if outputs is None:
            names, single = [default], True
        elif isinstance(outputs, str):
            names, single = (list(self.output_names), False) if outputs == "all" else ([outputs], True)
        else:
            names, single = list(outputs), False
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise ValueError(f"unknown output(s) {unknown}; this model has {self.output_names}")
        feeds = self._feeds(x, seeds, names)
        if self._native is not None:
            got = self._native.run(feeds, names)
        else:
            every = self.target.run(self.model_path, feeds)
            absent = [n for n in names if n not in every]
            if absent:   # a device that holds only the deployed predict() build returns PartialOutputs
                raise ValueError(f"target {self.target.name!r} cannot give output(s) {absent} of this model: "
                                 f"{getattr(every, 'note', 'it returned no such output')}; it gives {sorted(every)}")
            got = {n: every[n] for n in names}
        return got[names[0]] if single else got

    def hidden(self, v) -> np.ndarray:
        """RBM: the MAP hidden units, int8 ±1 of shape (B, P) (h = sign of the hidden field, sign(0) = +1)."""
        from export.layout import unpack_pm1

        self._need_rbm("hidden")
        return unpack_pm1(self.run(v, "hidden_bits"), self.network.n_hidden)

    def gibbs(self, v, seeds) -> np.ndarray:
        """RBM: the visible state after the model's Gibbs steps, int8 ±1 (B, N)."""
        from export.layout import unpack_pm1

        self._need_rbm("gibbs")
        steps = self.network.gibbs_steps
        if steps == 0:
            raise ValueError("this RBM was exported with 0 Gibbs steps (export it with gibbs_steps >= 1)")
        return unpack_pm1(self.run(v, f"gibbs_v_{steps}", seeds=seeds), self.network.n_visible)

    def _need_rbm(self, what: str) -> None:
        if self.kind != "rbm":
            raise ValueError(f"{what}() needs an RBM model; {self.model_path} is an {self.kind.upper()}")
