"""Rows of a table, whatever holds it: JSONL, Parquet, a ``datasets`` object.

:func:`table_rows` yields ``(where, row)`` pairs, ``where`` what an error
names (``1`` for JSONL line 1, ``"row 0"`` for a Parquet or dataset row) and
``row`` a dict of plain Python values (NumPy arrays and scalars, as a dataset
in NumPy format yields them, become lists and numbers).

- A path ending in ``.parquet`` / ``.pq`` is read with ``pyarrow`` (the
  ``jaxtick[llm]`` extra), after checking the file's size and its
  uncompressed size from the Parquet footer against ``max_file_bytes``.
- Any other path is JSONL (one object per line; see ``_core._lines``).
- An object with ``column_names`` that iterates over rows is used as a
  ``datasets.Dataset``; a mapping of split names to such objects as a
  ``datasets.DatasetDict`` (``split`` picks one; None: the only one).
  Nothing imports ``datasets``: these are duck-typed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from jaxtick.problems.logs._core import _fail, _lines


def _plain(v):
  if isinstance(v, np.ndarray):
    return v.tolist()
  if isinstance(v, np.generic):
    return v.item()
  if isinstance(v, (list, tuple)):
    return [_plain(x) for x in v]
  return v


def _is_dataset(obj) -> bool:
  return hasattr(obj, "column_names") and hasattr(obj, "__iter__") and not isinstance(
      obj, (str, bytes, os.PathLike))


def _dataset_rows(ds):
  for i, row in enumerate(ds):
    if not isinstance(row, Mapping):
      _fail(f"expected a row as a mapping of columns, got {type(row).__name__}", f"row {i}")
    yield f"row {i}", {str(k): _plain(v) for k, v in row.items()}


def _parquet_rows(path, max_file_bytes):
  try:
    import pyarrow.parquet as pq
  except ImportError:
    raise ValueError("reading Parquet needs pyarrow: pip install 'jaxtick[llm]'") from None
  try:
    size = os.path.getsize(path)
  except OSError as e:
    raise ValueError(f"cannot read {str(path)!r} ({e.strerror})") from None
  if size > max_file_bytes:
    _fail(f"the file is {size} bytes; the cap is {max_file_bytes} (max_file_bytes)")
  try:
    f = pq.ParquetFile(path)
    meta = f.metadata
    raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
  except Exception as e:  # noqa: BLE001 -- pyarrow raises many types on a corrupt file
    raise ValueError(f"not a readable Parquet file ({type(e).__name__}: "
                     f"{str(e).splitlines()[0] if str(e) else ''})") from None
  if raw > max_file_bytes:
    _fail(f"the Parquet data is {raw} bytes uncompressed; the cap is {max_file_bytes} "
          "(max_file_bytes)")
  k = 0
  for g in range(meta.num_row_groups):
    try:
      rows = f.read_row_group(g).to_pylist()
    except Exception as e:  # noqa: BLE001
      raise ValueError(f"row group {g}: unreadable Parquet data ({type(e).__name__})") from None
    for row in rows:
      yield f"row {k}", row
      k += 1


def table_rows(source, *, split=None, max_line_bytes, max_file_bytes):
  """Yields ``(where, row dict)`` of ``source`` (see the module docstring)."""
  if isinstance(max_file_bytes, bool) or not isinstance(max_file_bytes, int) \
      or max_file_bytes < 1:
    raise ValueError(f"max_file_bytes must be a positive int, got {max_file_bytes!r}")
  if isinstance(source, Mapping) and source and all(_is_dataset(v) for v in source.values()):
    names = sorted(map(str, source))
    if split is None:
      if len(source) != 1:
        raise ValueError(f"split: the DatasetDict holds splits {names}; pass split=")
      split = next(iter(source))
    if split not in source:
      raise ValueError(f"split {split!r} is not in the DatasetDict; it holds {names}")
    yield from _dataset_rows(source[split])
    return
  if split is not None:
    raise ValueError("split is for a datasets.DatasetDict; got "
                     f"{type(source).__name__}")
  if _is_dataset(source):
    yield from _dataset_rows(source)
    return
  if not isinstance(source, (str, os.PathLike)):
    raise ValueError("source must be a path (JSONL or Parquet), a datasets.Dataset or a "
                     f"DatasetDict, got {type(source).__name__}")
  if str(source).lower().endswith((".parquet", ".pq")):
    yield from _parquet_rows(source, max_file_bytes)
  else:
    yield from _lines(source, max_line_bytes)
