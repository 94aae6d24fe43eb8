"""The loaders on files the real tools wrote (tests/data/, see make_fixtures.py).

lm-evaluation-harness 0.4.13 wrote the ``lm_eval_samples_*.jsonl`` files itself
(``simple_evaluate(log_samples=True)`` + ``EvaluationTracker``); ``datasets``
5.2.0 wrote the search-and-learn files (``to_json(lines=True)``, ``to_parquet``).
"""

import ast
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from jaxtick.problems import answers, logs

try:
  import math_verify
except ImportError:
  math_verify = None
needs_mv = pytest.mark.skipif(math_verify is None, reason="math-verify not installed")

DATA = Path(__file__).resolve().parent / "data"
HARNESS = ["lm_eval_samples_jt_math.jsonl", "lm_eval_samples_jt_math_once.jsonl",
           "lm_eval_samples_jt_list.jsonl", "lm_eval_0.4.2_jt_math.jsonl"]
SAL = ["sal_best_of_n.jsonl", "sal_beam_search.jsonl", "sal_dvts.jsonl",
       "sal_best_of_n.parquet"]


def _harness_rows(name):
  text = (DATA / name).read_text()
  if text.lstrip().startswith("["):
    rows = json.loads(text)
    first = {}
    for r in rows:
      first.setdefault(r["doc_id"], r)
    return list(first.values())
  rows = [json.loads(x) for x in text.splitlines()]
  f0 = rows[0]["filter"]
  return [r for r in rows if r["filter"] == f0]


def _gold_texts(target):
  """The file's target as its accepted answers, without jaxtick's code: the
  harness writes str(list) for a list target (0.4.2 wrote the list)."""
  if isinstance(target, list):
    return [str(t) for t in target]
  if target.startswith("['"):
    return ast.literal_eval(target)
  return [target]


def _mv_correct(gold_texts, text):
  """math-verify's own verdict on a whole sample text (its own extraction), as
  the harness's minerva_math task calls it: verify(parse(gold), parse(text)).
  A GSM8K solution is parsed whole too (math-verify extracts its final number);
  an answer is parsed as a math span."""
  pred = math_verify.parse(text)
  return any(bool(math_verify.verify(
      math_verify.parse(g if "####" in g else f"${g}$"), pred)) for g in gold_texts)


@pytest.mark.parametrize("name", HARNESS)
@needs_mv
def test_harness_correct_equals_math_verify_on_every_sample(name):
  log = logs.load_lm_eval(DATA / name)
  rows = _harness_rows(name)
  assert log.count.shape == (len(rows),)
  for q, r in enumerate(rows):
    texts = [t for req in r["resps"] for t in req]
    gold = _gold_texts(r["target"])
    if all(g.isalpha() for g in gold):
      continue   # word answers ("red") are not math-verify's domain: checked by value below
    want = [_mv_correct(gold, t) for t in texts]
    assert log.correct[q, :len(texts)].tolist() == want, (name, q)
    assert log.reward[q, :len(texts)].tolist() == [float(w) for w in want]


@pytest.mark.parametrize("name", SAL)
@needs_mv
def test_search_and_learn_correct_equals_math_verify_on_every_sample(name):
  log = logs.load_search_and_learn(DATA / name)
  with open(DATA / "sal_best_of_n.jsonl") as f:
    rows = [json.loads(x) for x in f]
  for q, r in enumerate(rows):
    want = [_mv_correct([str(r["answer"])], t) for t in r["completions"]]
    assert log.correct[q, :len(want)].tolist() == want, (name, q)


@needs_mv
def test_harness_math_targets_are_graded_as_answers():
  log = logs.load_lm_eval(DATA / "lm_eval_samples_jt_math.jsonl")   # filter take-first
  assert log.correct.shape == (6, 4) and log.iid and log.tokens_known
  # doc 0, target \frac{1}{2}: \boxed{\frac{1}{2}}, \boxed{0.5}, \boxed{2}, "The answer is 1/2."
  assert log.correct[0].tolist() == [True, True, False, True]
  assert log.answer[0].tolist() == [0, 0, 1, 0]          # one vote for 1/2, not three
  # doc 1, target \frac{14}{3}: 14/3, \dfrac{14}{3}, \frac{14}{3}, 4
  assert log.correct[1].tolist() == [True, True, True, False]
  assert log.answer[1].tolist() == [0, 0, 0, 1]
  # doc 2, (3, pi/2) in three spellings; "I am not sure." has no answer
  assert log.correct[2].tolist() == [True, True, False, False]
  # doc 3, GSM8K target "... #### 72": "The answer is 72 apples." is 72
  assert log.correct[3].tolist() == [True, False, True, True]
  # doc 4, 42 \text{ inches} is 42
  assert log.correct[4].tolist() == [True, True, False, True]
  # the harness's own exact_match scored doc 0 and 1's first sample 0: it is not a symbolic grader
  rows = _harness_rows("lm_eval_samples_jt_math.jsonl")
  assert rows[0]["exact_match"] == 0.0 and log.correct[0, 0]


