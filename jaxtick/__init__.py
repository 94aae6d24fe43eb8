"""jaxtick: test-time compute allocation in JAX.

One Tick API (:class:`Agent`) for every compute consumer, one set of
schedulers (price rule, budget rule, price search) for all of them.
"""

from jaxtick import agents, alloc, models, newton, problems, rng, signals, soft, stats
from jaxtick import front  # a callable module: jt.front(...) is front.front(...)
from jaxtick.api import Agent
from jaxtick.calibrate import (Identity, Isotonic, Platt, fit_isotonic,
                               fit_platt)
from jaxtick import shard, values
from jaxtick.shard import episode_mesh, front_sharded, run_price_sharded
from jaxtick.front import (Front, Matched, PricePoint, accuracy_at_cost, area,
                           matched_price, mcnemar_at_cost, pareto_indices,
                           pareto_mask)
from jaxtick.schedule import (BudgetResult, PriceResult, PriceSearchResult,
                              SubgradientTrace, bisect_price, init_key,
                              price_from_z, price_cost,
                              run_budget, run_price, run_price_batch,
                              subgradient_price, tick_key)

__version__ = "0.1.0"

__all__ = [
    "Agent", "BudgetResult", "Front", "Matched", "PricePoint", "accuracy_at_cost", "alloc",
    "area", "front", "matched_price", "mcnemar_at_cost", "pareto_indices",
    "pareto_mask", "episode_mesh", "front_sharded", "run_price_sharded", "shard", "Identity", "Isotonic", "Platt", "PriceResult",
    "PriceSearchResult", "SubgradientTrace", "agents", "bisect_price",
    "fit_isotonic", "fit_platt", "init_key", "models", "newton", "price_from_z", "price_cost", "problems", "rng", "run_budget",
    "run_price", "run_price_batch", "signals", "soft", "stats", "subgradient_price",
    "tick_key", "values",
]
