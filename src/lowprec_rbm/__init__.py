"""lowprec-rbm: Bayesian training of binary (±1) and ternary networks, from posteriors to bit-exact inference.

Training side: data loading, models, posteriors held in natural parameters, learning rules, deriving
deployable weights, and the ``lowprec`` command line (the one place that wires training, ``export`` and
``targets`` together).
"""
__version__ = "0.1.0"
