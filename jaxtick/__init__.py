"""jaxtick: test-time compute allocation in JAX.

One Tick API (:class:`Agent`) for every compute consumer, one set of
schedulers (price rule, budget rule, price search) for all of them.
"""

from jaxtick import agents, alloc, models, problems, rng, signals, soft, stats
from jaxtick import fronts  # the module; jt.front is its function
from jaxtick._newton import NewtonState, newton
from jaxtick.api import Agent
from jaxtick.calibrate import (Identity, Isotonic, Platt, fit_isotonic,
                               fit_platt)
from jaxtick import plot, shard, values  # plot imports matplotlib only when it draws
from jaxtick.shard import episode_mesh, front_sharded, run_price_sharded
from jaxtick.fronts import (Area, Front, Matched, PricePoint, accuracy_at_cost, area, front,
                           matched_price, mcnemar_at_cost, pareto_indices,
                           pareto_mask)
from jaxtick.rounds import RoundsResult, Selection, price_selection, run_rounds
from jaxtick.schedule import (BudgetResult, PriceResult, PriceSearchResult,
                              SubgradientTrace, bisect_price, init_key,
                              price_from_z, price_cost,
                              run_budget, run_price, run_price_batch,
                              subgradient_price, tick_key)

__version__ = "0.1.0"

__all__ = [
    "Agent", "Area", "BudgetResult", "Front", "Matched", "PricePoint", "accuracy_at_cost", "alloc",
    "area", "front", "fronts", "matched_price", "mcnemar_at_cost", "pareto_indices",
    "pareto_mask", "plot", "episode_mesh", "front_sharded", "run_price_sharded", "shard", "Identity", "Isotonic", "Platt", "PriceResult",
    "PriceSearchResult", "RoundsResult", "Selection", "SubgradientTrace", "agents",
    "bisect_price", "price_selection", "run_rounds",
    "fit_isotonic", "fit_platt", "init_key", "models", "NewtonState", "newton", "price_from_z", "price_cost", "problems", "rng", "run_budget",
    "run_price", "run_price_batch", "signals", "soft", "stats", "subgradient_price",
    "tick_key", "values",
]
