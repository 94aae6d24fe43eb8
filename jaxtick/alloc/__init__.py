"""Allocation of test-time compute across a pool of queries (the LLM seeds)."""

from jaxtick.alloc import bandit, lagrangian, probe, strategies, utility
from jaxtick.models import mlp  # moved to models (the one fit loop); jt.alloc.mlp kept
from jaxtick.alloc import router
from jaxtick.alloc.router import RouterTune, soft_costs, soft_route, tune_router
from jaxtick.alloc.bandit import COSTS, RULES, BanditResult, allocate
from jaxtick.alloc.strategies import (CostModel, Strategies, StrategyTable, evaluate,
                                      make_strategies, query_features, replay_table,
                                      strategy_features)
from jaxtick.alloc.utility import RouteGrid, route, route_grid, static_baselines

__all__ = ["BanditResult", "COSTS", "RULES", "allocate", "bandit", "lagrangian", "mlp",
           "probe", "strategies", "utility"]
__all__ += ["CostModel", "RouteGrid", "Strategies", "StrategyTable", "evaluate",
            "make_strategies", "query_features", "replay_table", "route", "route_grid",
            "static_baselines", "strategy_features"]
__all__ += ["RouterTune", "router", "soft_costs", "soft_route", "tune_router"]
