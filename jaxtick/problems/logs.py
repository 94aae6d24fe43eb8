"""Logged LLM samples: loaders for the files users already have, and replay.

Three formats are read, every one as an *untrusted* file: every field is
checked (type, shape, range, NaN, ragged rows) and the first problem raises a
``ValueError`` naming the field and, for JSONL, the 1-based line; nothing is
unpickled (``np.load(..., allow_pickle=False)``: a file holding Python objects
is refused). A line longer than ``max_line_bytes`` (default
:data:`MAX_LINE_BYTES`, 16 MiB) is refused before it is parsed. This module and
its loaders are the one place in ``jaxtick`` that reads files. Every line
must end with a newline, so a file cut inside a line is refused as truncated
(one cut exactly at a line boundary cannot be told from a shorter file).

1. **search-and-learn completions JSONL** (:func:`load_search_and_learn`), one
   row per problem, as written by huggingface/search-and-learn's best-of-N and
   beam-search pipelines (vLLM generation, PRM scoring):
   ``problem`` (str), ``answer`` (str, the reference answer), ``completions``
   (list of N str), ``scores`` (N lists of per-step PRM scores in [0, 1]),
   ``completion_tokens`` (N ints >= 0). Other keys (``pred``, ``level``, ...)
   are ignored. A completion's reward is its step scores aggregated as
   search-and-learn's ``aggregate_scores`` does (``"last"``, the default,
   ``"min"`` or ``"prod"``); its answer is the content of its last
   ``\\boxed{...}`` (:func:`extract_boxed`), normalised by
   :func:`normalize_answer`; it is correct if that equals the normalised
   reference. A completion without a boxed answer gets the answer text
   ``""`` (one shared "invalid" answer) and is wrong.
2. **lm-evaluation-harness ``--log_samples`` JSONL** (:func:`load_lm_eval`),
   one row per document and filter: ``doc_id`` (int), ``target`` (str or
   number), ``resps`` (list of lists of str: the repeated samples, flattened in
   order), ``filtered_resps`` and per-sample metrics (checked to be present
   only when ``strict``; not used: they score the *filtered* output, not each
   sample). Only the rows of one ``filter`` are read (default: the first row's).
   Each sample's answer is :func:`extract_answer` (last ``\\boxed{}``, else
   "answer is X", else the last number) of its text, normalised; reward =
   correctness (a ground-truth oracle: the harness logs no reward model);
   tokens = whitespace-separated words unless ``count_tokens`` is given.
3. **our own format**, as ``.npz`` (:func:`save_npz` / :func:`load_npz`; arrays
   named as the fields of :class:`SampleLog`) or JSONL (:func:`save_jsonl` /
   :func:`load_jsonl`; one object per query with lists ``correct`` (bool),
   ``reward`` (number), ``answer`` (int id or str), ``tokens`` (number >= 0),
   optional ``latency`` (number >= 0), optional ``features`` (numbers, the same
   length on every line) and optional ``query`` (str id)).

All loaders return a :class:`SampleLog`: rows padded to the longest query,
``count[q]`` the number of samples logged for query ``q``. Answers become
per-query ids ``0, 1, ...`` in order of first appearance (text) or are kept as
given (int ids, e.g. the generator's, where 0 is the correct answer).

:func:`replay_pool` turns a log into a :class:`ReplayPool` (device arrays) and
:func:`replay_response` hands out query ``x``'s ``j``-th logged sample, with
``valid = j < count[x]``: asking for more samples than were logged is never
wrapped around; the allocation code stops that query (it is *exhausted*).
"""

from __future__ import annotations

import io
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

MAX_LINE_BYTES = 16 * 2 ** 20
MAX_SAMPLES = 1 << 20  # per query
EXAMPLE_LOG = "example_samples.jsonl"
NPZ_FIELDS = ("correct", "reward", "answer", "tokens", "count", "latency",
              "features", "query_id")


class SampleLog(NamedTuple):
  """Logged samples of Q queries, padded to N = the most samples of any query.

  Attributes:
    correct: bool[Q, N] the sample is correct (False in padding).
    reward: f32[Q, N] the logged reward-oracle score (0 in padding).
    answer: i32[Q, N] per-query answer id >= 0 (-1 in padding).
    tokens: f32[Q, N] tokens of the sample, >= 0 (0 in padding).
    count: i32[Q] samples logged per query, in [0, N].
    latency: f32[Q, N] seconds per sample (0 in padding), or None.
    features: f32[Q, F] query features, or None.
    query_id: str[Q] query names (NumPy unicode array), or None.
  """

  correct: np.ndarray
  reward: np.ndarray
  answer: np.ndarray
  tokens: np.ndarray
  count: np.ndarray
  latency: np.ndarray | None = None
  features: np.ndarray | None = None
  query_id: np.ndarray | None = None


