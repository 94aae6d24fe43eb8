import os

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads, and compile
# with XLA's backend optimisation level 0: the suite is compile-bound (hundreds of small
# programs, each run on a few hundred episodes), and level 0 cuts a bandit program's compile
# from 4.8-8.5 s to 1.5-3.1 s of CPU while its run takes milliseconds either way. Results are
# the same program's (no fast-math either way); `make run`, the benchmarks and users compile
# at XLA's default level, and the subprocess tests that set XLA_FLAGS themselves (sharding,
# two processes) compile at the default level too. Set JAXTICK_TEST_XLA_FLAGS to override.
os.environ.setdefault("XLA_FLAGS", os.environ.get(
    "JAXTICK_TEST_XLA_FLAGS",
    "--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=0"))

# One compilation cache for the whole run: pytest-xdist's workers and the subprocesses
# that the CLI, notebook and sharding tests start compile many of the same programs.
# A fresh clone starts cold (the folder is ignored by git); a rerun starts warm.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
