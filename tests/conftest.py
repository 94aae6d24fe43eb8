import os
import subprocess
import sys

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads, and compile
# with XLA's backend optimisation level 0: the suite is compile-bound (hundreds of small
# programs, each run on a few hundred episodes), and level 0 cuts a bandit program's compile
# from 4.8-8.5 s to 1.5-3.1 s of CPU while its run takes milliseconds either way. Where the
# installed XLA still has its classic CPU emitters (jaxlib 0.10; newer releases dropped the
# flag and abort on it, hence the probe), they compile our programs in about half the time of
# the MLIR fusion emitters (tests/test_front.py: 84 s of CPU against 155 s). Results are
# the same programs' (no fast-math either way); `make run`, the benchmarks and users compile
# at XLA's defaults; the subprocess tests (CLI, notebooks, sharding, two processes) inherit
# these flags (sharding: 42 s of CPU against 87 s). Set JAXTICK_TEST_XLA_FLAGS to override.
_BASE = "--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=0"
# Each where this XLA knows it: the classic emitters (above), and LLVM codegen in one piece
# rather than split for parallel compilation, which two busy workers cannot use
# (tests/test_soft.py + test_mcts.py on jaxlib 0.10: 67 s against 74-76 s wall, twice each).
_OPTIONAL = ("--xla_cpu_use_fusion_emitters=false", "--xla_cpu_parallel_codegen_split_count=1")


def _xla_knows(*flag_sets: str) -> list[bool]:
  """Whether this jaxlib's XLA accepts each of ``flag_sets`` (an unknown flag aborts the
  process): one probe process each, all at once (together 1.2 s, not 1.2 s each)."""
  probe = "import jax; jax.jit(lambda x: x + 1)(1)"
  procs = [subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu"))
           for flags in flag_sets]
  return [p.wait(timeout=120) == 0 for p in procs]


if "XLA_FLAGS" not in os.environ:  # pytest-xdist's workers inherit the controller's choice
  _flags = os.environ.get("JAXTICK_TEST_XLA_FLAGS")
  if _flags is None:
    known = _xla_knows(*[f"{_BASE} {f}" for f in _OPTIONAL])
    _flags = " ".join([_BASE] + [f for f, ok in zip(_OPTIONAL, known) if ok])
  os.environ["XLA_FLAGS"] = _flags

# One compilation cache for the whole run: pytest-xdist's workers and the subprocesses
# that the CLI, notebook and sharding tests start compile many of the same programs.
# A fresh clone starts cold (the folder is ignored by git); a rerun starts warm.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
