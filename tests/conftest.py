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


def _xla_knows(flags: str) -> bool:
  """Whether this jaxlib's XLA accepts ``flags`` (an unknown flag aborts the process)."""
  probe = "import jax; jax.jit(lambda x: x + 1)(1)"
  env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                        timeout=120).returncode == 0


if "XLA_FLAGS" not in os.environ:  # pytest-xdist's workers inherit the controller's choice
  _flags = os.environ.get("JAXTICK_TEST_XLA_FLAGS")
  if _flags is None:
    _flags = " ".join([_BASE] + [f for f in _OPTIONAL if _xla_knows(f"{_BASE} {f}")])
  os.environ["XLA_FLAGS"] = _flags

# One compilation cache for the whole run: pytest-xdist's workers and the subprocesses
# that the CLI, notebook and sharding tests start compile many of the same programs.
# A fresh clone starts cold (the folder is ignored by git); a rerun starts warm.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