class ReplayPool(NamedTuple):
  """A :class:`SampleLog` on the device, for the allocation code.

  Attributes:
    answer: i32[Q, N]; correct: bool[Q, N]; reward: f32[Q, N];
    tokens: f32[Q, N]; count: i32[Q] (see :class:`SampleLog`).
  """

  answer: Array
  correct: Array
  reward: Array
  tokens: Array
  count: Array


# ----------------------------------------------------------------- validation


def _fail(msg, line=None):
  raise ValueError(msg if line is None else f"line {line}: {msg}")


def _array(name, a, kind, ndim):
  if not isinstance(a, np.ndarray):
    _fail(f"field {name!r} must be a NumPy array, got {type(a).__name__}")
  if a.dtype.kind not in kind:
    _fail(f"field {name!r} has dtype {a.dtype}; expected kind {kind!r}")
  if a.ndim != ndim:
    _fail(f"field {name!r} must be {ndim}-d, got shape {a.shape}")


def validate(log: SampleLog) -> SampleLog:
  """Checks every field of ``log`` and returns it in canonical dtypes.

  Raises:
    ValueError naming the first offending field.
  """
  if not isinstance(log, SampleLog):
    _fail(f"expected a SampleLog, got {type(log).__name__}")
  _array("correct", log.correct, "b", 2)
  _array("reward", log.reward, "fiu", 2)
  _array("answer", log.answer, "iu", 2)
  _array("tokens", log.tokens, "fiu", 2)
  _array("count", log.count, "iu", 1)
  q, n = log.correct.shape
  for name in ("reward", "answer", "tokens"):
    if getattr(log, name).shape != (q, n):
      _fail(f"field {name!r} has shape {getattr(log, name).shape}; expected {(q, n)} "
            "like 'correct'")
  if log.count.shape != (q,):
    _fail(f"field 'count' has shape {log.count.shape}; expected {(q,)}")
  if q < 1:
    _fail("the log holds no queries (field 'count' is empty)")
  if n > MAX_SAMPLES:
    _fail(f"field 'correct' has {n} samples per query; at most {MAX_SAMPLES} allowed")
  count = log.count.astype(np.int64)
  if (count < 0).any() or (count > n).any():
    _fail(f"field 'count' must lie in [0, {n}], got range "
          f"[{count.min()}, {count.max()}]")
  valid = np.arange(n)[None, :] < count[:, None]
  reward = log.reward.astype(np.float32)
  if not np.isfinite(reward[valid]).all():
    _fail("field 'reward' holds NaN or infinite values")
  tokens = log.tokens.astype(np.float32)
  if not (np.isfinite(tokens[valid]).all() and (tokens[valid] >= 0).all()):
    _fail("field 'tokens' must be finite and >= 0")
  answer = log.answer.astype(np.int64)
  if (answer[valid] < 0).any() or (answer[valid] >= 2 ** 31 - 1).any():
    _fail("field 'answer' must hold ids in [0, 2**31 - 1)")
  latency = features = query_id = None
  if log.latency is not None:
    _array("latency", log.latency, "fiu", 2)
    if log.latency.shape != (q, n):
      _fail(f"field 'latency' has shape {log.latency.shape}; expected {(q, n)}")
    latency = log.latency.astype(np.float32)
    if not (np.isfinite(latency[valid]).all() and (latency[valid] >= 0).all()):
      _fail("field 'latency' must be finite and >= 0")
    latency = np.where(valid, latency, 0).astype(np.float32)
  if log.features is not None:
    _array("features", log.features, "fiu", 2)
    if log.features.shape[0] != q:
      _fail(f"field 'features' has {log.features.shape[0]} rows; expected {q}")
    features = log.features.astype(np.float32)
    if not np.isfinite(features).all():
      _fail("field 'features' holds NaN or infinite values")
  if log.query_id is not None:
    _array("query_id", log.query_id, "U", 1)
    if log.query_id.shape != (q,):
      _fail(f"field 'query_id' has shape {log.query_id.shape}; expected {(q,)}")
    query_id = log.query_id
  return SampleLog(
      correct=log.correct & valid,
      reward=np.where(valid, reward, 0).astype(np.float32),
      answer=np.where(valid, answer, -1).astype(np.int32),
      tokens=np.where(valid, tokens, 0).astype(np.float32),
      count=count.astype(np.int32), latency=latency, features=features,
      query_id=query_id)


