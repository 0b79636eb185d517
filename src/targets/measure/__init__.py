"""Measurements of an exported network: operation counts, memory, energy proxies, sparsity and activity.

Pure functions of the neutral network description (``export.network``) and of traces produced by the
reference simulator; the energy table lives in ``energy_45nm.toml`` beside this file.
"""
from targets.measure.costs import LayerCost, layer_costs, op_counts, memory_report
from targets.measure.energy import EnergyTable, load_energy_table, datapath_energy

__all__ = ["LayerCost", "layer_costs", "op_counts", "memory_report", "EnergyTable", "load_energy_table",
           "datapath_energy"]
