"""Small trainable models whose inference is a sequence of ticks."""

from jaxtick.models.multi_exit import (MultiExitParams, TrainResult, block,
                                       forward, init_params, loss, train)

__all__ = ["MultiExitParams", "TrainResult", "block", "forward", "init_params",
           "loss", "train"]
