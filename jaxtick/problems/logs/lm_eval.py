"""lm-evaluation-harness ``--log_samples`` files as the harness writes them."""

from __future__ import annotations

import ast
import json
import os
import re
from typing import Callable

from jaxtick.problems import answers as _answers
from jaxtick.problems.logs._core import (MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_SAMPLES,
                                         SampleLog, _fail, _get, _lines, _list, _Rows, _str)
from jaxtick.problems.logs._grading import Grading

_REQUEST_KINDS = {
    "loglikelihood": "loglikelihood requests (a multiple-choice or perplexity task)",
    "loglikelihood_rolling": "loglikelihood_rolling requests (a perplexity task)",
}


def _words(text):
  return len(text.split())


def _requests(args, k):
  """The ``arguments`` field as a list of per-request argument lists.

  0.4.3 and later write ``{"gen_args_0": {"arg_0": ..., "arg_1": ...}, ...}``;
  0.4.2 and earlier wrote the argument tuples as lists ``[[arg_0, arg_1], ...]``.
  """
  if isinstance(args, dict):
    reqs = []
    for key in sorted(args, key=lambda s: (len(str(s)), str(s))):
      v = args[key]
      if not (isinstance(key, str) and key.startswith("gen_args_") and isinstance(v, dict)):
        _fail(f"field 'arguments' must map 'gen_args_<i>' to {{'arg_<j>': ...}}, "
              f"got key {str(key)[:40]!r}", k)
      reqs.append([v[f"arg_{j}"] for j in range(len(v)) if f"arg_{j}" in v])
    return reqs
  if isinstance(args, list) and all(isinstance(r, list) for r in args):
    return args
  _fail("field 'arguments' must be a dict of 'gen_args_<i>' (harness >= 0.4.3) or a list "
        f"of argument lists (<= 0.4.2), got {type(args).__name__}", k)


def request_type(args) -> str:
  """The harness request type of one request's arguments: ``generate_until``
  (a context and a dict of generation kwargs), ``loglikelihood`` (context and
  continuation), ``loglikelihood_rolling`` (one text) or ``unknown``."""
  if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], dict):
    return "generate_until"
  if len(args) == 2 and all(isinstance(a, str) for a in args):
    return "loglikelihood"
  if len(args) == 1 and isinstance(args[0], str):
    return "loglikelihood_rolling"
  return "unknown"


def _check_generate_until(obj, k):
  reqs = _requests(_get(obj, "arguments", k), k)
  if not reqs:
    _fail("field 'arguments' is empty", k)
  for r in reqs:
    kind = request_type(r)
    if kind != "generate_until":
      what = _REQUEST_KINDS.get(kind, "requests that are not generate_until")
      _fail(f"field 'arguments': this log holds {what}; jaxtick replays generated samples "
            "(generate_until requests)", k)


_LIST_LITERAL = re.compile(r"^\[\s*(['\"]).*\]$", re.S)


def references(target, where=None) -> list:
  """The accepted answers of one ``target`` field, as the harness writes it.

  - The harness (>= 0.4.3) writes ``str(target)``: a list of accepted answers
    arrives as the text ``"['a', 'b']"`` and is read back as that list (only
    a list of *strings*: ``"[1, 2]"`` stays one answer, an interval); 0.4.2
    wrote the list itself.
  - Each answer is graded as it stands, never re-extracted as if it were a
    solution (``\\frac{1}{2}`` stays ``\\frac{1}{2}``), with two exceptions:
    a GSM8K-style solution keeps the text after its last ``####`` (the
    harness's ``regexes_to_ignore: "(?s).*#### "``), and a solution holding
    ``\\boxed{...}`` keeps the boxed content.
  """
  if isinstance(target, bool):
    _fail(f"field 'target' must be a string, number or list, got {target!r}", where)
  if isinstance(target, (int, float)):
    target = str(target)
  if isinstance(target, str):
    t = target.strip()
    refs = [t]
    if _LIST_LITERAL.match(t):
      try:
        v = ast.literal_eval(t)
      except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        v = None
      if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        refs = v
  elif isinstance(target, list) and target:
    refs = []
    for i, x in enumerate(target):
      if isinstance(x, bool) or not isinstance(x, (str, int, float)):
        _fail(f"field 'target[{i}]' must be a string or number, got {type(x).__name__}",
              where)
      refs.append(str(x))
  else:
    _fail("field 'target' must be a string, number or non-empty list, got "
          f"{type(target).__name__}", where)
  out = []
  for r in refs:
    r = r.strip()
    if "####" in r:
      r = r.split("####")[-1].strip()
    elif "\\boxed" in r or "\\fbox" in r:
      r = (_answers.extract_boxed(r) or r).strip()
    if r:
      out.append(r)
  if not out:
    _fail(f"field 'target' holds no answer (got {str(target)[:60]!r})", where)
  return out


def _json_array(path, max_file_bytes):
  """The rows of a pre-0.4.3 samples file (one indented JSON array)."""
  size = os.path.getsize(path)
  if size > max_file_bytes:
    _fail(f"the file is {size} bytes; the cap for the pre-0.4.3 JSON-array format is "
          f"{max_file_bytes} (max_file_bytes)")
  try:
    with open(path, "rb") as f:
      data = json.loads(f.read().decode("utf-8"))
  except UnicodeDecodeError as e:
    _fail(f"pre-0.4.3 JSON-array file: not valid UTF-8 ({e.reason} at byte {e.start})")
  except RecursionError:
    _fail("pre-0.4.3 JSON-array file: JSON nested too deeply")
  except ValueError as e:
    _fail(f"pre-0.4.3 JSON-array file: not valid JSON ({e}); a truncated file ends this way")
  if not isinstance(data, list):
    _fail(f"pre-0.4.3 JSON-array file: expected a JSON array, got {type(data).__name__}")
  for i, obj in enumerate(data):
    where = f"entry {i + 1}"
    if not isinstance(obj, dict):
      _fail(f"expected a JSON object, got {type(obj).__name__}", where)
    yield where, obj


