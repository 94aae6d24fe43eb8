"""Two processes on localhost (jax.distributed, CPU collectives) run one sharded front."""

import os
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _lines(out, tag):
  return [l.split(" ", 2)[2] for l in out.splitlines() if l.startswith(tag + " ")]


def test_two_process_sharded_front_equals_the_single_process_front():
  port = str(_free_port())
  # the suite's XLA flags (tests/conftest.py) plus the fake devices
  env = dict(os.environ,
             XLA_FLAGS=os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu", PYTHONPATH=os.path.dirname(HERE))
  procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "distributed_worker.py"),
                             str(i), port], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
           for i in range(2)]
  outs = []
  for p in procs:
    try:
      out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail("the two-process run did not finish in 240 s")
    assert p.returncode == 0, err[-3000:]
    outs.append(out)
  sharded = [_lines(o, "SHARDED") for o in outs]
  alone = [_lines(o, "ALONE") for o in outs]
  assert all(len(s) == 1 for s in sharded + alone), outs
  # Every process sees the same global counts, equal to one process alone.
  assert sharded[0] == sharded[1] == alone[0] == alone[1]