# ------------------------------------------------------------ answer parsing


def extract_boxed(text: str) -> str | None:
  """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``.

  Braces are matched, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``;
  ``\\boxed 5`` (no braces) gives ``5``. None if there is no complete one.
  """
  i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
  if i < 0:
    return None
  rest = text[i + (6 if text.startswith("\\boxed", i) else 5):]
  if rest.startswith(" ") and not rest.lstrip().startswith("{"):
    m = re.match(r"\s*([^\s$]+)", rest)
    return m.group(1) if m else None
  rest = rest.lstrip()
  if not rest.startswith("{"):
    return None
  depth = 0
  for k, ch in enumerate(rest):
    if ch == "{":
      depth += 1
    elif ch == "}":
      depth -= 1
      if depth == 0:
        return rest[1:k]
  return None


_ANSWER_IS = re.compile(r"answer is[:\s]*\$?([^\n$]*?)\$?\s*(?:\.\s*)?$", re.I | re.M)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def extract_answer(text: str) -> str | None:
  """A final answer from free text: last ``\\boxed{}``, else the text after the
  last "answer is", else the last number; None if none of them is found."""
  b = extract_boxed(text)
  if b is not None:
    return b
  found = _ANSWER_IS.findall(text)
  if found and found[-1].strip():
    return found[-1].strip()
  nums = _NUMBER.findall(text)
  return nums[-1] if nums else None


def normalize_answer(s: str) -> str:
  """A canonical form of a final answer, for exact comparison.

  Steps, in order: unwrap ``\\text{...}``/``\\mathrm{...}`` keeping the
  content; drop ``\\left``, ``\\right``, ``\\!``, ``\\,``, ``\\;``, ``\\ ``,
  ``$``, degree marks (``^\\circ``, ``^{\\circ}``), ``\\%`` and ``%``; write
  ``\\dfrac``/``\\tfrac`` as ``\\frac``; drop all whitespace; drop a trailing
  ``.``; drop a leading ``x=`` style variable assignment (one letter); drop
  thousands separators in plain numbers (``1,000`` -> ``1000``); give a
  leading zero to bare decimals (``.5`` -> ``0.5``); drop trailing zeros of a
  decimal (``2.50`` -> ``2.5``, ``3.0`` -> ``3``). The result is compared as a
  string: this is not a symbolic equivalence check (``1/2`` and
  ``\\frac{1}{2}`` stay different), which is the documented limit.
  """
  t = str(s)
  t = re.sub(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}", r"\1", t)
  for a in ("\\left", "\\right", "\\!", "\\,", "\\;", "\\ ", "$", "^{\\circ}",
            "^\\circ", "\\%", "%"):
    t = t.replace(a, "")
  t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
  t = re.sub(r"\s+", "", t)
  t = t.rstrip(".")
  t = re.sub(r"^[a-zA-Z]=", "", t)
  if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t):
    t = t.replace(",", "")
  if re.fullmatch(r"-?\.\d+", t):
    t = t.replace(".", "0.", 1)
  if re.fullmatch(r"-?\d+\.\d+", t):
    t = t.rstrip("0").rstrip(".")
  return t


def aggregate_scores(scores: Sequence[float], how: str = "last") -> float:
  """One completion's per-step PRM scores as one reward (search-and-learn's
  ``aggregate_scores``): the last step's, the minimum, or the product."""
  if how == "last":
    return float(scores[-1])
  if how == "min":
    return float(min(scores))
  if how == "prod":
    return float(math.prod(scores))
  raise ValueError(f"agg must be 'last', 'min' or 'prod', got {how!r}")


# -------------------------------------------------------------- JSONL reading


