"""What ``lowprec report`` shows that comes from training: posterior certainty and training curves."""
from lowprec_rbm.report.posterior_stats import certainty_profile

__all__ = ["certainty_profile"]
