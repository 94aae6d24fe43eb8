"""The benchmarks' timing helpers (sims.bench.timeit, timeit_interleaved)."""

import statistics

import pytest

from sims import bench


class _Clock:
  """A fake ``time.perf_counter``: each call to a timed function takes its own seconds."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def _fn(name, seconds, calls, clock):
  """A function that logs its call and advances the fake clock by the next of ``seconds``."""
  it = iter(seconds)

  def fn():
    calls.append(name)
    clock.now += next(it)
    return name
  return fn


@pytest.fixture
def clock(monkeypatch):
  c = _Clock()
  monkeypatch.setattr(bench.time, "perf_counter", c)
  return c


def test_interleaved_calls_take_turns_after_one_warm_up_each(clock):
  calls = []
  a = [9.0, 1.0, 3.0, 2.0]  # warm-up, then three timed calls
  b = [7.0, 10.0, 30.0, 20.0]
  t = bench.timeit_interleaved({"a": _fn("a", a, calls, clock),
                                "b": _fn("b", b, calls, clock)}, reps=3)
  assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-ups, then in alternation
  assert t["a"] == bench.Timing(1.0, statistics.median(a[1:]), 3)
  assert t["b"] == bench.Timing(10.0, 20.0, 3)  # the warm-up (7 s) is not timed


def test_timeit_repeats_until_min_time(clock):
  calls = []
  t = bench.timeit(_fn("f", [5.0] + [1.0] * 10, calls, clock), reps=2, min_time=4.0)
  assert len(calls) == 1 + 4 and t == bench.Timing(1.0, 1.0, 4)


def test_interleaved_repeats_in_turns_until_each_has_min_time(clock):
  calls = []
  t = bench.timeit_interleaved({"a": _fn("a", [1.0] * 10, calls, clock),
                                "b": _fn("b", [3.0] * 10, calls, clock)}, reps=1, min_time=3.0)
  assert calls == ["a", "b"] * 4  # warm-ups, then turns until a too has 3 s timed
  assert t["a"] == bench.Timing(1.0, 1.0, 3) and t["b"] == bench.Timing(3.0, 3.0, 3)
