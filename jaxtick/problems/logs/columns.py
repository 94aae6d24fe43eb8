"""Anything else: a user's own table of generations, by naming its columns."""

from __future__ import annotations

from typing import Callable

import numpy as np

from jaxtick.problems import answers as _answers
from jaxtick.problems.logs._core import (MAX_FILE_BYTES, MAX_LINE_BYTES, SampleLog, _Rows,
                                         _fail, _get, _list, _numbers, _str)
from jaxtick.problems.logs._grading import Grading
from jaxtick.problems.logs._tables import table_rows


def load_columns(source, *, responses: str, reference: str | None = None,
                 query: str | None = None, rewards: str | None = None,
                 tokens: str | None = None, latency: str | None = None,
                 correct: str | None = None, iid: bool = True, grader: str = "auto",
                 extract: Callable[[str], str | None] = _answers.extract_answer,
                 split: str | None = None, max_line_bytes: int = MAX_LINE_BYTES,
                 max_file_bytes: int = MAX_FILE_BYTES) -> SampleLog:
  """Reads a table of generations with one row per query, its columns named.

  For example vLLM output saved as JSONL with ``{"prompt": ..., "gold": ...,
  "texts": [...], "num_tokens": [...]}`` per line::

      load_columns("gen.jsonl", query="prompt", reference="gold",
                   responses="texts", tokens="num_tokens")

  Args:
    source: a JSONL or Parquet file, or a ``datasets.Dataset`` / ``DatasetDict``
      (see :mod:`jaxtick.problems.logs`).
    responses: column of N response texts per row (list of str).
    reference: column of the reference answer (a str or number, graded as an
      answer, or a list of accepted answers). Needed unless ``correct`` is given.
    query: column of a query name (str or int), or None.
    rewards: column of N reward-model scores (numbers), or None: reward =
      correctness (a ground-truth oracle).
    tokens: column of N token counts (numbers >= 0), or None: token costs
      unknown (``tokens_known=False``; a token budget then raises).
    latency: column of N latencies in seconds (numbers >= 0), or None.
    correct: column of N booleans that overrides grading against ``reference``
      (answer ids still group the extracted answers), or None.
    iid: whether each row's responses are independent draws (False for tree
      search outputs; :func:`replay_pool` then warns once).
    grader, extract: as in :func:`load_search_and_learn`.
    split: the split of a ``DatasetDict``.
    max_line_bytes, max_file_bytes: size caps (JSONL line; Parquet file).
  """
  named = {"responses": responses, "reference": reference, "query": query,
           "rewards": rewards, "tokens": tokens, "latency": latency, "correct": correct}
  for arg, col in named.items():
    if col is not None and not isinstance(col, str):
      raise ValueError(f"{arg} must be a column name (str) or None, got {col!r}")
  if reference is None and correct is None:
    raise ValueError("reference: name the reference-answer column (or a 'correct' column)")
  if not isinstance(iid, bool):
    raise ValueError(f"iid must be True or False, got {iid!r}")
  grading = Grading(grader, "columns")
  rows = _Rows()
  for k, obj in table_rows(source, split=split, max_line_bytes=max_line_bytes,
                           max_file_bytes=max_file_bytes):
    if not isinstance(obj, dict):
      _fail(f"expected a row of named columns, got {type(obj).__name__}", k)
    texts = _list(obj, responses, k)
    n = len(texts)
    for i, t in enumerate(texts):
      _str(t, f"{responses}[{i}]", k)
    extracted = [extract(t) for t in texts]
    if reference is not None:
      gold = _get(obj, reference, k)
      if isinstance(gold, list) and gold and all(
          isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in gold):
        refs = [str(x).strip() for x in gold]
      elif isinstance(gold, (str, int, float)) and not isinstance(gold, bool):
        refs = [str(gold).strip()]
      else:
        _fail(f"field {reference!r} must be a string, number or list of them, got "
              f"{type(gold).__name__}", k)
      if not all(refs):
        _fail(f"field {reference!r} is empty", k)
      g = grading(extracted, refs)
      ok, ids = g.correct, g.answer_id
    else:
      g = _answers.grade(extracted, None, grader=grading.grader)
      ok, ids = None, g.answer_id
    if correct is not None:
      ok = _list(obj, correct, k, n)
      for i, c in enumerate(ok):
        if not isinstance(c, bool):
          _fail(f"field {correct!r}[{i}] must be true or false, got {c!r}", k)
    reward = (np.asarray(ok, float) if rewards is None
              else _numbers(_list(obj, rewards, k, n), rewards, k))
    toks = np.zeros(n) if tokens is None else _numbers(_list(obj, tokens, k, n), tokens, k,
                                                        lo=0)
    lat = None if latency is None else _numbers(_list(obj, latency, k, n), latency, k, lo=0)
    qid = None
    if query is not None:
      qid = _get(obj, query, k)
      if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        _fail(f"field {query!r} must be a string or int, got {type(qid).__name__}", k)
      qid = str(qid)[:200]
    rows.add(ok, reward, ids, toks, lat, qid=qid)
  return rows.build("columns", tokens_known=tokens is not None, iid=iid)