@needs_mv
def test_harness_filters_and_formats():
  path = DATA / "lm_eval_samples_jt_math.jsonl"
  a = logs.load_lm_eval(path)
  b = logs.load_lm_eval(path, filter="maj@4")   # the same samples, another filter's rows
  np.testing.assert_array_equal(a.correct, b.correct)
  with pytest.raises(ValueError, match=r"^filter 'strict-match' is not in this file; it holds "
                                       r"filters \['take-first', 'maj@4'\]$"):
    logs.load_lm_eval(path, filter="strict-match")
  old = logs.load_lm_eval(DATA / "lm_eval_0.4.2_jt_math.jsonl")   # pre-0.4.3 JSON array
  for f in logs.SampleLog._fields:
    np.testing.assert_array_equal(getattr(old, f), getattr(a, f), err_msg=f)
  with pytest.raises(ValueError, match="pre-0.4.3 JSON-array format records no filter"):
    logs.load_lm_eval(DATA / "lm_eval_0.4.2_jt_math.jsonl", filter="take-first")
  once = logs.load_lm_eval(DATA / "lm_eval_samples_jt_math_once.jsonl")   # no repeats
  assert once.correct.shape == (6, 1)


@needs_mv
def test_harness_list_targets_accept_any_answer():
  assert json.loads((DATA / "lm_eval_samples_jt_list.jsonl").read_text().splitlines()[0])[
      "target"] == "['red', 'blue', 'yellow']"          # as the harness writes it
  log = logs.load_lm_eval(DATA / "lm_eval_samples_jt_list.jsonl")
  assert log.correct.tolist() == [[True, False, True], [True, True, False]]
  assert logs.references("[1, 2]") == ["[1, 2]"]       # an interval, not a list of answers
  assert logs.references("['a', 'b']") == ["a", "b"]
  assert logs.references("Natalia ... #### 1,000") == ["1,000"]
  assert logs.references("\\frac{1}{2}") == ["\\frac{1}{2}"]
  assert logs.references("(1,2)") == ["(1,2)"]


@pytest.mark.parametrize("name, kind", [
    ("lm_eval_samples_jt_mc.jsonl", "loglikelihood requests \\(a multiple-choice or "
                                    "perplexity task\\)"),
    ("lm_eval_samples_jt_ppl.jsonl", "loglikelihood_rolling requests \\(a perplexity task\\)"),
])
def test_harness_refuses_what_holds_no_samples(name, kind):
  with pytest.raises(ValueError) as e:
    logs.load_lm_eval(DATA / name)
  msg = str(e.value)
  assert "\n" not in msg
  assert msg.startswith("line 1: field 'arguments': this log holds ")
  import re
  assert re.search(kind + "; jaxtick replays generated samples", msg)


@needs_mv
def test_search_and_learn_approaches_tokens_and_iid():
  bon = logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl")
  assert bon.iid and bon.tokens_known
  np.testing.assert_array_equal(bon.tokens[0], [100, 107, 114, 121])
  np.testing.assert_allclose(bon.reward[0], [0.3, 0.4, 0.5, 0.6])   # last step score
  for name in ("sal_beam_search.jsonl", "sal_dvts.jsonl"):   # 0 / -1 completion_tokens
    log = logs.load_search_and_learn(DATA / name)
    assert not log.iid and not log.tokens_known and (log.tokens == 0).all()
    np.testing.assert_array_equal(log.correct, bon.correct)
  forced = logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl", approach="beam_search")
  assert not forced.iid and forced.tokens_known
  pq = logs.load_search_and_learn(DATA / "sal_best_of_n.parquet")
  for f in logs.SampleLog._fields:
    np.testing.assert_array_equal(getattr(pq, f), getattr(bon, f), err_msg=f)


