"""jaxtick: test-time compute allocation in JAX.

One Tick API (:class:`Agent`) for every compute consumer, one set of
schedulers (price rule, budget rule, price search) for all of them.
"""

from jaxtick import agents, alloc, models, problems, rng, signals, soft, stats
from jaxtick.api import Agent
from jaxtick.calibrate import (Identity, Isotonic, Platt, fit_isotonic,
                               fit_platt)
from jaxtick.sweep import episode_mesh, run_price_sharded
from jaxtick.schedule import (BudgetResult, PriceResult, PriceSearchResult,
                              SubgradientTrace, bisect_price, init_key,
                              price_from_z,
                              run_budget, run_price, run_price_batch,
                              subgradient_price, tick_key)

__version__ = "0.1.0"

__all__ = [
    "Agent", "BudgetResult", "alloc", "episode_mesh", "run_price_sharded", "Identity", "Isotonic", "Platt", "PriceResult",
    "PriceSearchResult", "SubgradientTrace", "agents", "bisect_price",
    "fit_isotonic", "fit_platt", "init_key", "models", "price_from_z", "problems", "rng", "run_budget",
    "run_price", "run_price_batch", "signals", "soft", "stats", "subgradient_price",
    "tick_key",
]
