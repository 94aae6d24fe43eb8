import os

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

# One compilation cache for the whole run: pytest-xdist's workers and the subprocesses
# that the CLI, notebook and sharding tests start compile many of the same programs.
# A fresh clone starts cold (the folder is ignored by git); a rerun starts warm.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
