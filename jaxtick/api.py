"""The Tick API: one interface for every consumer of test-time compute.

An :class:`Agent` is to test-time compute what optax's ``GradientTransformation``
is to optimisation: a ``NamedTuple`` of pure functions over a state pytree. It
holds no data itself; the state it threads through holds everything.

Example (a coin that is flipped until its bias is clear)::

    agent = jaxtick.agents.coin()
    state = agent.init(problem, key)           # problem: a pytree for one episode
    state = agent.tick(state, tick_key)        # spend one unit of compute
    agent.uncertainty(state)                   # scalar, falls as confidence grows
    agent.output(state)                        # the current prediction
    agent.cost(state)                          # cost of the *next* tick

Agents never loop or branch in Python on traced values; batching over episodes
is the caller's ``jax.vmap`` and the schedulers in :mod:`jaxtick.schedule` drive
the ticks.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

Array = jax.Array
PRNGKey = jax.Array
Problem = Any  # one episode's instance: any pytree
State = Any  # an agent's state: any pytree
CalibMap = Callable[[Array], Array]  # uncertainty -> expected marginal gain


class Agent(NamedTuple):
  """A compute consumer, as pure functions over a state pytree.

  Attributes:
    init: ``init(problem, key) -> state``. Builds the state before any tick.
      ``problem`` is one episode's instance (a pytree of arrays, no batch axis).
    tick: ``tick(state, key) -> state``. Spends one unit of compute: one head,
      one observation, one simulation, one sample. Must keep every leaf's shape
      and dtype, so that it can run inside ``lax.while_loop``.
    uncertainty: ``uncertainty(state) -> f[]``. A scalar that falls as the agent
      grows confident (entropy, SE/|gap|, ...). The schedulers map it through a
      calibration map to an expected marginal gain.
    output: ``output(state) -> Array``. The current prediction (a class, an
      action, a decision); fixed shape.
    cost: ``cost(state) -> f[]``. The cost of the next tick (often a constant).
  """

  init: Callable[[Problem, PRNGKey], State]
  tick: Callable[[State, PRNGKey], State]
  uncertainty: Callable[[State], Array]
  output: Callable[[State], Array]
  cost: Callable[[State], Array]
