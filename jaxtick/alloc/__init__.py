"""Allocation of test-time compute across a pool of queries (the LLM seeds)."""

from jaxtick.alloc import lagrangian, mlp, probe, strategies, utility
