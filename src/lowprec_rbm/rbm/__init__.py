"""Binary-synapse RBM: the estimator, its E-step (CLT data term, BP log-partition), exact enumeration for
tiny models, the planted-teacher experiment; plots are in lowprec_rbm.report.plots."""
from lowprec_rbm.rbm.model import BinaryRBM, check_patterns

__all__ = ["BinaryRBM", "check_patterns"]
