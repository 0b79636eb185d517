"""Graph input/output names of exported models (docs/ops.md). The verifier compares every output by name."""
from __future__ import annotations

from export.network import CNNNetwork, MLPNetwork, RBMNetwork, pool_kind

__all__ = ["input_names", "output_names", "output_count", "mlp_output_names", "cnn_output_names", "rbm_output_names",
           "PRODUCER"]

PRODUCER = "lowprec-rbm"


def mlp_output_names(n_hidden: int, packed_input: bool = True) -> list[str]:
    """``xp`` (packed input, absent for a bit-plane first layer), ``y0, h0, ..., y{L}``, ``scores``, ``label``."""
    names = ["xp"] if packed_input else []
    for i in range(n_hidden):
        names += [f"y{i}", f"h{i}"]
    return names + [f"y{n_hidden}", "scores", "label"]


def cnn_output_names(pools, n_hidden: int, packed_input: bool = True) -> list[str]:
    """``xp`` (absent for a bit-plane first conv), per conv layer i ``y{i}, h{i}`` and ``p{i}`` when it pools the
    bits (pool True or ``"bits"``), ``y{i}, m{i}, h{i}`` when it pools the fields (``"fields"``: ``m{i}`` the
    pooled int32 fields), ``flat``, then the dense layers numbered on (``y{j}, h{j}`` for j = n_conv ...),
    ``y{L}``, ``scores``, ``label``."""
    names = ["xp"] if packed_input else []
    for i, pool in enumerate(pools):
        pool = pool_kind(pool)
        if pool == "fields":
            names += [f"y{i}", f"m{i}", f"h{i}"]
        else:
            names += [f"y{i}", f"h{i}"] + ([f"p{i}"] if pool else [])
    names.append("flat")
    n = len(pools)
    for j in range(n, n + n_hidden):
        names += [f"y{j}", f"h{j}"]
    return names + [f"y{n + n_hidden}", "scores", "label"]


def rbm_output_names(gibbs_steps: int) -> list[str]:
    """``vp, hidden_field, hidden_bits, hidden_prob, visible_field`` then per Gibbs step t:
    ``gibbs_hfield_{t}`` (t >= 1; step 0 uses ``hidden_field``), ``gibbs_hthr_{t}``, ``gibbs_h_{t}``,
    ``gibbs_vfield_{t}``, ``gibbs_vthr_{t}``, ``gibbs_v_{t+1}``."""
    names = ["vp", "hidden_field", "hidden_bits", "hidden_prob", "visible_field"]
    for t in range(gibbs_steps):
        names += ([f"gibbs_hfield_{t}"] if t else []) + [
            f"gibbs_hthr_{t}", f"gibbs_h_{t}", f"gibbs_vfield_{t}", f"gibbs_vthr_{t}", f"gibbs_v_{t + 1}"]
    return names


def output_names(network: MLPNetwork | CNNNetwork | RBMNetwork) -> list[str]:
    """Every graph output of the model built from ``network``, in graph order."""
    if isinstance(network, MLPNetwork):
        return mlp_output_names(len(network.hidden), network.input.kind != "bitplanes")
    if isinstance(network, CNNNetwork):
        return cnn_output_names([p for _, _, p in network.features], len(network.hidden),
                                network.input.kind != "bitplanes")
    if isinstance(network, RBMNetwork):
        return rbm_output_names(network.gibbs_steps)
    raise TypeError(f"expected MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")


def output_count(network: MLPNetwork | CNNNetwork | RBMNetwork) -> int:
    """``len(output_names(network))`` without building the list (an RBM has 6 outputs per Gibbs step, less one)."""
    if isinstance(network, RBMNetwork):
        return 5 + max(0, 6 * network.gibbs_steps - 1)
    return len(output_names(network))


def input_names(network: MLPNetwork | CNNNetwork | RBMNetwork) -> list[str]:
    """``["x"]`` for an MLP or a CNN (the image flattened in (row, column, channel) order); ``["v", "seeds"]``
    for an RBM with Gibbs steps (seeds: uint32 [B], one PRNG seed per row), ``["v"]`` for an RBM without
    (nothing would read the seeds)."""
    if isinstance(network, (MLPNetwork, CNNNetwork)):
        return ["x"]
    if isinstance(network, RBMNetwork):
        return ["v", "seeds"] if network.gibbs_steps else ["v"]
    raise TypeError(f"expected MLPNetwork, CNNNetwork or RBMNetwork, got {type(network).__name__}")