def _lines(path, max_line_bytes):
  """Yields (line number, parsed JSON object) of every non-blank line."""
  if not isinstance(max_line_bytes, int) or max_line_bytes < 1:
    raise ValueError(f"max_line_bytes must be a positive int, got {max_line_bytes!r}")
  with open(path, "rb") as f:
    for k in range(1, 2 ** 62):
      raw = f.readline(max_line_bytes + 1)
      if not raw:
        return
      body = raw[:-1] if raw.endswith(b"\n") else raw
      if len(body) > max_line_bytes:
        _fail(f"longer than the cap of {max_line_bytes} bytes (max_line_bytes)", k)
      if not raw.endswith(b"\n"):
        _fail("no final newline: the file is truncated", k)
      if not body.strip():
        continue
      try:
        obj = json.loads(raw.decode("utf-8"))
      except UnicodeDecodeError as e:
        _fail(f"not valid UTF-8 ({e.reason} at byte {e.start})", k)
      except RecursionError:
        _fail("JSON nested too deeply", k)
      except ValueError as e:
        _fail(f"not valid JSON ({e}); a truncated file ends this way", k)
      if not isinstance(obj, dict):
        _fail(f"expected a JSON object, got {type(obj).__name__}", k)
      yield k, obj


def _get(obj, key, line, required=True):
  if key not in obj:
    if required:
      _fail(f"missing field {key!r}", line)
    return None
  return obj[key]


def _list(obj, key, line, n=None, required=True):
  v = _get(obj, key, line, required)
  if v is None and not required:
    return None
  if not isinstance(v, list):
    _fail(f"field {key!r} must be a list, got {type(v).__name__}", line)
  if n is not None and len(v) != n:
    _fail(f"field {key!r} has {len(v)} entries; expected {n} (ragged row)", line)
  if len(v) > MAX_SAMPLES:
    _fail(f"field {key!r} has {len(v)} entries; at most {MAX_SAMPLES} allowed", line)
  return v


def _numbers(v, key, line, lo=-math.inf, hi=math.inf):
  out = np.empty(len(v), np.float64)
  for i, x in enumerate(v):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
      _fail(f"field {key!r}[{i}] must be a number, got {type(x).__name__}", line)
    x = float(x)
    if not math.isfinite(x):
      _fail(f"field {key!r}[{i}] is {x} (NaN or infinite)", line)
    if not lo <= x <= hi:
      _fail(f"field {key!r}[{i}] = {x} is outside [{lo}, {hi}]", line)
    out[i] = x
  return out


def _str(v, key, line):
  if not isinstance(v, str):
    _fail(f"field {key!r} must be a string, got {type(v).__name__}", line)
  return v


class _Rows:
  """Accumulates per-query samples, then pads them into a SampleLog."""

  def __init__(self):
    self.correct, self.reward, self.answer, self.tokens = [], [], [], []
    self.latency, self.features, self.ids = [], [], []

  def add(self, correct, reward, answers, tokens, latency=None, features=None,
          qid=None):
    ids = {}
    if answers and all(isinstance(a, int) for a in answers):
      aid = [int(a) for a in answers]
    else:
      aid = [ids.setdefault(a, len(ids)) for a in answers]
    self.correct.append(np.asarray(correct, bool))
    self.reward.append(np.asarray(reward, np.float64))
    self.answer.append(np.asarray(aid, np.int64))
    self.tokens.append(np.asarray(tokens, np.float64))
    self.latency.append(latency)
    self.features.append(features)
    self.ids.append(qid)

  def build(self, what):
    q = len(self.correct)
    if q == 0:
      _fail(f"{what}: the file holds no rows")
    n = max(len(c) for c in self.correct)

    def pad(rows, dtype, fill):
      out = np.full((q, n), fill, dtype)
      for i, r in enumerate(rows):
        out[i, :len(r)] = r
      return out

    count = np.array([len(c) for c in self.correct], np.int32)
    latency = None
    if any(x is not None for x in self.latency):
      if any(x is None for x in self.latency):
        _fail("field 'latency' is on some rows but not on others")
      latency = pad(self.latency, np.float64, 0.0)
    features = None
    if any(x is not None for x in self.features):
      if any(x is None for x in self.features):
        _fail("field 'features' is on some rows but not on others")
      features = np.stack(self.features)
    qid = None
    if any(x is not None for x in self.ids):
      qid = np.array([("" if x is None else x) for x in self.ids], str)
    return validate(SampleLog(
        correct=pad(self.correct, bool, False), reward=pad(self.reward, np.float64, 0),
        answer=pad(self.answer, np.int64, -1), tokens=pad(self.tokens, np.float64, 0),
        count=count, latency=latency, features=features, query_id=qid))


# ------------------------------------------------------------------- loaders


