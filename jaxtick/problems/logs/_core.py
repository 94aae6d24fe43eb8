"""The log type, validation, our own formats (JSONL, .npz) and replay.

See :mod:`jaxtick.problems.logs` for the whole story.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxtick import values

Array = jax.Array

MAX_LINE_BYTES = 16 * 2 ** 20
MAX_SAMPLES = 1 << 20  # per query
# Cap on one .npz member's uncompressed size and on whole-file formats (a
# Parquet file's uncompressed data, a pre-0.4.3 harness JSON array), checked
# before anything is decompressed or parsed; settable per call.
MAX_MEMBER_BYTES = 1 << 30
MAX_FILE_BYTES = 1 << 30
EXAMPLE_LOG = "example_samples.jsonl"
NPZ_FIELDS = ("correct", "reward", "answer", "tokens", "count", "latency",
              "features", "query_id", "tokens_known", "iid")


class SampleLog(NamedTuple):
  """Logged samples of Q queries, padded to N = the most samples of any query.

  Attributes:
    correct: bool[Q, N] the sample is correct (False in padding).
    reward: f32[Q, N] the logged reward-oracle score (0 in padding).
    answer: i32[Q, N] per-query answer id >= 0 (-1 in padding).
    tokens: f32[Q, N] tokens of the sample, >= 0 (0 in padding; all 0 when
      ``tokens_known`` is False).
    count: i32[Q] samples logged per query, in [0, N].
    latency: f32[Q, N] seconds per sample (0 in padding), or None.
    features: f32[Q, F] query features, or None.
    query_id: str[Q] query names (NumPy unicode array), or None.
    tokens_known: False when the file's token counts are missing or
      meaningless (search-and-learn's beam search writes 0, DVTS -1): a token
      cost then raises (:func:`require_tokens`); sample counts still replay.
    iid: True when each query's samples are independent draws of one
      distribution (best-of-N, the harness's repeats); False for beam search
      and DVTS, whose completions share prefixes or are copies.
      :func:`replay_pool` warns once when it hands out non-i.i.d. samples.
  """

  correct: np.ndarray
  reward: np.ndarray
  answer: np.ndarray
  tokens: np.ndarray
  count: np.ndarray
  latency: np.ndarray | None = None
  features: np.ndarray | None = None
  query_id: np.ndarray | None = None
  tokens_known: bool = True
  iid: bool = True


class ReplayPool(NamedTuple):
  """A :class:`SampleLog` on the device, for the allocation code.

  Attributes:
    answer: i32[Q, N]; correct: bool[Q, N]; reward: f32[Q, N];
    tokens: f32[Q, N]; count: i32[Q] (see :class:`SampleLog`).
    tokens_known: the log's flag (a Python bool; :func:`require_tokens`).
  """

  answer: Array
  correct: Array
  reward: Array
  tokens: Array
  count: Array
  tokens_known: bool = True


# ----------------------------------------------------------------- validation


def _fail(msg, line=None):
  """Raises the one error type of this module: ``ValueError("line k: ...")``
  (``line`` an int), ``ValueError("<where>: ...")`` (a str such as
  ``"row 3"``), or the bare message."""
  if line is None:
    raise ValueError(msg)
  raise ValueError(f"line {line}: {msg}" if isinstance(line, int) else f"{line}: {msg}")


def _flag(name, v):
  if isinstance(v, np.ndarray) and v.shape == () and v.dtype == bool:
    v = bool(v)
  if not isinstance(v, (bool, np.bool_)):
    _fail(f"field {name!r} must be True or False, got {v!r}")
  return bool(v)


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
  if count.sum() == 0:
    _fail("the log holds no samples (field 'count' is 0 for every query: every "
          "list is empty)")
  tokens_known, iid = _flag("tokens_known", log.tokens_known), _flag("iid", log.iid)
  valid = np.arange(n)[None, :] < count[:, None]
  reward = log.reward.astype(np.float32)
  if not np.isfinite(reward[valid]).all():
    _fail("field 'reward' holds NaN or infinite values")
  tokens = log.tokens.astype(np.float32)
  if not (np.isfinite(tokens[valid]).all() and (tokens[valid] >= 0).all()):
    _fail("field 'tokens' must be finite and >= 0")
  if not tokens_known:
    tokens = np.zeros_like(tokens)
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
      query_id=query_id, tokens_known=tokens_known, iid=iid)


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
    try:
      x = float(x)
    except OverflowError:
      _fail(f"field {key!r}[{i}] is an integer too large for a float", line)
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

  def build(self, what, *, tokens_known=True, iid=True):
    q = len(self.correct)
    if q == 0:
      _fail(f"{what}: the file holds no rows")
    if sum(len(c) for c in self.correct) == 0:
      _fail(f"{what}: the log holds no samples (every row's list of samples is empty)")
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
        count=count, latency=latency, features=features, query_id=qid,
        tokens_known=tokens_known, iid=iid))


# ------------------------------------------------------------------- loaders


def load_jsonl(path, *, max_line_bytes: int = MAX_LINE_BYTES) -> SampleLog:
  """Reads our own JSONL format (see :mod:`jaxtick.problems.logs`)."""
  rows = _Rows()
  nfeat = None
  flags = {}
  known = {"query", "correct", "reward", "answer", "tokens", "latency", "features", "iid"}
  for k, obj in _lines(path, max_line_bytes):
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
    tokens = _list(obj, "tokens", k, n, required=False)
    tokens = None if tokens is None else _numbers(tokens, "tokens", k, lo=0)
    iid = obj.get("iid", True)
    if not isinstance(iid, bool):
      _fail(f"field 'iid' must be true or false, got {iid!r}", k)
    for name, v in (("tokens", tokens is not None), ("iid", iid)):
      if flags.setdefault(name, v) != v:
        _fail(f"field {name!r} must be {'on every row or on none' if name == 'tokens' else 'the same on every row'}", k)
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
    rows.add(correct, reward, answer, np.zeros(n) if tokens is None else tokens, lat,
             feat, qid)
  return rows.build("jaxtick JSONL", tokens_known=flags.get("tokens", True),
                    iid=flags.get("iid", True))


def _num(x):
  """A float32 as the shortest JSON number that reads back to the same float32."""
  f = float(str(np.float32(x)))
  return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f


def save_jsonl(path, log: SampleLog) -> Path:
  """Writes ``log`` in our JSONL format (answers as int ids); loading it back
  gives the same arrays (float32 values are written at round-trip precision).
  Unknown token counts are written as no ``tokens`` field, a non-i.i.d. log
  as ``"iid": false`` on every row."""
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
    if log.tokens_known:
      row["tokens"] = [_num(x) for x in log.tokens[q, :c]]
    if log.latency is not None:
      row["latency"] = [_num(x) for x in log.latency[q, :c]]
    if log.features is not None:
      row["features"] = [_num(x) for x in log.features[q]]
    if not log.iid:
      row["iid"] = False
    buf.write(json.dumps(row) + "\n")
  Path(path).write_text(buf.getvalue())
  return Path(path)


def save_npz(path, log: SampleLog) -> Path:
  """Writes ``log`` as an uncompressed ``.npz`` (no pickled objects)."""
  log = validate(log)
  arrays = {k: np.asarray(v) for k, v in log._asdict().items() if v is not None}
  with open(path, "wb") as f:
    np.savez(f, **arrays)
  return Path(path)


def _check_members(path, max_member_bytes):
  """Refuses a non-zip file and any member whose uncompressed size (from the
  zip's central directory, before anything is decompressed) is over the cap."""
  if isinstance(max_member_bytes, bool) or not isinstance(max_member_bytes, int) \
      or max_member_bytes < 1:
    raise ValueError(f"max_member_bytes must be a positive int, got {max_member_bytes!r}")
  try:
    with open(path, "rb") as f:
      head = f.read(4)
  except OSError as e:
    raise ValueError(f"cannot read {str(path)!r} ({e.strerror})") from None
  if head[:4] != b"PK\x03\x04":
    _fail("not an .npz archive (it does not start with a zip header)")
  try:
    with zipfile.ZipFile(path) as z:
      infos = z.infolist()
  except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
    raise ValueError(f"not a readable .npz archive ({e})") from None
  for info in infos:
    if info.file_size > max_member_bytes:
      name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
      _fail(f"field {name!r} is {info.file_size} bytes uncompressed; the cap is "
            f"{max_member_bytes} (max_member_bytes)")


def load_npz(path, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> SampleLog:
  """Reads our ``.npz`` format; refuses pickled objects, unknown arrays, members
  over ``max_member_bytes`` uncompressed (checked from the zip header before
  decompressing; default :data:`MAX_MEMBER_BYTES`, 1 GiB) and truncated or
  corrupt archives with a ``ValueError`` naming the field."""
  _check_members(path, max_member_bytes)
  try:
    z = np.load(path, allow_pickle=False)
  except Exception as e:  # noqa: BLE001 -- an untrusted archive can fail in many ways
    raise ValueError(f"not a readable .npz archive ({type(e).__name__})") from None
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
        _fail(f"field {name!r} is unreadable ({str(e).splitlines()[0] if str(e) else 'ValueError'})")
      except Exception as e:  # noqa: BLE001 -- zip/zlib/header errors of a corrupt member
        _fail(f"field {name!r} is unreadable ({type(e).__name__})")
  for name in ("correct", "reward", "answer", "tokens", "count"):
    if name not in fields:
      _fail(f"missing field {name!r}")
  return validate(SampleLog(**fields))


def load(path, *, format: str | None = None, **kw) -> SampleLog:
  """Loads any supported log: ``format`` is ``"npz"``, ``"jsonl"``,
  ``"search_and_learn"``, ``"lm_eval"`` or ``"columns"`` (None: ``.npz`` ->
  npz, else jsonl). Keyword arguments go to that loader."""
  from jaxtick.problems.logs import columns, lm_eval, search_and_learn
  fmt = format or ("npz" if str(path).endswith(".npz") else "jsonl")
  loaders = {"npz": load_npz, "jsonl": load_jsonl,
             "search_and_learn": search_and_learn.load_search_and_learn,
             "lm_eval": lm_eval.load_lm_eval, "columns": columns.load_columns}
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


def require_tokens(log, what: str = "a token cost") -> None:
  """Raises unless ``log`` (a :class:`SampleLog` or :class:`ReplayPool`) has
  known token counts: the one check before anything charges tokens.

  Raises:
    ValueError naming field 'tokens' and why the counts are unknown.
  """
  if not isinstance(log, (SampleLog, ReplayPool)):
    raise ValueError(f"expected a SampleLog or ReplayPool, got {type(log).__name__}")
  if not bool(log.tokens_known):
    raise ValueError(
        f"field 'tokens': this log's token counts are unknown (the file's were missing, "
        f"all 0 or negative, as search-and-learn's beam search and DVTS write them), so "
        f"{what} cannot be replayed; replay sample counts (cost='samples') instead")


_NON_IID_WARNED = False


def replay_pool(log: SampleLog, *, reward: str = "logged",
                cost: str = "samples") -> ReplayPool:
  """The log as device arrays for the allocation code (answer ids made dense
  per query by :func:`dense_answer_ids`; ids carry no meaning beyond equality).

  Samples are handed out in their logged order as if they were independent
  draws. For a log whose samples are not (``log.iid`` False: beam search,
  DVTS) this warns once per process (a ``UserWarning``): results then describe
  that ordered list of completions, not fresh samples of the model.

  Args:
    log: a :class:`SampleLog`.
    reward: ``"logged"`` (the file's rewards) or ``"correct"`` (a ground-truth
      oracle: reward = correctness).
    cost: what the consumer will charge, ``"samples"`` or ``"tokens"``;
      ``"tokens"`` raises (:func:`require_tokens`) when the log's token counts
      are unknown. The pool records ``tokens_known`` either way.
  """
  global _NON_IID_WARNED
  log = validate(log)
  if reward not in ("logged", "correct"):
    raise ValueError(f"reward must be 'logged' or 'correct', got {reward!r}")
  if cost not in ("samples", "tokens"):
    raise ValueError(f"cost must be 'samples' or 'tokens', got {cost!r}")
  if cost == "tokens":
    require_tokens(log, "a token budget")
  if not log.iid and not _NON_IID_WARNED:
    _NON_IID_WARNED = True
    warnings.warn("replaying samples that are not independent draws (log.iid is False: "
                  "beam search or DVTS completions) as if they were; results describe "
                  "the logged completions in order (warned once)", stacklevel=2)
  r = log.reward if reward == "logged" else log.correct.astype(np.float32)
  return ReplayPool(answer=values.device_array(dense_answer_ids(log.answer)),
                    correct=values.device_array(log.correct), reward=values.device_array(r),
                    tokens=values.device_array(log.tokens), count=values.device_array(log.count),
                    tokens_known=log.tokens_known)


def replay_response(pool: ReplayPool, query: Array, j: Array):
  """Query ``query``'s ``j``-th logged sample (scalars; vmap for more).

  Returns:
    ``(answer i32[], tokens f[], reward f[], correct bool[], valid bool[])``;
    ``valid`` is ``j < count[query]``. An invalid sample is answer -1, tokens 0,
    reward 0, wrong: never another logged sample (no wrap-around).
  """
  return _replay_response(pool, query, j)


@jax.jit
def _replay_response(pool: ReplayPool, query, j):
  n = pool.answer.shape[1]
  valid = (j >= 0) & (j < pool.count[query])
  jj = jnp.clip(j, 0, n - 1)
  return (jnp.where(valid, pool.answer[query, jj], -1),
          jnp.where(valid, pool.tokens[query, jj], 0.0),
          jnp.where(valid, pool.reward[query, jj], 0.0),
          valid & pool.correct[query, jj], valid)
