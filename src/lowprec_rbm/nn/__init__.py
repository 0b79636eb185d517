"""Feed-forward networks with ±1, ternary or real weights, trained in NumPy (float32, hand-written backward).

Modules: :mod:`~lowprec_rbm.nn.layers` (dense, batch norm, ReLU, sign-STE, dropout, softmax cross-entropy),
:mod:`~lowprec_rbm.nn.network` (architecture spec, input modes, forward/backward of the stack, BN statistics),
:mod:`~lowprec_rbm.nn.pfp` (probabilistic forward pass for ternary VI), :mod:`~lowprec_rbm.nn.metrics`
(accuracy, NLL, ECE), :mod:`~lowprec_rbm.nn.mlp` (:class:`MLPClassifier`), :mod:`~lowprec_rbm.nn.deploy`
(integer weights of a posterior file).

Posterior file (kind ``"mlp"``; :mod:`lowprec_rbm.posterior_file`), weights of shape (out_features, in_features):

- ``layer{i}.lam`` float32 (out, in): BayesBiNN natural parameters λ (mean tanh λ);
- ``layer{i}.logits`` float32 (out, in, 3): ternary VI logits over the values (−1, 0, +1);
- ``layer{i}.weight`` float32 (out, in): STE latent weights (rule ``ste``) or real weights (rule ``adam``);
- ``layer{i}.lam0`` float32 (out, in): the prior's natural parameters, only when it was not uniform;
- ``bn{i}.mean``, ``bn{i}.var`` float64 (out,): BN statistics of the deployable network;
- ``bn{i}.running_mean``, ``bn{i}.running_var`` float64 (out,): running averages from training;
- ``logit_scale`` float64 (1,): the positive output scale γ (logits = γ · BN(a_L); argmax unaffected).

Config keys (``meta["config"]``): ``sizes``, ``hidden``, ``n_classes``, ``classes`` (the label of each output
unit, sorted: ints >= 0 or strings; absent in older files, meaning ``range(n_classes)``), ``activation``,
``input``, ``threshold``, ``bn_eps``, ``bn_momentum``, ``dropout``, ``input_dropout``, ``ste_window``, ``rule``,
``rule_params`` (lr included), ``lr_schedule``, ``epochs``, ``batch_size``, ``bn_eval``, ``bn_calib``,
``bn_stats``, ``test_samples``, ``mean_predictor``, ``logit_scale``, ``logit_scale_value``, ``seed`` (the seed
the fit used), ``n_train``, ``n_features_in``, ``weights``, ``deployable``, ``params`` (every hyper-parameter by
its ``__init__`` name, what ``load`` restores; older files without it are migrated from the flat keys), plus
``data`` from the caller (the CLI records the dataset description and the validation split).

:func:`deployable_mlp` (path or ``(arrays, meta)``) returns a :class:`DeployableMLP`: int8 weights per layer
(MAP ``sign(λ)`` with λ >= 0 -> +1, ``sign`` of STE latent weights, ternary argmax of the logits), the BN
statistics, ``bn_eps``, activation, input mode and threshold; ``DeployableMLP.forward`` is a float64 reference.
``meta["history"]``: one dict per epoch (loss, train/val accuracy, val NLL/ECE, |λ| quantiles, entropy, ...,
seconds).
"""
from lowprec_rbm.nn.deploy import DeployableMLP, deployable_mlp
from lowprec_rbm.nn.metrics import accuracy, ece, nll
from lowprec_rbm.nn.classifier import Classifier
from lowprec_rbm.nn.cnn import CNNClassifier
from lowprec_rbm.nn.mlp import MLPClassifier, PARAM_NAMES, RULE_DEFAULTS, RULES
from lowprec_rbm.nn.network import Architecture, BNStats, parse_hidden, population_stats, prepare_inputs

__all__ = [
    "Classifier", "MLPClassifier", "CNNClassifier", "RULES", "RULE_DEFAULTS", "PARAM_NAMES", "Architecture", "BNStats", "parse_hidden",
    "prepare_inputs", "population_stats", "DeployableMLP", "deployable_mlp", "accuracy", "nll", "ece",
]