def load_search_and_learn(path, *, agg: str = "last",
                          max_line_bytes: int = MAX_LINE_BYTES) -> SampleLog:
  """Reads a search-and-learn completions JSONL file (see the module docstring).

  Args:
    path: the file.
    agg: how per-step PRM scores become one reward: ``"last"``, ``"min"``, ``"prod"``.
    max_line_bytes: longest line accepted.

  Returns:
    a :class:`SampleLog` (answers as per-query ids of normalised answer text).
  """
  if agg not in ("last", "min", "prod"):
    raise ValueError(f"agg must be 'last', 'min' or 'prod', got {agg!r}")
  rows = _Rows()
  for k, obj in _lines(path, max_line_bytes):
    problem = _str(_get(obj, "problem", k), "problem", k)
    gold = _get(obj, "answer", k)
    if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
      _fail(f"field 'answer' must be a string or number, got {type(gold).__name__}", k)
    comps = _list(obj, "completions", k)
    n = len(comps)
    scores = _list(obj, "scores", k, n)
    toks = _numbers(_list(obj, "completion_tokens", k, n), "completion_tokens", k, lo=0)
    gold_n = normalize_answer(str(gold))
    answers, correct, reward = [], [], []
    for i, (c, s) in enumerate(zip(comps, scores)):
      _str(c, f"completions[{i}]", k)
      if not isinstance(s, list) or not s:
        _fail(f"field 'scores[{i}]' must be a non-empty list of step scores", k)
      s = _numbers(s, f"scores[{i}]", k, 0.0, 1.0)
      reward.append(aggregate_scores(s, agg))
      b = extract_boxed(c)
      a = "" if b is None else normalize_answer(b)
      answers.append(a)
      correct.append(b is not None and a == gold_n)
    rows.add(correct, reward, answers, toks, qid=problem[:200])
  return rows.build("search-and-learn")


def _words(text):
  return len(text.split())


def load_lm_eval(path, *, filter: str | None = None,
                 extract: Callable[[str], str | None] = extract_answer,
                 count_tokens: Callable[[str], int] = _words,
                 max_line_bytes: int = MAX_LINE_BYTES) -> SampleLog:
  """Reads an lm-evaluation-harness ``--log_samples`` JSONL file.

  Args:
    path: the ``samples_<task>_<date>.jsonl`` file.
    filter: the ``filter`` whose rows are read (None: the first row's).
    extract: final answer from a sample's text (default :func:`extract_answer`).
    count_tokens: tokens of a sample's text (default: whitespace words).
    max_line_bytes: longest line accepted.

  Returns:
    a :class:`SampleLog` with reward = correctness; samples in ``resps`` order.
  """
  rows = _Rows()
  seen = set()
  chosen = filter
  for k, obj in _lines(path, max_line_bytes):
    f = obj.get("filter", None)
    if f is not None and not isinstance(f, str):
      _fail(f"field 'filter' must be a string, got {type(f).__name__}", k)
    if chosen is None:
      chosen = f
    if f != chosen:
      continue
    doc = _get(obj, "doc_id", k)
    if isinstance(doc, bool) or not isinstance(doc, int):
      _fail(f"field 'doc_id' must be an int, got {type(doc).__name__}", k)
    if doc in seen:
      _fail(f"field 'doc_id' {doc} appears twice for filter {chosen!r}", k)
    seen.add(doc)
    target = _get(obj, "target", k)
    if isinstance(target, list) and len(target) == 1:
      target = target[0]
    if isinstance(target, bool) or not isinstance(target, (str, int, float)):
      _fail(f"field 'target' must be a string or number, got {type(target).__name__}", k)
    resps = _list(obj, "resps", k)
    texts = []
    for i, r in enumerate(resps):
      if not isinstance(r, list):
        _fail(f"field 'resps[{i}]' must be a list of strings", k)
      for t in r:
        texts.append(_str(t, f"resps[{i}][]", k))
    if len(texts) > MAX_SAMPLES:
      _fail(f"field 'resps' holds {len(texts)} samples; at most {MAX_SAMPLES}", k)
    _list(obj, "filtered_resps", k)
    gold = extract(str(target)) if isinstance(target, str) else str(target)
    gold = normalize_answer(str(target) if gold is None else gold)
    answers, correct = [], []
    for t in texts:
      a = extract(t)
      a = "" if a is None else normalize_answer(a)
      answers.append(a)
      correct.append(a != "" and a == gold)
    toks = [count_tokens(t) for t in texts]
    rows.add(correct, np.asarray(correct, float), answers, toks, qid=str(doc))
  return rows.build("lm-evaluation-harness")


