"""Instance generators and loaders."""

from jaxtick.problems.coins import coin_problems

__all__ = ["coin_problems"]
