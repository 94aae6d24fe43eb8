import os

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
