"""Tick agents: one module per compute consumer.

The factories ``coin``, ``exit_heads``, ``mcts``, ``sampler`` and ``levels`` and their state
types are re-exported here from private modules (``jaxtick/agents/_coin.py``, ...), as
optax and mctx do, so that no factory shares its name with a module:
``jt.agents.coin`` is the function, with its own signature. ``sequential`` (``gap_test``,
``sprt``) collides with nothing and keeps its public name.
"""

from jaxtick.agents._coin import CoinState, coin
from jaxtick.agents._exit_heads import (ExitState, HeadSignals, HeadSource,
                                         Sweep, exit_heads, exit_heads_used,
                                         head_signals, logit_table, mlp_source,
                                         signal_max, exit_heads_sweep, threshold_sweep,
                                         uncertainty_signal)
from jaxtick.agents.sequential import (GapTestState, SPRTState, gap_test,
                                        sprt, wald_asn, wald_error_bounds,
                                        wald_oc, wald_thresholds)
from jaxtick.agents._mcts import Environment, MctsState, mcts, root_visits
from jaxtick.agents._sampler import (SamplerState, answer_entropy, majority_vote,
                                      output_correct, sampler)
from jaxtick.agents._levels import LevelState, first_max, levels, price_choice

__all__ = ["CoinState", "coin"]
__all__ += ["ExitState", "HeadSignals", "HeadSource", "Sweep", "exit_heads",
            "exit_heads_used", "head_signals", "logit_table", "mlp_source",
            "signal_max", "exit_heads_sweep", "threshold_sweep", "uncertainty_signal"]
__all__ += ["Environment", "MctsState", "mcts", "root_visits"]
__all__ += ["GapTestState", "SPRTState", "gap_test", "sprt", "wald_asn",
            "wald_error_bounds", "wald_oc", "wald_thresholds"]
__all__ += ["SamplerState", "answer_entropy", "majority_vote", "output_correct", "sampler"]
__all__ += ["LevelState", "first_max", "levels", "price_choice"]