def load_jsonl(path, *, max_line_bytes: int = MAX_LINE_BYTES) -> SampleLog:
  """Reads our own JSONL format (see the module docstring)."""
  rows = _Rows()
  nfeat = None
  for k, obj in _lines(path, max_line_bytes):
    known = {"query", "correct", "reward", "answer", "tokens", "latency", "features"}
    extra = set(obj) - known
    if extra:
      _fail(f"unknown field {sorted(extra)[0]!r}; expected only {sorted(known)}", k)
    correct = _list(obj, "correct", k)
    n = len(correct)
    for i, c in enumerate(correct):
      if not isinstance(c, bool):
        _fail(f"field 'correct'[{i}] must be true or false, got {c!r}", k)
    reward = _numbers(_list(obj, "reward", k, n), "reward", k)
    answer = _list(obj, "answer", k, n)
    kinds = {type(a) for a in answer}
    if not (kinds <= {int} or kinds <= {str}):
      _fail("field 'answer' must hold only ints or only strings", k)
    if kinds == {int} and any(a < 0 or a >= 2 ** 31 - 1 for a in answer):
      _fail("field 'answer' ids must lie in [0, 2**31 - 1)", k)
    tokens = _numbers(_list(obj, "tokens", k, n), "tokens", k, lo=0)
    lat = _list(obj, "latency", k, n, required=False)
    lat = None if lat is None else _numbers(lat, "latency", k, lo=0)
    feat = _list(obj, "features", k, required=False)
    if feat is not None:
      feat = _numbers(feat, "features", k)
      if nfeat is None:
        nfeat = feat.size
      elif feat.size != nfeat:
        _fail(f"field 'features' has {feat.size} entries; earlier rows have {nfeat}", k)
    qid = obj.get("query")
    if qid is not None:
      qid = _str(qid, "query", k)
    rows.add(correct, reward, answer, tokens, lat, feat, qid)
  return rows.build("jaxtick JSONL")


def _num(x):
  """A float32 as the shortest JSON number that reads back to the same float32."""
  f = float(str(np.float32(x)))
  return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f


def save_jsonl(path, log: SampleLog) -> Path:
  """Writes ``log`` in our JSONL format (answers as int ids); loading it back
  gives the same arrays (float32 values are written at round-trip precision)."""
  log = validate(log)
  buf = io.StringIO()
  for q in range(log.count.shape[0]):
    c = int(log.count[q])
    row = {}
    if log.query_id is not None:
      row["query"] = str(log.query_id[q])
    row["correct"] = [bool(x) for x in log.correct[q, :c]]
    row["reward"] = [_num(x) for x in log.reward[q, :c]]
    row["answer"] = [int(x) for x in log.answer[q, :c]]
    row["tokens"] = [_num(x) for x in log.tokens[q, :c]]
    if log.latency is not None:
      row["latency"] = [_num(x) for x in log.latency[q, :c]]
    if log.features is not None:
      row["features"] = [_num(x) for x in log.features[q]]
    buf.write(json.dumps(row) + "\n")
  Path(path).write_text(buf.getvalue())
  return Path(path)


def save_npz(path, log: SampleLog) -> Path:
  """Writes ``log`` as an uncompressed ``.npz`` (no pickled objects)."""
  log = validate(log)
  arrays = {k: v for k, v in log._asdict().items() if v is not None}
  with open(path, "wb") as f:
    np.savez(f, **arrays)
  return Path(path)


def load_npz(path) -> SampleLog:
  """Reads our ``.npz`` format; refuses pickled objects, unknown arrays and
  truncated or corrupt archives with a ``ValueError`` naming the field."""
  try:
    z = np.load(path, allow_pickle=False)
  except Exception as e:  # noqa: BLE001 -- an untrusted archive can fail in many ways
    raise ValueError(f"not a readable .npz file ({type(e).__name__}: {e})") from None
  if not isinstance(z, np.lib.npyio.NpzFile):
    _fail("not an .npz archive (a bare .npy array?)")
  fields = {}
  with z:
    for name in z.files:
      if name not in NPZ_FIELDS:
        _fail(f"unknown field {name!r}; expected only {NPZ_FIELDS}")
      try:
        fields[name] = z[name]
      except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
          _fail(f"field {name!r} holds Python objects; refused (no unpickling)")
        _fail(f"field {name!r} is unreadable ({e})")
      except Exception as e:  # noqa: BLE001 -- zip/zlib/header errors of a corrupt member
        _fail(f"field {name!r} is unreadable ({type(e).__name__}: {e})")
  for name in ("correct", "reward", "answer", "tokens", "count"):
    if name not in fields:
      _fail(f"missing field {name!r}")
  return validate(SampleLog(**fields))


