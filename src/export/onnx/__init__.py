"""ONNX export: ``lowprec`` v1 custom-domain ops with standard-op function bodies (docs/ops.md).

API::

    model = build_model(network, mode="custom")     # or "standard": no custom domain, bodies inlined
    save_model(model, "model.onnx")                  # atomic write
    model = load_artifact("model.onnx")              # validated (digest, consistency, limits); ArtifactError otherwise
    with load_policy(check_digest=False): ...        # defaults of load_artifact's keywords for a block
    net = network_from_onnx(model)                   # MLPNetwork / RBMNetwork back out of the file
    input_names(net), output_names(net)              # graph I/O names (every intermediate is an output)

Inputs: MLP ``x`` [B, K] (int8 ±1, uint8 or float32 per ``InputSpec``); RBM ``v`` [B, N] and, when it runs
Gibbs steps, ``seeds`` uint32 [B]. Outputs (MLP): ``xp`` uint64, ``y{i}`` int32, ``h{i}`` uint64, ``scores`` int32, ``label`` int64.
Outputs (RBM): see :func:`export.onnx.names.rbm_output_names`. Initializers: ``w{i}`` (or ``w{i}_sign``,
``w{i}_mask``) packed uint64, ``s{i}`` int8, ``t{i}`` int32, ``out_scale``/``out_offset`` int32; RBM ``xi``,
``xi_T``, ``map_s``, ``map_t``, ``p_hidden``, ``t_hidden``, ``t_visible`` (a per-unit table of a side with
fields: its span values, with ``<name>_lo``/``_hi``/``_off`` int32, ``export.compact_table``).
"""
from __future__ import annotations

from export.digest import DIGEST_KEY, HMAC_KEY, model_digest, seal
from export.errors import (ArtifactError, ArtifactInconsistentError, ArtifactIntegrityError, ArtifactIntegrityWarning,
                           ArtifactLimitError, SignatureError)

from .build import IR_VERSION, MODES, build_model
from .load import (DEFAULT_MAX_GIBBS_STEPS, LoadPolicy, current_policy, initializers, load_artifact, load_policy,
                   metadata, network_from_onnx, save_model, validate)
from .names import input_names, mlp_output_names, output_names, rbm_output_names
from .ops import DOMAIN, DOMAIN_VERSION, OPS, OPSET

__all__ = [
    "build_model", "save_model", "load_artifact", "validate", "network_from_onnx", "initializers", "metadata",
    "input_names", "output_names", "mlp_output_names", "rbm_output_names", "ArtifactError", "model_digest", "seal",
    "MODES", "IR_VERSION", "OPSET", "DOMAIN", "DOMAIN_VERSION", "DIGEST_KEY", "HMAC_KEY", "OPS",
    "ArtifactIntegrityError", "SignatureError", "ArtifactInconsistentError", "ArtifactLimitError",
    "ArtifactIntegrityWarning", "LoadPolicy", "load_policy", "current_policy", "DEFAULT_MAX_GIBBS_STEPS",
]
