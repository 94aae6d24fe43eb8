"""Allocation of test-time compute across a pool of queries."""

from jaxtick.alloc import bandit
from jaxtick.alloc.bandit import COSTS, RULES, BanditResult, allocate

__all__ = ["BanditResult", "COSTS", "RULES", "allocate", "bandit"]
