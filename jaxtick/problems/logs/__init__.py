"""Logged LLM samples: loaders for the files users already have, and replay.

Every file is read as *untrusted*: every field is checked (type, shape,
range, NaN, overflow, ragged rows) and the first problem raises a one-line
``ValueError`` naming the field and where (``line k`` of a JSONL file,
``row k`` (0-based) of a Parquet file or dataset, ``entry k`` of a JSON
array) and what is expected. Nothing is unpickled. Sizes are capped before
parsing: a JSONL line by ``max_line_bytes`` (default :data:`MAX_LINE_BYTES`,
16 MiB; every line must end with a newline, so a file cut inside a line is
refused as truncated), an ``.npz`` member's uncompressed size by
``max_member_bytes`` (:data:`MAX_MEMBER_BYTES`, 1 GiB, read from the zip
directory before decompressing), a Parquet file or a whole-file JSON array by
``max_file_bytes`` (:data:`MAX_FILE_BYTES`, 1 GiB). A log with no samples is
refused. This package is the one place in ``jaxtick`` that reads files.

Loaders (each returns a :class:`SampleLog`):

1. :func:`load_lm_eval`: lm-evaluation-harness ``--log_samples`` (JSONL of
   0.4.3+, the JSON array of <= 0.4.2); generate-until tasks only.
2. :func:`load_search_and_learn`: search-and-learn's best-of-N, beam search and
   DVTS outputs as JSONL, Parquet or a ``datasets.Dataset``/``DatasetDict``.
3. :func:`load_columns`: anything else (e.g. vLLM output) by naming the
   columns for query, reference, responses, rewards, tokens and latency.
4. Our own format, as ``.npz`` (:func:`save_npz` / :func:`load_npz`; arrays
   named as the fields of :class:`SampleLog`) or JSONL (:func:`save_jsonl` /
   :func:`load_jsonl`; one object per query with lists ``correct`` (bool),
   ``reward`` (number), ``answer`` (int id or str), optional ``tokens``
   (number >= 0; absent on every line: unknown), optional ``latency`` (number
   >= 0), optional ``features`` (numbers, the same length on every line),
   optional ``query`` (str id) and optional ``iid`` (false: not i.i.d.)).

Answers (:mod:`jaxtick.problems.answers`): the final answer of a sample's
text is :func:`extract_answer`; correctness against the reference and the
per-query answer ids (majority vote, answer entropy) both come from one
equivalence, math-verify's (``pip install 'jaxtick[llm]'``), or without it
the exact-match fallback :func:`normalize_answer` (a MATH-style log loaded
that way warns once). Answers become per-query ids ``0, 1, ...`` in order of
first appearance (our own format may give int ids, e.g. the generator's,
where 0 is the correct answer).

Rows are padded to the longest query, ``count[q]`` the number of samples
logged for query ``q``. :func:`replay_pool` turns a log into a
:class:`ReplayPool` (device arrays) and :func:`replay_response` hands out
query ``x``'s ``j``-th logged sample, with ``valid = j < count[x]``: asking
for more samples than were logged is never wrapped around; the allocation
code stops that query (it is *exhausted*). A log records whether its token
counts are known (``tokens_known``; :func:`require_tokens` is the check before
charging tokens) and whether its samples are independent draws (``iid``;
replaying non-i.i.d. samples warns once).
"""

from jaxtick.problems.answers import extract_answer, extract_boxed, normalize_answer
from jaxtick.problems.logs._core import (EXAMPLE_LOG, MAX_FILE_BYTES, MAX_LINE_BYTES,
                                         MAX_MEMBER_BYTES, MAX_SAMPLES, NPZ_FIELDS,
                                         ReplayPool, SampleLog, aggregate_scores,
                                         dense_answer_ids, example_log, example_log_path,
                                         from_responses, load, load_jsonl, load_npz,
                                         replay_pool, replay_response, require_tokens,
                                         save_jsonl, save_npz, validate)
from jaxtick.problems.logs.columns import load_columns
from jaxtick.problems.logs.lm_eval import load_lm_eval, references, request_type
from jaxtick.problems.logs.search_and_learn import APPROACHES, load_search_and_learn

__all__ = ["APPROACHES", "EXAMPLE_LOG", "MAX_FILE_BYTES", "MAX_LINE_BYTES",
           "MAX_MEMBER_BYTES", "MAX_SAMPLES", "NPZ_FIELDS", "ReplayPool", "SampleLog",
           "aggregate_scores", "dense_answer_ids", "example_log", "example_log_path",
           "extract_answer", "extract_boxed", "from_responses", "load", "load_columns",
           "load_jsonl", "load_lm_eval", "load_npz", "load_search_and_learn",
           "normalize_answer", "references", "replay_pool", "replay_response",
           "request_type", "require_tokens", "save_jsonl", "save_npz", "validate"]
