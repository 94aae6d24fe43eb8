"""search-and-learn's outputs as it writes and publishes them."""

from __future__ import annotations

from typing import Callable

import numpy as np

from jaxtick.problems import answers as _answers
from jaxtick.problems.logs._core import (MAX_FILE_BYTES, MAX_LINE_BYTES, SampleLog, _Rows,
                                         _fail, _get, _list, _numbers, _str,
                                         aggregate_scores)
from jaxtick.problems.logs._grading import Grading
from jaxtick.problems.logs._tables import table_rows

APPROACHES = ("best_of_n", "beam_search", "dvts")


def _tokens(obj, n, k):
  """``completion_tokens`` as N counts, or None when they are unknown: missing,
  a scalar <= 0 (DVTS writes -1), all 0 (beam search writes 0) or any < 0."""
  v = obj.get("completion_tokens")
  if v is None:
    return None
  if isinstance(v, (int, float)) and not isinstance(v, bool):
    if v <= 0:
      return None
    _fail(f"field 'completion_tokens' must be a list of {n} counts (or a number <= 0 "
          f"for unknown, as DVTS writes -1), got {v!r}", k)
  t = _numbers(_list(obj, "completion_tokens", k, n), "completion_tokens", k)
  if (t < 0).any() or (t.size and (t == 0).all()):
    return None
  return t


def load_search_and_learn(source, *, approach: str | None = None, agg: str = "last",
                          grader: str = "auto",
                          extract: Callable[[str], str | None] = _answers.extract_answer,
                          split: str | None = None,
                          max_line_bytes: int = MAX_LINE_BYTES,
                          max_file_bytes: int = MAX_FILE_BYTES) -> SampleLog:
  """Reads search-and-learn's completions: one row per problem.

  Columns read (others, e.g. ``pred``, ``level``, ``pred_maj@4``, ignored):
  ``problem`` (str), ``answer`` (the reference answer: str or number, graded as
  an answer, never re-extracted), ``completions`` (N str), ``scores`` (N
  non-empty lists of per-step PRM scores in [0, 1]) and ``completion_tokens``
  (N counts; optional). A completion's reward is its step scores aggregated as
  search-and-learn's ``aggregate_scores`` does; its answer is ``extract`` of
  its text (default :func:`jaxtick.problems.answers.extract_answer`, whose
  first rule is the last ``\\boxed{}``); correctness and answer ids come from
  :func:`jaxtick.problems.answers.grade` with ``grader``.

  Token counts are *unknown* (``tokens_known=False``) when the column is
  missing, all 0 on a row (``beam_search`` writes 0, an upstream bug) or
  negative (``dvts`` writes ``-1``); a token budget then raises, sample
  budgets replay.

  Args:
    source: a JSONL file (``save_dataset``'s output), a Parquet file (the
      Hub's ``push_to_hub`` format; needs pyarrow), or a ``datasets.Dataset``
      / ``DatasetDict`` passed directly (duck-typed; ``datasets`` is not
      imported).
    approach: ``"best_of_n"`` (i.i.d. samples), ``"beam_search"`` or
      ``"dvts"`` (not i.i.d.: beams are copied to reach N; DVTS completions
      come in blocks from one subtree). None infers it from what the approach
      writes into ``completion_tokens``: negative -> dvts, 0 on every row ->
      beam_search, else best_of_n; pass it to be sure.
    agg: ``"last"`` (search-and-learn's default), ``"min"`` or ``"prod"``.
    grader: ``"auto"`` (math-verify if installed; else the exact-match
      fallback, with one warning for MATH-style references), ``"math_verify"``
      or ``"exact"``.
    extract: final answer from a completion's text.
    split: the split of a ``DatasetDict`` (None: its only split).
    max_line_bytes: longest JSONL line accepted.
    max_file_bytes: cap on a Parquet file's (uncompressed) size.

  Returns:
    a :class:`SampleLog` (``iid`` from ``approach``).
  """
  if agg not in ("last", "min", "prod"):
    raise ValueError(f"agg must be 'last', 'min' or 'prod', got {agg!r}")
  if approach is not None and approach not in APPROACHES:
    raise ValueError(f"approach must be None or one of {APPROACHES}, got {approach!r}")
  grading = Grading(grader, "search-and-learn")
  rows = _Rows()
  known, negative, zero_rows, num_rows = True, False, 0, 0
  for k, obj in table_rows(source, split=split, max_line_bytes=max_line_bytes,
                           max_file_bytes=max_file_bytes):
    if not isinstance(obj, dict):
      _fail(f"expected a row of named columns, got {type(obj).__name__}", k)
    problem = _str(_get(obj, "problem", k), "problem", k)
    gold = _get(obj, "answer", k)
    if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
      _fail(f"field 'answer' must be a string or number, got {type(gold).__name__}", k)
    gold = str(gold).strip()
    if not gold:
      _fail("field 'answer' is empty", k)
    comps = _list(obj, "completions", k)
    n = len(comps)
    scores = _list(obj, "scores", k, n)
    raw = obj.get("completion_tokens")
    toks = _tokens(obj, n, k)
    num_rows += 1
    if toks is None:
      known = False
      vals = raw if isinstance(raw, list) else [raw]
      negative |= any(isinstance(x, (int, float)) and x < 0 for x in vals)
      zero_rows += isinstance(raw, list) and all(x == 0 for x in raw)
    reward, extracted = [], []
    for i, (c, s) in enumerate(zip(comps, scores)):
      _str(c, f"completions[{i}]", k)
      if not isinstance(s, list) or not s:
        _fail(f"field 'scores[{i}]' must be a non-empty list of step scores", k)
      s = _numbers(s, f"scores[{i}]", k, 0.0, 1.0)
      reward.append(aggregate_scores(s, agg))
      extracted.append(extract(c))
    g = grading(extracted, gold)
    qid = obj.get("unique_id")
    qid = qid if isinstance(qid, str) else problem[:200]
    rows.add(g.correct, reward, g.answer_id, np.zeros(n) if toks is None else toks,
             qid=qid)
  if approach is None:
    approach = ("dvts" if negative else
                "beam_search" if num_rows and zero_rows == num_rows else "best_of_n")
  return rows.build("search-and-learn", tokens_known=known, iid=approach == "best_of_n")
