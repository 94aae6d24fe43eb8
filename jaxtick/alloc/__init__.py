"""Allocation of test-time compute across a pool of queries (the LLM seeds)."""

from jaxtick.alloc import bandit, lagrangian, mlp, probe, strategies, utility
from jaxtick.alloc.bandit import COSTS, RULES, BanditResult, allocate

__all__ = ["BanditResult", "COSTS", "RULES", "allocate", "bandit", "lagrangian", "mlp",
           "probe", "strategies", "utility"]