def load(path, *, format: str | None = None, **kw) -> SampleLog:
  """Loads any supported log: ``format`` is ``"npz"``, ``"jsonl"``,
  ``"search_and_learn"`` or ``"lm_eval"`` (None: ``.npz`` -> npz, else jsonl)."""
  fmt = format or ("npz" if str(path).endswith(".npz") else "jsonl")
  loaders = {"npz": load_npz, "jsonl": load_jsonl,
             "search_and_learn": load_search_and_learn, "lm_eval": load_lm_eval}
  if fmt not in loaders:
    raise ValueError(f"format must be one of {sorted(loaders)}, got {fmt!r}")
  return loaders[fmt](path, **kw)


def example_log_path() -> Path:
  """Path of the example log shipped with the package (our JSONL format)."""
  return Path(str(resources.files("jaxtick.problems") / "data" / EXAMPLE_LOG))


def example_log() -> SampleLog:
  """The shipped example log (written by ``scripts/make_example_log.py``)."""
  return load_jsonl(example_log_path())


# ------------------------------------------------------------ to/from pools


def from_responses(responses, query_id=None) -> SampleLog:
  """A :class:`SampleLog` from :class:`jaxtick.problems.Responses` [Q, n]."""
  a = np.asarray(responses.answer)
  return validate(SampleLog(
      correct=np.asarray(responses.correct), reward=np.asarray(responses.reward),
      answer=a, tokens=np.asarray(responses.tokens),
      count=np.full(a.shape[0], a.shape[1], np.int32), query_id=query_id))


def dense_answer_ids(answer: np.ndarray) -> np.ndarray:
  """Per-query answer ids renumbered 0, 1, ... in order of first appearance
  (-1 padding kept), so that the number of distinct ids is at most N."""
  out = np.full(answer.shape, -1, np.int32)
  for q in range(answer.shape[0]):
    row = answer[q]
    ok = row >= 0
    if ok.any():
      _, first, inv = np.unique(row[ok], return_index=True, return_inverse=True)
      rank = np.empty(first.size, np.int64)
      rank[np.argsort(first, kind="stable")] = np.arange(first.size)
      out[q, ok] = rank[inv.reshape(-1)]
  return out


def replay_pool(log: SampleLog, *, reward: str = "logged") -> ReplayPool:
  """The log as device arrays for the allocation code (answer ids made dense
  per query by :func:`dense_answer_ids`; ids carry no meaning beyond equality).

  Args:
    log: a :class:`SampleLog`.
    reward: ``"logged"`` (the file's rewards) or ``"correct"`` (a ground-truth
      oracle: reward = correctness).
  """
  log = validate(log)
  if reward not in ("logged", "correct"):
    raise ValueError(f"reward must be 'logged' or 'correct', got {reward!r}")
  r = log.reward if reward == "logged" else log.correct.astype(np.float32)
  return ReplayPool(answer=jnp.asarray(dense_answer_ids(log.answer)), correct=jnp.asarray(log.correct),
                    reward=jnp.asarray(r), tokens=jnp.asarray(log.tokens),
                    count=jnp.asarray(log.count))


def replay_response(pool: ReplayPool, query: Array, j: Array):
  """Query ``query``'s ``j``-th logged sample (scalars; vmap for more).

  Returns:
    ``(answer i32[], tokens f[], reward f[], correct bool[], valid bool[])``;
    ``valid`` is ``j < count[query]``. An invalid sample is answer -1, tokens 0,
    reward 0, wrong: never another logged sample (no wrap-around).
  """
  n = pool.answer.shape[1]
  valid = (j >= 0) & (j < pool.count[query])
  jj = jnp.clip(j, 0, n - 1)
  return (jnp.where(valid, pool.answer[query, jj], -1),
          jnp.where(valid, pool.tokens[query, jj], 0.0),
          jnp.where(valid, pool.reward[query, jj], 0.0),
          valid & pool.correct[query, jj], valid)
