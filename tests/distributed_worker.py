"""One process of tests/test_distributed.py: python distributed_worker.py PID PORT.

Joins a two-process JAX cluster on localhost (CPU collectives: gloo), builds
global arrays over every process's devices and runs the sharded front; prints
it beside the same front computed by this process alone.
"""

import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")
pid, port = int(sys.argv[1]), sys.argv[2]
jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                           process_id=pid)

import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402

import jaxtick as jt  # noqa: E402

assert jax.process_count() == 2 and jax.device_count() == 2 * jax.local_device_count()
n = 1000  # a global array's episode axis must divide evenly over the devices
probs = np.asarray(jt.problems.coin_problems(jax.random.key(0), n))
keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(1), n)))
mesh = jt.episode_mesh()  # every device of both processes
# Global arrays: each process supplies the blocks its devices hold.
glob = lambda x: jax.make_array_from_callback(
    x.shape, NamedSharding(mesh, P("episodes")), lambda idx: x[idx])
prices = np.array([0.0, 0.4, 0.4, 1.1, np.inf], np.float32)
agent = jt.agents.coin()
kw = dict(max_ticks=24, min_ticks=1)
many = jt.front_sharded(agent, glob(probs), glob(keys), prices, score=glob(probs > 0.5),
                        mesh=mesh, **kw)
alone = jt.front(agent, probs, keys, prices, score=probs > 0.5, **kw)
for name, fr in (("SHARDED", many), ("ALONE", alone)):
  print(name, pid, np.asarray(fr.total_ticks).tolist(), np.asarray(fr.correct).tolist(),
        np.asarray(fr.mean_cost).tolist(), flush=True)
jax.distributed.shutdown()
