"""Graph input/output names of exported models (docs/ops.md). The verifier compares every output by name."""
from __future__ import annotations

from export.network import MLPNetwork, RBMNetwork

__all__ = ["input_names", "output_names", "output_count", "mlp_output_names", "rbm_output_names", "PRODUCER"]

PRODUCER = "lowprec-rbm"


def mlp_output_names(n_hidden: int, packed_input: bool = True) -> list[str]:
    """``xp`` (packed input, absent for a bit-plane first layer), ``y0, h0, ..., y{L}``, ``scores``, ``label``."""
    names = ["xp"] if packed_input else []
    for i in range(n_hidden):
        names += [f"y{i}", f"h{i}"]
    return names + [f"y{n_hidden}", "scores", "label"]


def rbm_output_names(gibbs_steps: int) -> list[str]:
    """``vp, hidden_field, hidden_bits, hidden_prob, visible_field`` then per Gibbs step t:
    ``gibbs_hfield_{t}`` (t >= 1; step 0 uses ``hidden_field``), ``gibbs_hthr_{t}``, ``gibbs_h_{t}``,
    ``gibbs_vfield_{t}``, ``gibbs_vthr_{t}``, ``gibbs_v_{t+1}``."""
    names = ["vp", "hidden_field", "hidden_bits", "hidden_prob", "visible_field"]
    for t in range(gibbs_steps):
        names += ([f"gibbs_hfield_{t}"] if t else []) + [
            f"gibbs_hthr_{t}", f"gibbs_h_{t}", f"gibbs_vfield_{t}", f"gibbs_vthr_{t}", f"gibbs_v_{t + 1}"]
    return names


def output_names(network: MLPNetwork | RBMNetwork) -> list[str]:
    """Every graph output of the model built from ``network``, in graph order."""
    if isinstance(network, MLPNetwork):
        return mlp_output_names(len(network.hidden), network.input.kind != "bitplanes")
    if isinstance(network, RBMNetwork):
        return rbm_output_names(network.gibbs_steps)
    raise TypeError(f"expected MLPNetwork or RBMNetwork, got {type(network).__name__}")


def output_count(network: MLPNetwork | RBMNetwork) -> int:
    """``len(output_names(network))`` without building the list (an RBM has 6 outputs per Gibbs step, less one)."""
    if isinstance(network, RBMNetwork):
        return 5 + max(0, 6 * network.gibbs_steps - 1)
    return len(output_names(network))


def input_names(network: MLPNetwork | RBMNetwork) -> list[str]:
    """``["x"]`` for an MLP; ``["v", "seeds"]`` for an RBM with Gibbs steps (seeds: uint32 [B], one PRNG seed
    per row), ``["v"]`` for an RBM without (nothing would read the seeds)."""
    if isinstance(network, MLPNetwork):
        return ["x"]
    if isinstance(network, RBMNetwork):
        return ["v", "seeds"] if network.gibbs_steps else ["v"]
    raise TypeError(f"expected MLPNetwork or RBMNetwork, got {type(network).__name__}")
