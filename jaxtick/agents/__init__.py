"""Tick agents: one module per compute consumer.

``coin``, ``exit_heads``, ``mcts`` and ``sampler`` are callable modules: ``coin()`` builds
the agent and ``coin.CoinState`` reaches the module (no factory shadows its
module).
"""

from jaxtick.agents import coin, exit_heads, mcts, sampler
from jaxtick.agents.coin import CoinState
from jaxtick.agents.exit_heads import (ExitState, HeadSignals, HeadSource,
                                        Sweep, exit_heads_used,
                                        head_signals, logit_table, mlp_source,
                                        signal_max, exit_heads_sweep, threshold_sweep,
                                        uncertainty_signal)
from jaxtick.agents.sequential import (GapTestState, SPRTState, gap_test,
                                        sprt, wald_asn, wald_error_bounds,
                                        wald_oc, wald_thresholds)
from jaxtick.agents.mcts import Environment, MctsState
from jaxtick.agents.sampler import SamplerState, output_correct

__all__ = ["CoinState", "coin"]
__all__ += ["ExitState", "HeadSignals", "HeadSource", "Sweep", "exit_heads",
            "exit_heads_used", "head_signals", "logit_table", "mlp_source",
            "signal_max", "exit_heads_sweep", "threshold_sweep", "uncertainty_signal"]
__all__ += ["Environment", "MctsState", "mcts"]
__all__ += ["GapTestState", "SPRTState", "gap_test", "sprt", "wald_asn",
            "wald_error_bounds", "wald_oc", "wald_thresholds"]
__all__ += ["SamplerState", "output_correct", "sampler"]
