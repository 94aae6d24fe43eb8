"""python -m sims.bench [names...] [--quick] [--out bench.json]"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import jax

from sims import report
from sims.bench import load_all


class _Parser(argparse.ArgumentParser):
  def error(self, message):
    self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
  benches = load_all()
  p = _Parser(prog="python -m sims.bench")
  p.add_argument("names", nargs="*", help=f"any of {', '.join(benches)} (default all)")
  p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
  p.add_argument("--out", type=Path, default=Path("bench.json"))
  args = p.parse_args(sys.argv[1:] if argv is None else argv)
  for n in args.names:
    if n not in benches:
      p.error(f"unknown benchmark {n!r}; expected any of: {', '.join(benches)}")
  names = args.names or list(benches)
  device = f"{jax.devices()[0].device_kind} x{jax.device_count()} ({platform.machine()}, jax {jax.__version__})"
  records = []
  for name in names:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    rec = benches[name](quick=args.quick)
    records.append(rec)
    print(f"\n== {rec.name} ==  sizes: {rec.sizes}")
    for k, v in rec.figures.items():
      print(f"  {k:<44} {v:>14.4g}")
    for k, v in rec.ratios.items():
      tgt = rec.targets.get(k)
      mark = "" if tgt is None else (f"  (target >= {tgt:g}: {'met' if v >= tgt else 'NOT met'})")
      print(f"  ratio {k:<38} {v:>14.3f}{mark}")
    if rec.notes:
      print(f"  note: {rec.notes}")
    sys.stdout.flush()
  payload = {"device": device, "results_version": report.results_version(),
             "quick": args.quick,
             "benchmarks": [dict(r._asdict(), device=device) for r in records]}
  report.atomic_write({args.out: (json.dumps(report.to_jsonable(payload), indent=2) + "\n").encode()})
  print(f"\nwrote {args.out}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
