"""Loaders of logged LLM samples: each format's schema, strict refusal, fuzzing."""

import functools
import json
import zlib
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxtick.problems import answers, logs, pools


def _write(path, rows, end="\n"):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows)[:-1] + end)
  return path


@functools.lru_cache(maxsize=None)
def _log(q=6, n=5, seed=0):
  pool = pools.query_pool(jax.random.key(seed), q)
  r = pools.sample_responses(pool, n, oracle=pools.prm_oracle())
  return logs.from_responses(r)


# ------------------------------------------------------------ answer parsing

@pytest.mark.parametrize("text, want", [
    ("so \\boxed{42}.", "42"),
    ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}", "\\left(3, \\frac{\\pi}{2}\\right)"),
    ("\\fbox{7}", "7"),
    ("\\boxed 5$", "5"),
    ("\\boxed{unclosed", None),
    ("no answer here", None),
])
def test_extract_boxed(text, want):
  assert logs.extract_boxed(text) == want


@pytest.mark.parametrize("a, b", [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"), ("1,000", "1000"), (".5", "0.5"),
    ("2.50", "2.5"), ("3.0", "3"), ("x = 4", "4"), ("\\text{(B)}", "(B)"),
    ("90^\\circ", "90"), ("$12$.", "12"), ("\\left( 1, 2 \\right)", "(1,2)"),
    ("50\\%", "50"),
])
def test_normalize_answer_equates(a, b):
  assert logs.normalize_answer(a) == logs.normalize_answer(b)


@pytest.mark.parametrize("a, b", [("12", "21"), ("1/2", "\\frac{1}{2}"), ("-3", "3"),
                                  ("1,2", "12")])
def test_normalize_answer_keeps_different_answers_apart(a, b):
  assert logs.normalize_answer(a) != logs.normalize_answer(b)


def test_extract_answer_fallbacks():
  assert logs.extract_answer("so the answer is 18.") == "18"
  assert logs.extract_answer("we get 3 then 5 apples") == "5"
  assert logs.extract_answer("... #### 72") == "72"
  assert logs.extract_answer("nothing") is None


# ------------------------------------------------------- search-and-learn

def _sal_row(answer="\\frac{1}{2}"):
  return {"problem": "What is 1/2?", "answer": answer, "level": 2, "pred": "x",
          "completions": ["... \\boxed{\\dfrac{1}{2}}", "... \\boxed{2}",
                          "I give up", "\\boxed{0.5}"],
          "scores": [[0.9, 0.8], [0.5, 0.1], [0.3], [0.6, 0.7, 0.95]],
          "completion_tokens": [120, 80, 30, 200]}


def test_search_and_learn_schema(tmp_path):
  rows = [_sal_row(), dict(_sal_row("2"), completions=["\\boxed{2}"], scores=[[0.4]],
                           completion_tokens=[11])]
  exact = logs.load_search_and_learn(_write(tmp_path / "s.jsonl", rows), grader="exact")
  np.testing.assert_array_equal(exact.correct[0], [True, False, False, False])
  np.testing.assert_array_equal(exact.answer[0], [0, 1, 2, 3])   # 1/2, 2, invalid, 0.5
  log = exact
  if answers.has_math_verify():   # jaxtick[llm]: 0.5 is \frac{1}{2}
    log = logs.load_search_and_learn(tmp_path / "s.jsonl", grader="math_verify")
    np.testing.assert_array_equal(log.correct[0], [True, False, False, True])
    np.testing.assert_array_equal(log.answer[0], [0, 1, 2, 0])
  np.testing.assert_array_equal(log.count, [4, 1])
  np.testing.assert_allclose(log.reward[0], [0.8, 0.1, 0.3, 0.95])   # last step
  assert log.tokens_known and log.iid
  np.testing.assert_array_equal(log.tokens[0], [120, 80, 30, 200])
  assert log.correct[1, 0] and log.answer[1, 1] == -1 and not log.correct[1, 1]
  lmin = logs.load_search_and_learn(tmp_path / "s.jsonl", agg="min")
  np.testing.assert_allclose(lmin.reward[0], [0.8, 0.1, 0.3, 0.6])
  lprod = logs.load_search_and_learn(tmp_path / "s.jsonl", agg="prod")
  np.testing.assert_allclose(lprod.reward[0], [0.72, 0.05, 0.3, 0.6 * 0.7 * 0.95], rtol=1e-6)


