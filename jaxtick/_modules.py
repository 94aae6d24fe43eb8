"""Callable modules: a module that is also its own main function.

``jt.agents.coin`` is the module :mod:`jaxtick.agents.coin` *and* calling it
builds the agent, so the factory never shadows its module:
``jt.agents.coin()`` and ``jt.agents.coin.CoinState`` both work, and so does
``import jaxtick.agents.coin``. Likewise ``jt.front(...)`` and
``jt.front.pareto_mask``.
"""

from __future__ import annotations

import sys
import types


def make_callable(module_name: str, fn_name: str) -> None:
  """Makes module ``module_name`` callable as its function ``fn_name``."""
  module = sys.modules[module_name]

  class CallableModule(types.ModuleType):
    __doc__ = module.__doc__

    def __call__(self, *args, **kwargs):
      return getattr(self, fn_name)(*args, **kwargs)

  CallableModule.__call__.__doc__ = getattr(module, fn_name).__doc__
  module.__class__ = CallableModule
