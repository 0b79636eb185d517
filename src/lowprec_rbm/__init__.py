"""lowprec-rbm: Bayesian training of binary (±1) and ternary networks, from posteriors to bit-exact inference.

Training side: data loading, models, posteriors held in natural parameters, learning rules, deriving
deployable weights, and the ``lowprec`` command line (the one place that wires training, ``export`` and
``targets`` together).

The public API is what ``__all__`` lists (everything else is private by convention):

- estimators: :class:`MLPClassifier`, :class:`CNNClassifier` (binary/ternary classifiers) and :class:`BinaryRBM`;
- data: :func:`load_dataset` (returns a :class:`Dataset`);
- the posterior file: :func:`save_posterior`, :func:`load_posterior` (errors: :class:`PosteriorFileError`).

The names are imported on first use (module ``__getattr__``): ``import lowprec_rbm`` loads nothing but this
file, so ``lowprec --help`` and scripts that only want ``__version__`` do not pay for numpy and the models.

Examples
--------
>>> import lowprec_rbm
>>> sorted(lowprec_rbm.__all__)[:3]
['BinaryRBM', 'CNNClassifier', 'Dataset']
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access)
_PUBLIC = {
    "MLPClassifier": "lowprec_rbm.nn.mlp",
    "CNNClassifier": "lowprec_rbm.nn.cnn",
    "BinaryRBM": "lowprec_rbm.rbm.model",
    "load_dataset": "lowprec_rbm.data.datasets",
    "Dataset": "lowprec_rbm.data.datasets",
    "load_posterior": "lowprec_rbm.posterior_file",
    "save_posterior": "lowprec_rbm.posterior_file",
    "PosteriorFileError": "lowprec_rbm.posterior_file",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'lowprec_rbm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value     # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
