"""Tick agents: one module per compute consumer."""

from jaxtick.agents.coin import CoinState, coin
from jaxtick.agents.exit_heads import (ExitState, HeadSignals, HeadSource,
                                        Sweep, exit_heads, exit_heads_used,
                                        head_signals, logit_table, mlp_source,
                                        signal_max, sweep, threshold_sweep,
                                        uncertainty_signal)
from jaxtick.agents.sequential import (GapTestState, SPRTState, gap_test,
                                        sprt, wald_asn, wald_error_bounds,
                                        wald_oc, wald_thresholds)
from jaxtick.agents.mcts import Environment, MctsState, mcts
from jaxtick.agents.sampler import SamplerState, output_correct, sampler

__all__ = ["CoinState", "coin"]
__all__ += ["ExitState", "HeadSignals", "HeadSource", "Sweep", "exit_heads",
            "exit_heads_used", "head_signals", "logit_table", "mlp_source",
            "signal_max", "sweep", "threshold_sweep", "uncertainty_signal"]
__all__ += ["Environment", "MctsState", "mcts"]
__all__ += ["GapTestState", "SPRTState", "gap_test", "sprt", "wald_asn",
            "wald_error_bounds", "wald_oc", "wald_thresholds"]
__all__ += ["SamplerState", "output_correct", "sampler"]
