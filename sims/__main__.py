"""python -m sims [names...|all] --n N --seed S --out DIR --quick | --list

Runs the registered experiments (no name: all of them) and writes results.txt,
results.json and the figures into --out, all together or none. Bad arguments,
a --n below an experiment's minimum or above 10,000,000, a seed outside
[0, 2**32), a missing optional dependency or an empty or unwritable --out exit
with code 2 and a one-line message, before anything runs or is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sims import registry, report


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # one line, exit code 2
    self.exit(2, f"{self.prog}: error: {message}\n")


# The most episodes/instances one experiment may be asked for: every experiment keeps
# per-episode arrays (several int32/float32 per episode and price), so far larger sizes
# cannot be held in this machine class's memory (and XLA aborts the process on them).
MAX_N = 10_000_000


def _positive_int(text):
  try:
    v = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
  if v <= 0:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
  if v > MAX_N:
    raise argparse.ArgumentTypeError(
        f"expected at most {MAX_N:,} episodes per experiment (more cannot be held in "
        f"memory), got {v:,}")
  return v


def _seed(text):
  try:
    v = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected an integer seed >= 0, got {text!r}")
  # JAX keys take seeds below 2**63 and scikit-learn's splits (E1/E2) below 2**32.
  if not 0 <= v < 2 ** 32:
    raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2**32), got {v}")
  return v


def _out_dir(text):
  if not text.strip():
    raise argparse.ArgumentTypeError("expected a directory path, got an empty string")
  return Path(text)


def parse_args(argv, names):
  p = _Parser(prog="python -m sims", description=__doc__.split("\n\n")[1])
  p.add_argument("experiments", nargs="*", default=["all"],
                 help=f"experiments to run: all, or any of {', '.join(names)} "
                      "(no name: all)")
  p.add_argument("--list", action="store_true",
                 help="print each experiment's name and title, and exit")
  p.add_argument("--n", type=_positive_int, default=None,
                 help="episodes/instances per experiment (default: each one's own)")
  p.add_argument("--seed", type=_seed, default=0,
                 help="master seed, an integer in [0, 2**32) (default 0)")
  p.add_argument("--out", type=_out_dir, default=Path("results"),
                 help="output directory (default: results)")
  p.add_argument("--quick", action="store_true", help="small, fast runs")
  args = p.parse_args(argv)
  chosen = []
  for name in args.experiments:
    if name == "all":
      chosen.extend(names)
    elif name in names:
      chosen.append(name)
    else:
      p.error(f"unknown experiment {name!r}; expected 'all' or one of: "
              f"{', '.join(names)}")
  args.experiments = list(dict.fromkeys(chosen))
  args.error = p.error
  return args


def check_before_running(args, experiments) -> None:
  """Everything that can be known before computing: sizes, imports, --out."""
  chosen = [experiments[name] for name in args.experiments]
  if args.n is not None:
    small = [f"{e.name} needs --n >= {e.min_n}" for e in chosen if args.n < e.min_n]
    if small:
      args.error(f"--n {args.n} is too small: {'; '.join(small)}")
  missing = registry.missing_requirements(chosen)
  if missing:
    what = "; ".join(f"{dist} (for {', '.join(names)})" for dist, names in missing.items())
    args.error(f"missing {what}: install the experiments' extra: {registry.INSTALL_HINT}")
  problem = report.check_writable(args.out)
  if problem:
    args.error(problem)


def main(argv=None) -> int:
  experiments = registry.load_all()
  args = parse_args(sys.argv[1:] if argv is None else argv, list(experiments))
  if args.list:
    width = max(map(len, experiments))
    for name, exp in experiments.items():
      print(f"{name:<{width}}  {exp.title}")
    return 0
  check_before_running(args, experiments)
  version = report.results_version()

  def progress(msg):
    print(f"  {msg}", file=sys.stderr, flush=True)

  train = {name: 0.0 for name in args.experiments}
  current = [None]

  def train_time(seconds):
    train[current[0]] += seconds

  config = registry.Config(seed=args.seed, n=args.n, quick=args.quick,
                           progress=progress, train_time=train_time)
  sections, timings = {}, {}
  start = time.perf_counter()
  for i, name in enumerate(args.experiments, 1):
    exp = experiments[name]
    print(f"[{i}/{len(args.experiments)}] {name}: {exp.title}", file=sys.stderr,
          flush=True)
    t0 = time.perf_counter()
    current[0] = name
    sections[name] = report.to_jsonable(exp.run(config))
    timings[name] = time.perf_counter() - t0
    print(f"    done in {timings[name]:.1f} s", file=sys.stderr, flush=True)
  total = time.perf_counter() - start
  with report.staging(args.out) as staged:
    paths = _write(args, experiments, config, version, sections, timings, total,
                   {k: v for k, v in train.items() if v > 0}, staged)
  print(f"wrote {', '.join(str(p) for p in paths)} "
        f"(results_version {version})", file=sys.stderr)
  return 0


def _write(args, experiments, config, version, sections, timings, total, train, staged):
  """Draws the figures into ``staged``, renders the text, then moves all into --out."""
  figures = {}
  for name, metrics in sections.items():
    exp = experiments[name]
    if exp.figures is not None:
      figures[name] = [os.path.relpath(p, staged)  # relative to --out
                       for p in exp.figures(metrics, staged)]
  payload = {
      "results_version": version,
      "config": {**config.as_dict(), "experiments": args.experiments},
      "wall_clock_sec": {"total": total, **timings},
      # Time spent training models (the multi-exit MLPs of E1/E2), included in the above.
      "train_time_sec": {"total": sum(train.values()), **train},
      "figures": figures,
      "experiments": sections,
  }
  g4 = report.g4
  text = [f"results_version: {version}",
          f"config: seed={args.seed} n={args.n} quick={args.quick} "
          f"experiments={' '.join(args.experiments)}",
          f"wall_clock_sec: total={g4(total)} " +
          " ".join(f"{k}={g4(v)}" for k, v in timings.items()),
          f"train_time_sec: total={g4(sum(train.values()))} " +
          " ".join(f"{k}={g4(v) if v >= 1e-3 else 0}" for k, v in train.items()) +
          " (training the multi-exit MLPs, part of the wall clock; e2 reuses e1's digits "
          "model when both run)",
          f'specification: "{report.SPEC_TITLE}" (seed 000), cited below as "the '
          f'specification"; its tables are printed beside ours where it has them.',
          report.TEXT_NOTE, ""]
  for name, metrics in sections.items():
    exp = experiments[name]
    body = exp.render(metrics) if exp.render else report.render_generic(metrics)
    text += [f"== {name}: {exp.title} ==", body, ""]
  return report.write_results(args.out, payload, "\n".join(text), staged)


if __name__ == "__main__":
  try:
    sys.exit(main())
  except KeyboardInterrupt:  # Ctrl-C: one line; --out is left as it was (written all or none)
    print("python -m sims: interrupted; nothing was written", file=sys.stderr)
    sys.exit(130)