def test_unknown_tokens_replay_samples_but_refuse_a_token_cost():
  log = logs.load_search_and_learn(DATA / "sal_dvts.jsonl")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pool = logs.replay_pool(log)                        # sample counts: fine
    assert not pool.tokens_known
    with pytest.raises(ValueError, match=r"^field 'tokens': this log's token counts are "
                                         r"unknown .*a token budget cannot be replayed"):
      logs.replay_pool(log, cost="tokens")
  with pytest.raises(ValueError, match="field 'tokens'"):
    logs.require_tokens(pool)
  logs.require_tokens(logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl"))


def test_non_iid_replay_warns_once(monkeypatch):
  monkeypatch.setattr(logs._core, "_NON_IID_WARNED", False)
  log = logs.load_search_and_learn(DATA / "sal_beam_search.jsonl", grader="exact")
  with pytest.warns(UserWarning, match="not independent draws"):
    logs.replay_pool(log)
  iid = logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl", grader="exact")
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    logs.replay_pool(log)                               # once
    logs.replay_pool(iid)


class _StandInDataset:
  """What the loaders use of a datasets.Dataset: column_names and row iteration."""

  def __init__(self, rows):
    self.rows = rows
    self.column_names = list(rows[0])

  def __iter__(self):
    return iter(self.rows)

  def __len__(self):
    return len(self.rows)


@needs_mv
def test_search_and_learn_dataset_objects_duck_typed():
  rows = [json.loads(x) for x in (DATA / "sal_best_of_n.jsonl").read_text().splitlines()]
  want = logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl")
  ds = _StandInDataset([dict(r, completion_tokens=np.asarray(r["completion_tokens"]))
                        for r in rows])            # NumPy values, as format="numpy" gives
  got = logs.load_search_and_learn(ds)
  np.testing.assert_array_equal(got.correct, want.correct)
  np.testing.assert_array_equal(got.tokens, want.tokens)
  got = logs.load_search_and_learn({"train": ds})   # a DatasetDict
  np.testing.assert_array_equal(got.answer, want.answer)
  with pytest.raises(ValueError, match=r"split: the DatasetDict holds splits \['test', 'train'\]"):
    logs.load_search_and_learn({"train": ds, "test": ds})
  with pytest.raises(ValueError, match="split 'dev' is not in the DatasetDict"):
    logs.load_search_and_learn({"train": ds}, split="dev")
  bad = _StandInDataset([dict(rows[0]), dict(rows[1], scores=[[2.0]] * 4)])
  with pytest.raises(ValueError, match=r"^row 1: field 'scores\[0\]'\[0\] = 2.0 is outside"):
    logs.load_search_and_learn(bad)


@needs_mv
def test_search_and_learn_real_dataset_if_installed(tmp_path):
  datasets = pytest.importorskip("datasets")
  rows = [json.loads(x) for x in (DATA / "sal_best_of_n.jsonl").read_text().splitlines()]
  ds = datasets.Dataset.from_list(rows)
  want = logs.load_search_and_learn(DATA / "sal_best_of_n.jsonl")
  for src in (ds, datasets.DatasetDict({"train": ds})):
    np.testing.assert_array_equal(logs.load_search_and_learn(src).correct, want.correct)


@needs_mv
def test_columns_loader(tmp_path):
  rows = [{"prompt": "p0", "gold": "\\frac{1}{2}", "texts": ["\\boxed{0.5}", "\\boxed{2}"],
           "rm": [0.9, 0.2], "ntok": [10, 20], "secs": [0.5, 0.7]},
          {"prompt": "p1", "gold": 72, "texts": ["The answer is 72 apples."],
           "rm": [0.8], "ntok": [5], "secs": [0.1]}]
  path = tmp_path / "gen.jsonl"
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  log = logs.load_columns(path, query="prompt", reference="gold", responses="texts",
                          rewards="rm", tokens="ntok", latency="secs")
  assert log.correct.tolist() == [[True, False], [True, False]]
  np.testing.assert_allclose(log.reward, [[0.9, 0.2], [0.8, 0]])
  np.testing.assert_array_equal(log.tokens, [[10, 20], [5, 0]])
  np.testing.assert_allclose(log.latency, [[0.5, 0.7], [0.1, 0]])
  assert log.query_id.tolist() == ["p0", "p1"] and log.tokens_known and log.iid
  bare = logs.load_columns(path, reference="gold", responses="texts", iid=False)
  assert not bare.tokens_known and not bare.iid
  np.testing.assert_array_equal(bare.reward, bare.correct)   # no reward model: correctness
  pytest.importorskip("pyarrow")
  import pyarrow as pa
  import pyarrow.parquet as pq
  pq.write_table(pa.Table.from_pylist([dict(r, gold=str(r["gold"])) for r in rows]),
                 tmp_path / "gen.parquet")
  pql = logs.load_columns(tmp_path / "gen.parquet", reference="gold", responses="texts",
                          tokens="ntok")
  np.testing.assert_array_equal(pql.correct, log.correct)
  with pytest.raises(ValueError, match="^line 1: missing field 'answers'$"):
    logs.load_columns(path, reference="gold", responses="answers")
  with pytest.raises(ValueError, match="^line 2: field 'ntok' has 1 entries; expected 2"):
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[1], dict(rows[0], ntok=[1])]))
    logs.load_columns(path, reference="gold", responses="texts", tokens="ntok")
  with pytest.raises(ValueError, match="reference: name the reference-answer column"):
    logs.load_columns(path, responses="texts")


def test_exact_fallback_warns_once_for_math_logs(monkeypatch):
  monkeypatch.setattr(answers, "has_math_verify", lambda: False)
  with pytest.warns(UserWarning, match="exact-match fallback") as rec:
    log = logs.load_lm_eval(DATA / "lm_eval_samples_jt_math.jsonl")
  assert len([w for w in rec if "exact-match" in str(w.message)]) == 1
  assert log.correct[0].tolist() == [True, False, False, False]   # the fallback's verdicts
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    logs.load_lm_eval(DATA / "lm_eval_samples_jt_math.jsonl", grader="exact")   # chosen: quiet