# ------------------------------------------------------------------ lm-eval

def _lm_row(doc, filt="none"):
  return {"doc_id": doc, "doc": {"question": "q"}, "target": "Natalia sold ... #### 72",
          "arguments": [["prompt", {"until": ["Q:"]}]],
          "resps": [["She sold 48+24 = 72. The answer is 72.", "The answer is 70.",
                     "so \\boxed{72}"]],
          "filtered_resps": ["72"], "filter": filt, "metrics": ["exact_match"],
          "exact_match": 1.0, "doc_hash": "h", "prompt_hash": "h", "target_hash": "h"}


def test_lm_eval_schema(tmp_path):
  rows = [_lm_row(0), _lm_row(0, "maj@3"), _lm_row(1)]
  log = logs.load_lm_eval(_write(tmp_path / "samples_gsm8k.jsonl", rows))
  assert log.correct.shape == (2, 3)   # the 'none' filter only
  np.testing.assert_array_equal(log.correct[0], [True, False, True])
  np.testing.assert_array_equal(log.reward[0], [1.0, 0.0, 1.0])
  np.testing.assert_array_equal(log.answer[0], [0, 1, 0])
  np.testing.assert_array_equal(log.tokens[0], [9, 4, 2])
  other = logs.load_lm_eval(tmp_path / "samples_gsm8k.jsonl", filter="maj@3")
  assert other.correct.shape == (1, 3)
  with pytest.raises(ValueError, match="line 3.*doc_id.*twice"):
    logs.load_lm_eval(_write(tmp_path / "d.jsonl", [_lm_row(0), _lm_row(1), _lm_row(0)]))


# ------------------------------------------------------------- own formats

def test_npz_and_jsonl_round_trip(tmp_path):
  log = _log()
  log = log._replace(latency=np.abs(log.reward) * 2, features=np.ones((6, 3), np.float32),
                     query_id=np.array([f"q{i}" for i in range(6)]))
  for back in (logs.load_npz(logs.save_npz(tmp_path / "a.npz", log)),
               logs.load_jsonl(logs.save_jsonl(tmp_path / "a.jsonl", log))):
    for name in logs.SampleLog._fields:
      np.testing.assert_array_equal(getattr(back, name), getattr(log, name), err_msg=name)


def test_jsonl_text_answers_and_ragged_queries(tmp_path):
  rows = [{"correct": [True, False, False], "reward": [1, 0, 0.5], "answer": ["a", "b", "a"],
           "tokens": [1, 2, 3]},
          {"correct": [False], "reward": [0.2], "answer": ["z"], "tokens": [7]}]
  log = logs.load_jsonl(_write(tmp_path / "x.jsonl", rows))
  np.testing.assert_array_equal(log.count, [3, 1])
  np.testing.assert_array_equal(log.answer, [[0, 1, 0], [0, -1, -1]])


def test_example_log_ships_with_the_package():
  path = logs.example_log_path()
  assert path.is_file() and "jaxtick" in str(path)
  log = logs.example_log()
  assert log.correct.shape == (150, 48) and (log.count == 48).all()
  # answer id 0 is the correct one, as the generator writes it
  np.testing.assert_array_equal(log.correct, log.answer == 0)


