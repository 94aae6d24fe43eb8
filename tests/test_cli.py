"""python -m sims: arguments, determinism, results files."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sims import report
from sims.__main__ import main


def _run(argv, capsys):
  with pytest.raises(SystemExit) as e:
    main(argv)
  err = capsys.readouterr().err
  return e.value.code, err


@pytest.mark.parametrize("argv,needle", [
    (["nope"], "unknown experiment 'nope'"),
    (["coin", "--n", "-3"], "--n"),
    (["coin", "--n", "x"], "--n"),
    (["coin", "--seed", "-1"], "--seed"),
    (["coin", "--bogus"], "unrecognized arguments"),
    (["coin", "--n", "1000000000000"], "at most 10,000,000"),
    (["coin", "--seed", str(2 ** 64)], "[0, 2**32)"),
    (["coin", "--seed", str(2 ** 32)], "[0, 2**32)"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, needle):
  out = tmp_path / "out"
  code, err = _run(argv + ["--out", str(out)], capsys)
  assert code == 2
  assert needle in err
  assert len(err.strip().splitlines()) == 1
  assert not out.exists()


def test_out_must_be_a_directory(tmp_path, capsys):
  f = tmp_path / "file"
  f.write_text("x")
  code, err = _run(["coin", "--out", str(f)], capsys)
  assert code == 2 and "not a directory" in err


def _strip(d):
  d = dict(d)
  d.pop("results_version")
  d.pop("wall_clock_sec")
  d.pop("train_time_sec")
  return d


def _walk_proportions(x, found):
  if isinstance(x, dict):
    if {"successes", "n", "p", "ci_normal", "ci_wilson"} <= set(x):
      found.append(x)
    for v in x.values():
      _walk_proportions(v, found)
  elif isinstance(x, list):
    for v in x:
      _walk_proportions(v, found)
  return found


def test_same_seed_same_metrics_and_file_format(tmp_path):
  runs = []
  for name in ("a", "b"):
    out = tmp_path / name
    assert main(["coin", "--quick", "--seed", "3", "--out", str(out)]) == 0
    runs.append((json.loads((out / "results.json").read_text()),
                 (out / "results.txt").read_text()))
  (ja, ta), (jb, tb) = runs
  assert _strip(ja) == _strip(jb)
  assert ja["results_version"] in ta and f"results_version: {ja['results_version']}" in ta
  assert ja["config"]["seed"] == 3 and ja["config"]["quick"] is True
  assert set(ja["experiments"]) == {"coin"}
  props = _walk_proportions(ja["experiments"], [])
  assert props
  for p in props:
    assert p["p"] == p["successes"] / p["n"]
    assert p["ci_wilson"][0] <= p["p"] <= p["ci_wilson"][1]
  assert (tmp_path / "a" / "coin_pareto.png").stat().st_size > 1000
  assert math.isfinite(ja["wall_clock_sec"]["total"])
  assert ja["train_time_sec"]["total"] == 0  # coin trains nothing
  # results.txt is for reading: 4 significant digits (no longer mantissas past the header's
  # timestamp), the specification named by its title, a takeaway closing the section.
  import re
  body = ta.split("\n", 1)[1]
  assert not re.search(r"\d\.\d{5,}", body), re.findall(r"\S*\d\.\d{5,}\S*", body)[:5]
  assert report.SPEC_TITLE in ta
  assert ta.rstrip().splitlines()[-1].startswith("Takeaway:")
  # ... while results.json keeps full precision.
  ci = ja["experiments"]["coin"]["budget_vs_price"]["budget_rule"]["accuracy"]["ci_wilson"][0]
  assert f"{ci:.4g}" in ta and repr(ci) not in ta


def test_different_seed_different_metrics(tmp_path):
  a, b = tmp_path / "a", tmp_path / "b"
  main(["coin", "--quick", "--seed", "1", "--out", str(a)])
  main(["coin", "--quick", "--seed", "2", "--out", str(b)])
  ea = json.loads((a / "results.json").read_text())["experiments"]
  eb = json.loads((b / "results.json").read_text())["experiments"]
  assert ea != eb


def test_results_written_whole_or_not_at_all(tmp_path):
  out = tmp_path / "r"
  with pytest.raises(TypeError):
    report.write_results(out, {"x": object()}, "text")  # not JSON-serialisable
  assert not (out / "results.json").exists() and not (out / "results.txt").exists()
  report.write_results(out, {"x": 1}, "one")
  with pytest.raises(TypeError):
    report.write_results(out, {"x": object()}, "two")
  assert json.loads((out / "results.json").read_text()) == {"x": 1}
  assert (out / "results.txt").read_text() == "one"
  assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_proportion_rejects_bad_counts():
  with pytest.raises(ValueError):
    report.proportion(5, 0)
  with pytest.raises(ValueError):
    report.proportion(7, 5)


def test_module_entry_point_exit_code():
  r = subprocess.run([sys.executable, "-m", "sims", "e999"], capture_output=True, text=True)
  assert r.returncode == 2
  assert r.stderr.strip().count("\n") == 0 and "e999" in r.stderr


# --- Exit codes, one-line messages, files left behind ------------------------------------
# In the test's process through main() (what `python -m sims` calls; the entry point itself
# is test_module_entry_point_exit_code's), except where the process matters: blocked imports.

REPO = Path(__file__).resolve().parent.parent


# A tiny registered experiment for the file-handling cases (no JAX compute): it can fail in
# run, in figures (after drawing one) or in render, as chosen by FAKE_FAIL.
def _fake_run(config):
  if os.environ.get("FAKE_FAIL") == "run":
    raise RuntimeError("run failed")
  return {"acc": report.proportion(3, 4), "seed": config.seed}


def _fake_figures(metrics, out):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots()
  ax.plot([0, 1], [0, metrics["seed"]])
  first = report.save_figure(fig, Path(out) / f"fake{metrics['seed']}_a.png")
  if os.environ.get("FAKE_FAIL") == "figures":
    raise RuntimeError("figures failed")
  fig, ax = plt.subplots()
  ax.plot([0, 1], [1, 0])
  return [first, report.save_figure(fig, Path(out) / f"fake{metrics['seed']}_b.png")]


def _fake_render(metrics):
  if os.environ.get("FAKE_FAIL") == "render":
    raise RuntimeError("render failed")
  return "fake"


@pytest.fixture
def fake(monkeypatch):
  """Registers the fake experiment for one test (removed after it)."""
  from sims import registry
  registry.load_all()
  monkeypatch.setitem(registry.EXPERIMENTS, "fake", registry.Experiment(
      "fake", "A fake experiment", _fake_run, _fake_render, _fake_figures, ("matplotlib",), 5))
  return monkeypatch


def _main(argv, capsys):
  """``(exit code, stdout, stderr)`` of main(argv) (an exception in a run propagates)."""
  capsys.readouterr()
  try:
    code = main(argv)
  except SystemExit as e:
    code = e.code
  out, err = capsys.readouterr()
  return code, out, err


def _sims(args, *, prelude=""):
  """Runs python -m sims in a subprocess (``prelude``: Python run before it)."""
  code = prelude + "import runpy; runpy.run_module('sims', run_name='__main__')"
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                        env=env, cwd=REPO, timeout=600)


def _files(d):
  return sorted(p.name for p in d.iterdir()) if d.exists() else None


def test_list_names_every_experiment_and_its_title(capsys):
  from sims import registry
  exps = registry.load_all()
  code, out, _ = _main(["--list"], capsys)
  assert code == 0
  lines = out.strip().splitlines()
  assert len(lines) == len(exps)
  for line, (name, exp) in zip(lines, exps.items()):
    assert line.split()[0] == name and line.endswith(exp.title)


def test_help_says_no_name_means_all(capsys):
  code, out, _ = _main(["--help"], capsys)
  assert code == 0
  assert "no name: all" in " ".join(out.split())


def test_n_below_an_experiments_minimum_exits_2_before_running(tmp_path, capsys):
  from sims import registry
  exps = registry.load_all()
  small = {name: e.min_n for name, e in exps.items() if e.min_n > 1}
  assert {"coin", "e2"} <= set(small)  # coin: a pool of 16; e2: a pool of 40
  out = tmp_path / "out"
  code, _, err = _main(["all", "--n", "3", "--out", str(out)], capsys)
  assert code == 2 and len(err.strip().splitlines()) == 1
  for name, m in small.items():
    assert f"{name} needs --n >= {m}" in err
  assert not out.exists()


def test_coin_runs_at_its_minimum_size(tmp_path):
  """coin --n 16 (one pool) gives finite numbers where --n 3 used to give NaN."""
  out = tmp_path / "out"
  assert main(["coin", "--quick", "--n", "16", "--out", str(out)]) == 0
  res = json.loads((out / "results.json").read_text())  # allow_nan=False: no NaN written
  bp = res["experiments"]["coin"]["budget_vs_price"]
  assert bp["pools"] == 1 and math.isfinite(bp["price_rule"]["mean_ticks"])
  assert res["experiments"]["coin"]["bisection"]["price"] is not None


def test_missing_extra_exits_2_within_seconds_naming_the_install_command(tmp_path):
  import time
  out = tmp_path / "out"
  block = "import sys; sys.modules['matplotlib'] = None; sys.modules['sklearn'] = None\n"
  t0 = time.perf_counter()
  r = _sims(["all", "--out", str(out)], prelude=block)
  elapsed = time.perf_counter() - t0
  assert r.returncode == 2, r.stderr
  msg = r.stderr.strip()
  assert len(msg.splitlines()) == 1
  assert "matplotlib" in msg and "scikit-learn" in msg and "jaxtick[sims]" in msg
  assert "pip install '.[sims]'" in msg
  assert elapsed < 60  # imports only; no experiment starts (it would take far longer)
  assert not out.exists()
  # Only the extra's modules are checked: e3 needs matplotlib, not scikit-learn.
  r = _sims(["e3", "--out", str(out)], prelude="import sys; sys.modules['sklearn'] = None\n"
            "sys.modules['matplotlib'] = None\n")
  assert r.returncode == 2 and "scikit-learn" not in r.stderr and "(for e3)" in r.stderr


def _unwritable(tmp_path):
  if os.geteuid() != 0:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    return d / "out"
  if not Path("/proc/self").exists():
    pytest.skip("running as root without /proc: no unwritable directory to test with")
  return Path("/proc/jaxtick-cli-test/out")  # root cannot create here


def test_unwritable_out_exits_2_before_computing(tmp_path, capsys, fake):
  fake.setenv("FAKE_FAIL", "run")  # would raise if the experiment started: the check comes first
  out = _unwritable(tmp_path)
  code, _, err = _main(["fake", "--out", str(out)], capsys)
  assert code == 2 and len(err.strip().splitlines()) == 1
  assert "not writable" in err and str(out) in err
  assert not out.exists()
  f = tmp_path / "plain_file"
  f.write_text("x")
  code, _, err = _main(["fake", "--out", str(f / "sub")], capsys)
  assert code == 2 and "is not a directory" in err


@pytest.mark.parametrize("stage", ["run", "figures", "render"])
def test_a_failing_run_writes_nothing(tmp_path, stage, fake):
  fake.setenv("FAKE_FAIL", stage)
  out = tmp_path / "out"
  with pytest.raises(RuntimeError, match=f"{stage} failed"):
    main(["fake", "--out", str(out)])
  assert not out.exists()  # created for the figures, removed again, nothing orphaned
  out.mkdir()
  (out / "keep.txt").write_text("mine")
  with pytest.raises(RuntimeError, match=f"{stage} failed"):
    main(["fake", "--out", str(out)])
  assert _files(out) == ["keep.txt"]


def test_figures_and_results_are_written_together_and_reruns_do_not_mix(tmp_path, fake):
  out = tmp_path / "out"
  assert main(["fake", "--seed", "1", "--out", str(out)]) == 0
  assert _files(out) == ["fake1_a.png", "fake1_b.png", "results.json", "results.txt"]
  res = json.loads((out / "results.json").read_text())
  assert res["figures"] == {"fake": ["fake1_a.png", "fake1_b.png"]}
  # A failed rerun leaves the first run's files untouched.
  before = {p: (out / p).read_bytes() for p in _files(out)}
  fake.setenv("FAKE_FAIL", "figures")
  with pytest.raises(RuntimeError, match="figures failed"):
    main(["fake", "--seed", "2", "--out", str(out)])
  assert {p: (out / p).read_bytes() for p in _files(out)} == before
  # A successful rerun replaces the results and removes the figures it no longer draws.
  fake.delenv("FAKE_FAIL")
  (out / "notes.md").write_text("mine")
  assert main(["fake", "--seed", "2", "--out", str(out)]) == 0
  assert _files(out) == ["fake2_a.png", "fake2_b.png", "notes.md", "results.json",
                         "results.txt"]
  assert json.loads((out / "results.json").read_text())["config"]["seed"] == 2


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_output_files_get_the_mode_the_umask_allows(tmp_path, umask, mode, fake):
  out = tmp_path / "out"
  old = os.umask(umask)
  try:
    assert main(["fake", "--out", str(out)]) == 0
  finally:
    os.umask(old)
  for name in _files(out):
    assert (out / name).stat().st_mode & 0o777 == mode, name


def test_fake_minimum_size_and_bad_seed_exit_2(tmp_path, capsys, fake):
  out = tmp_path / "out"
  code, _, err = _main(["fake", "--n", "4", "--out", str(out)], capsys)
  assert code == 2 and "fake needs --n >= 5" in err and not out.exists()
  assert main(["fake", "--n", "5", "--out", str(out)]) == 0


def test_empty_out_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(tmp_path)
  code, err = _run(["coin", "--out", ""], capsys)
  assert code == 2 and "--out" in err and "empty" in err
  assert len(err.strip().splitlines()) == 1
  assert list(tmp_path.iterdir()) == []
