"""Tick agents: one module per compute consumer."""

from jaxtick.agents.coin import CoinState, coin

__all__ = ["CoinState", "coin"]