def test_replay_response_never_wraps_around():
  log = logs.SampleLog(correct=np.array([[True, False], [False, False]]),
                       reward=np.array([[0.9, 0.1], [0.2, 0.0]]),
                       answer=np.array([[0, 1], [3, -1]]),
                       tokens=np.array([[5.0, 6.0], [7.0, 0.0]]),
                       count=np.array([2, 1]))
  pool = logs.replay_pool(log)
  a, t, r, c, v = logs.replay_response(pool, 1, 0)
  assert (int(a), float(t), bool(c), bool(v)) == (0, 7.0, False, True)   # ids made dense
  np.testing.assert_array_equal(np.asarray(pool.answer), [[0, 1], [0, -1]])
  np.testing.assert_allclose(float(r), 0.2)
  for j in (1, 2, 5):   # beyond what was logged: invalid, not sample j mod count
    a, t, r, c, v = logs.replay_response(pool, 1, j)
    assert (int(a), float(t), float(r), bool(c), bool(v)) == (-1, 0.0, 0.0, False, False)
  gt = logs.replay_pool(log, reward="correct")
  np.testing.assert_array_equal(np.asarray(gt.reward), [[1, 0], [0, 0]])


# ------------------------------------------------------------ malformed files

GOOD = {"correct": [True, False], "reward": [0.9, 0.1], "answer": [0, 1], "tokens": [3, 4]}


@pytest.mark.parametrize("row, msg", [
    ({k: v for k, v in GOOD.items() if k != "reward"}, "line 2: missing field 'reward'"),
    (dict(GOOD, tokens=[3]), "line 2: field 'tokens'.*ragged"),
    (dict(GOOD, reward=[0.5, float("nan")]), "line 2: field 'reward'\\[1\\].*NaN"),
    (dict(GOOD, tokens=[3, -1]), "line 2: field 'tokens'\\[1\\]"),
    (dict(GOOD, correct=[1, 0]), "line 2: field 'correct'\\[0\\]"),
    (dict(GOOD, answer=[0, "b"]), "line 2: field 'answer'"),
    (dict(GOOD, extra=1), "line 2: unknown field 'extra'"),
    ([1, 2], "line 2: expected a JSON object"),
])
def test_malformed_jsonl_names_field_and_line(tmp_path, row, msg):
  text = json.dumps(GOOD) + "\n" + json.dumps(row) + "\n"
  (tmp_path / "bad.jsonl").write_text(text)
  with pytest.raises(ValueError, match=msg):
    logs.load_jsonl(tmp_path / "bad.jsonl")


def test_truncated_and_overlong_jsonl(tmp_path):
  full = json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n"
  (tmp_path / "t.jsonl").write_text(full[:-9])
  with pytest.raises(ValueError, match="line 2: (not valid JSON|no final newline)"):
    logs.load_jsonl(tmp_path / "t.jsonl")
  (tmp_path / "t2.jsonl").write_text(full[:-1])   # cut at the very end
  with pytest.raises(ValueError, match="line 2: no final newline"):
    logs.load_jsonl(tmp_path / "t2.jsonl")
  (tmp_path / "long.jsonl").write_text(full)
  cap = len(json.dumps(GOOD))
  assert logs.load_jsonl(tmp_path / "long.jsonl", max_line_bytes=cap).count.shape == (2,)
  with pytest.raises(ValueError, match="line 1: longer than the cap of"):
    logs.load_jsonl(tmp_path / "long.jsonl", max_line_bytes=cap - 1)


def test_search_and_learn_malformed(tmp_path):
  for row, msg in [
      ({k: v for k, v in _sal_row().items() if k != "scores"}, "missing field 'scores'"),
      (dict(_sal_row(), completion_tokens=[1, 2]), "completion_tokens.*ragged"),
      (dict(_sal_row(), scores=[[0.1], [0.2], [], [0.3]]), "scores\\[2\\]"),
      (dict(_sal_row(), scores=[[0.1], [1.5], [0.2], [0.3]]), "scores\\[1\\]"),
      (dict(_sal_row(), completions=["a", 3, "b", "c"]), "completions\\[1\\]"),
  ]:
    with pytest.raises(ValueError, match="line 1: .*" + msg):
      logs.load_search_and_learn(_write(tmp_path / "s.jsonl", [row]))


