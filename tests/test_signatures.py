"""Signatures are visible: the factories are functions, not callable modules.

``help(jt.front)``, ``inspect.signature`` and tooltips (Colab, IDEs) read a
function's own signature; a module made callable showed ``(*args, **kwargs)``
and the module's docstring instead.
"""

import inspect
import pydoc
import types

import pytest

import jaxtick as jt

FACTORIES = {
    "front": (jt.front, ["agent", "problems", "keys", "prices", "max_ticks"]),
    "agents.coin": (jt.agents.coin, ["cost"]),
    "agents.exit_heads": (jt.agents.exit_heads, ["source", "signal", "fuse", "costs"]),
    "agents.mcts": (jt.agents.mcts, ["env", "num_simulations"]),
    "agents.sampler": (jt.agents.sampler, ["pool"]),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory_is_a_function_with_its_signature(name):
  fn, params = FACTORIES[name]
  assert isinstance(fn, types.FunctionType), f"jt.{name} is {type(fn)}"
  sig = inspect.signature(fn)
  assert set(params) <= set(sig.parameters), sig
  assert "args" not in sig.parameters and "kwargs" not in sig.parameters
  text = pydoc.render_doc(fn, renderer=pydoc.plaintext)
  assert params[0] in text.split("\n", 3)[2], text[:300]   # the signature line
  assert fn.__doc__ and fn.__doc__.strip().split("\n")[0] in text


def test_modules_keep_names_that_do_not_collide():
  assert isinstance(jt.fronts, types.ModuleType)
  assert jt.fronts.front is jt.front
  import jaxtick.fronts  # noqa: F401 -- importing the module must not replace jt.front
  assert jt.front is jt.fronts.front
  import jaxtick.agents._coin  # noqa: F401
  assert isinstance(jt.agents.coin, types.FunctionType)
  assert jt.agents.CoinState is jaxtick.agents._coin.CoinState