def _first_byte(path):
  try:
    with open(path, "rb") as f:
      head = f.read(4096)
  except OSError as e:
    raise ValueError(f"cannot read {str(path)!r} ({e.strerror})") from None
  head = head.lstrip()
  return head[:1]


def load_lm_eval(path, *, filter: str | None = None, grader: str = "auto",
                 extract: Callable[[str], str | None] = _answers.extract_answer,
                 count_tokens: Callable[[str], int] = _words,
                 max_line_bytes: int = MAX_LINE_BYTES,
                 max_file_bytes: int = MAX_FILE_BYTES) -> SampleLog:
  """Reads an lm-evaluation-harness ``--log_samples`` file.

  Formats: the JSONL that harness 0.4.3 and later write
  (``samples_<task>_<date>.jsonl``, one row per document and filter), and the
  single indented JSON array of harness 0.4.2 and earlier
  (``<model_args>_<task>.jsonl``, rows without ``filter``; each filter's
  block repeats the same samples, so the first row of each ``doc_id`` is read).

  Per row: ``doc_id`` (int); ``arguments`` (the request type: only
  ``generate_until`` rows are samples; a log of ``loglikelihood`` or
  ``loglikelihood_rolling`` requests, i.e. a multiple-choice or perplexity
  task, is refused with a message naming them); ``target`` (the reference,
  see :func:`references`: any accepted answer counts); ``resps`` (per request,
  the list of its repeated samples, flattened in order); ``filter``.
  ``filtered_resps`` and the metrics are not used: they score the *filtered*
  output, not each sample. Each sample's answer is ``extract`` of its text;
  correctness and answer ids come from :func:`jaxtick.problems.answers.grade`;
  reward = correctness (the harness logs no reward model); tokens =
  ``count_tokens`` of the text (whitespace words by default). The repeats of
  one request are independent draws, so the log is i.i.d.

  Args:
    path: the samples file.
    filter: the ``filter`` whose rows are read (None: the first row's); one
      the file lacks is refused with the filters it has.
    grader: ``"auto"``, ``"math_verify"`` or ``"exact"`` (see
      :func:`jaxtick.problems.answers.resolve_grader`).
    extract: final answer from a sample's text.
    count_tokens: tokens of a sample's text.
    max_line_bytes: longest JSONL line accepted.
    max_file_bytes: largest pre-0.4.3 JSON-array file accepted (it is parsed whole).
  """
  if isinstance(max_file_bytes, bool) or not isinstance(max_file_bytes, int) \
      or max_file_bytes < 1:
    raise ValueError(f"max_file_bytes must be a positive int, got {max_file_bytes!r}")
  legacy = _first_byte(path) == b"["
  if legacy and filter is not None:
    raise ValueError(f"filter={filter!r}: the pre-0.4.3 JSON-array format records no filter "
                     "names; pass filter=None (the samples are the same for every filter)")
  source = _json_array(path, max_file_bytes) if legacy else _lines(path, max_line_bytes)
  grading = Grading(grader, "lm-evaluation-harness")
  rows = _Rows()
  seen = set()
  filters: list = []
  chosen = filter
  for k, obj in source:
    f = obj.get("filter", None)
    if f is not None and not isinstance(f, str):
      _fail(f"field 'filter' must be a string, got {type(f).__name__}", k)
    if f not in filters:
      filters.append(f)
    _check_generate_until(obj, k)
    if chosen is None:
      chosen = f
    if f != chosen:
      continue
    doc = _get(obj, "doc_id", k)
    if isinstance(doc, bool) or not isinstance(doc, int):
      _fail(f"field 'doc_id' must be an int, got {type(doc).__name__}", k)
    if doc in seen:
      if legacy:
        continue
      _fail(f"field 'doc_id' {doc} appears twice for filter {chosen!r}", k)
    seen.add(doc)
    refs = references(_get(obj, "target", k), k)
    resps = _list(obj, "resps", k)
    texts = []
    for i, r in enumerate(resps):
      if not isinstance(r, list):
        _fail(f"field 'resps[{i}]' must be a list of generated strings, got "
              f"{type(r).__name__}", k)
      for j, t in enumerate(r):
        texts.append(_str(t, f"resps[{i}][{j}]", k))
    if len(texts) > MAX_SAMPLES:
      _fail(f"field 'resps' holds {len(texts)} samples; at most {MAX_SAMPLES}", k)
    if "filtered_resps" in obj:
      _list(obj, "filtered_resps", k)
    g = grading([extract(t) for t in texts], refs)
    toks = []
    for t in texts:
      c = count_tokens(t)
      if isinstance(c, bool) or not isinstance(c, (int, float)) or not c >= 0:
        raise ValueError(f"count_tokens must return a number >= 0, got {c!r}")
      toks.append(c)
    rows.add(g.correct, [float(c) for c in g.correct], g.answer_id, toks, qid=str(doc))
  if filter is not None and filter not in filters:
    names = [x for x in filters if x is not None]
    _fail(f"filter {filter!r} is not in this file; it holds filters {names}")
  return rows.build("lm-evaluation-harness")