def test_npz_refuses_objects_missing_shapes_and_truncation(tmp_path):
  log = _log()
  good = logs.save_npz(tmp_path / "g.npz", log)
  arrays = dict(np.load(good))
  obj = dict(arrays, answer=np.array([[object()] * 5] * 6, dtype=object))
  np.savez(tmp_path / "obj.npz", **obj)   # a pickled object array
  with pytest.raises(ValueError, match="field 'answer' holds Python objects"):
    logs.load_npz(tmp_path / "obj.npz")
  for name, bad, msg in [
      ("missing", {k: v for k, v in arrays.items() if k != "tokens"}, "missing field 'tokens'"),
      ("shape", dict(arrays, reward=arrays["reward"][:, :3]), "field 'reward' has shape"),
      ("nan", dict(arrays, reward=np.where(arrays["reward"] > 0.5, np.nan, 0.1)), "'reward'.*NaN"),
      ("count", dict(arrays, count=arrays["count"] + 1), "field 'count'"),
      ("dtype", dict(arrays, correct=arrays["reward"]), "field 'correct' has dtype"),
      ("extra", dict(arrays, weights=np.ones(3)), "unknown field 'weights'"),
  ]:
    np.savez(tmp_path / f"{name}.npz", **bad)
    with pytest.raises(ValueError, match=msg):
      logs.load_npz(tmp_path / f"{name}.npz")
  data = good.read_bytes()
  (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
  with pytest.raises(ValueError, match="npz|unreadable"):
    logs.load_npz(tmp_path / "cut.npz")


def _corrupt(data: bytes, rng) -> bytes:
  b = bytearray(data)
  kind = rng.integers(5)
  if kind == 0:                                  # flip bytes
    for i in rng.integers(0, len(b), size=rng.integers(1, 8)):
      b[i] = rng.integers(256)
  elif kind == 1:                                # truncate
    b = b[: rng.integers(0, len(b))]
  elif kind == 2:                                # insert junk
    i = rng.integers(0, len(b))
    b[i:i] = rng.integers(0, 256, size=rng.integers(1, 20)).astype(np.uint8).tobytes()
  elif kind == 3:                                # delete a span
    i = rng.integers(0, len(b))
    del b[i:i + rng.integers(1, 50)]
  else:                                          # swap in a plausible token
    s = bytes(b)
    for tok in (b"true", b"0.1", b"[", b"]", b",", b"\"", b"\n", b"NaN", b"-1"):
      if rng.random() < 0.3 and tok in s:
        i = s.index(tok)
        s = s[:i] + [b"null", b"1e999", b"{}", b"", b"\"x\"", b"-"][rng.integers(6)] + s[i + len(tok):]
    b = bytearray(s)
  return bytes(b)


DATA = Path(__file__).resolve().parent / "data"
FUZZ = {  # name: (format, loader keywords, suffix of the corrupted copies)
    "jsonl": ("jsonl", {}, ""), "npz": ("npz", {}, ""),
    "search_and_learn": ("search_and_learn", {}, ""), "lm_eval": ("lm_eval", {}, ""),
    # files the real tools wrote (tests/data/make_fixtures.py)
    "lm_eval_0.4.13": ("lm_eval", {}, ""), "lm_eval_0.4.2_array": ("lm_eval", {}, ""),
    "sal_datasets_jsonl": ("search_and_learn", {}, ""),
    "sal_datasets_parquet": ("search_and_learn", {}, ".parquet"),
    "columns": ("columns", {"reference": "answer", "responses": "completions",
                            "tokens": "completion_tokens"}, ""),
}


@pytest.mark.parametrize("name", list(FUZZ))
def test_fuzz_only_clear_errors(tmp_path, name):
  fmt, kw, suffix = FUZZ[name]
  rng = np.random.default_rng(zlib.crc32(name.encode()))
  src = tmp_path / f"src.{fmt}"
  if name == "jsonl":
    logs.save_jsonl(src, _log(4, 3))
  elif name == "npz":
    logs.save_npz(src, _log(4, 3))
  elif name == "search_and_learn":
    _write(src, [_sal_row(), _sal_row("2")])
  elif name == "lm_eval":
    _write(src, [_lm_row(0), _lm_row(1)])
  else:
    src = DATA / {"lm_eval_0.4.13": "lm_eval_samples_jt_math.jsonl",
                  "lm_eval_0.4.2_array": "lm_eval_0.4.2_jt_math.jsonl",
                  "sal_datasets_jsonl": "sal_best_of_n.jsonl",
                  "sal_datasets_parquet": "sal_best_of_n.parquet",
                  "columns": "sal_best_of_n.jsonl"}[name]
  data = src.read_bytes()
  kinds = {"ok": 0, "error": 0}
  for i in range(100):
    p = tmp_path / f"f{i}{suffix}"
    p.write_bytes(_corrupt(data, rng))
    try:
      out = logs.load(p, format=fmt, **kw)
    except ValueError as e:
      assert str(e) and "\n" not in str(e)
      kinds["error"] += 1
    else:   # what loads is a valid log
      assert isinstance(out, logs.SampleLog)
      logs.validate(out)
      kinds["ok"] += 1
  assert kinds["error"] > 30


# ----------------------------------------------- bad inputs (issue 18, loaders)

BIG = "1" + "0" * 400   # an integer too large for a float


@pytest.mark.parametrize("field", ["tokens", "reward", "features", "latency"])
def test_overflowing_integers_are_value_errors(tmp_path, field):
  row = dict(GOOD, latency=[1, 2], features=[1.0])
  text = json.dumps(row)
  value = "[" + BIG + "]" if field == "features" else "[1, " + BIG + "]"
  text = text.replace(json.dumps(row[field]), value)
  (tmp_path / "o.jsonl").write_text(text + "\n")
  with pytest.raises(ValueError, match=rf"^line 1: field '{field}'\[\d\] is an integer too "
                                       "large for a float$"):
    logs.load_jsonl(tmp_path / "o.jsonl")


def test_overflow_in_tool_formats(tmp_path):
  row = json.dumps(_sal_row()).replace("[120, 80, 30, 200]", f"[120, {BIG}, 30, 200]")
  (tmp_path / "s.jsonl").write_text(row + "\n")
  with pytest.raises(ValueError, match=r"^line 1: field 'completion_tokens'\[1\] is an integer"):
    logs.load_search_and_learn(tmp_path / "s.jsonl")
  row = json.dumps(_sal_row()).replace("[0.9, 0.8]", f"[0.9, {BIG}]")
  (tmp_path / "s.jsonl").write_text(row + "\n")
  with pytest.raises(ValueError, match=r"^line 1: field 'scores\[0\]'\[1\] is an integer"):
    logs.load_search_and_learn(tmp_path / "s.jsonl")


def test_logs_without_samples_are_refused(tmp_path):
  empty = {"correct": [], "reward": [], "answer": [], "tokens": []}
  with pytest.raises(ValueError, match="^jaxtick JSONL: the log holds no samples"):
    logs.load_jsonl(_write(tmp_path / "e.jsonl", [empty, empty]))
  with pytest.raises(ValueError, match="^search-and-learn: the log holds no samples"):
    logs.load_search_and_learn(_write(tmp_path / "s.jsonl", [dict(
        _sal_row(), completions=[], scores=[], completion_tokens=[])]))
  with pytest.raises(ValueError, match="^lm-evaluation-harness: the log holds no samples"):
    logs.load_lm_eval(_write(tmp_path / "l.jsonl", [dict(_lm_row(0), resps=[[]])]))
  log = _log()
  with pytest.raises(ValueError, match="the log holds no samples"):
    logs.validate(log._replace(count=np.zeros_like(log.count)))
  (tmp_path / "blank.jsonl").write_text("\n")
  with pytest.raises(ValueError, match="the file holds no rows"):
    logs.load_jsonl(tmp_path / "blank.jsonl")


def test_npz_member_cap_is_read_from_the_zip_header(tmp_path, monkeypatch):
  path = logs.save_npz(tmp_path / "g.npz", _log())
  reads = []
  real = np.load
  monkeypatch.setattr(np, "load", lambda *a, **k: reads.append(a) or real(*a, **k))
  with pytest.raises(ValueError, match=r"^field '\w+' is \d+ bytes uncompressed; the cap is "
                                       r"100 \(max_member_bytes\)$"):
    logs.load_npz(path, max_member_bytes=100)
  assert reads == []                                  # refused before NumPy read anything
  assert logs.load_npz(path, max_member_bytes=10_000).count.shape == (6,)
  # a zip bomb: 64 MiB of zeros compress to ~64 KiB; the default cap holds, a small one refuses
  np.savez_compressed(tmp_path / "bomb.npz", correct=np.zeros((1, 1 << 26), bool))
  assert (tmp_path / "bomb.npz").stat().st_size < 1 << 20
  with pytest.raises(ValueError, match="field 'correct' is 67108992 bytes uncompressed"):
    logs.load_npz(tmp_path / "bomb.npz", max_member_bytes=1 << 20)
  with pytest.raises(ValueError, match="max_member_bytes must be a positive int"):
    logs.load_npz(path, max_member_bytes=0)


def test_random_bytes_as_npz_give_no_pickle_advice(tmp_path):
  rng = np.random.default_rng(0)
  for i, data in enumerate([rng.bytes(300), b"\x93NUMPY" + rng.bytes(100), b"PK\x03\x04junk",
                            b""]):
    (tmp_path / f"r{i}.npz").write_bytes(data)
    with pytest.raises(ValueError) as e:
      logs.load_npz(tmp_path / f"r{i}.npz")
    msg = str(e.value)
    assert "pickle" not in msg.lower() and "\n" not in msg and "npz" in msg, msg


@pytest.mark.parametrize("row, msg", [
    (dict(_lm_row(0), target=None), "line 1: field 'target' must be a string, number or"),
    (dict(_lm_row(0), target=""), "line 1: field 'target' holds no answer"),
    ({k: v for k, v in _lm_row(0).items() if k != "arguments"}, "line 1: missing field 'arguments'"),
    (dict(_lm_row(0), arguments={"x": 1}), "line 1: field 'arguments' must map 'gen_args_<i>'"),
    (dict(_lm_row(0), arguments=[]), "line 1: field 'arguments' is empty"),
    (dict(_lm_row(0), resps=[["ok", 3]]), r"line 1: field 'resps\[0\]\[1\]' must be a string"),
    (dict(_lm_row(0), resps=[[["-1.2", "True"]]]), r"line 1: field 'resps\[0\]\[0\]' must be a"),
    (dict(_lm_row(0), filter=3), "line 1: field 'filter' must be a string"),
])
def test_lm_eval_malformed_rows(tmp_path, row, msg):
  with pytest.raises(ValueError, match="^" + msg) as e:
    logs.load_lm_eval(_write(tmp_path / "l.jsonl", [row]))
  assert "\n" not in str(e.value)


def test_search_and_learn_malformed_tokens_and_answer(tmp_path):
  for row, msg in [
      (dict(_sal_row(), completion_tokens=7), "field 'completion_tokens' must be a list of 4"),
      (dict(_sal_row(), completion_tokens="x"), "field 'completion_tokens' must be a list"),
      (dict(_sal_row(), answer=None), "field 'answer' must be a string or number"),
      (dict(_sal_row(), answer=" "), "field 'answer' is empty"),
  ]:
    with pytest.raises(ValueError, match="^line 1: " + msg):
      logs.load_search_and_learn(_write(tmp_path / "s.jsonl", [row]))
  with pytest.raises(ValueError, match="approach must be None or one of"):
    logs.load_search_and_learn(_write(tmp_path / "s.jsonl", [_sal_row()]), approach="mcts")
