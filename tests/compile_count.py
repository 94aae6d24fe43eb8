"""Counting the programs JAX builds: a repeated call must build none.

JAX lowers every program it compiles (eager ops included: each op outside ``jit`` is
a program of its own) to an MLIR module first, also when the persistent compilation
cache then serves the binary; counting lowerings counts new programs.
"""

import contextlib

import jax

_LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextlib.contextmanager
def count_programs():
  """``with count_programs() as n: ...``: ``n[0]`` programs were lowered in the block."""
  n = [0]

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if event == _LOWERING:
      n[0] += 1

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield n
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def programs_of(fn, *args, **kwargs) -> int:
  """Programs built by ``fn(*args, **kwargs)`` (results fetched to the host)."""
  with count_programs() as n:
    jax.block_until_ready(fn(*args, **kwargs))
  return n[0]
