"""python -m sims: arguments, determinism, results files."""

import json
import math
import subprocess
import sys

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
