"""Final answers of LLM samples: extraction from free text, grading, grouping.

Three steps, each one function, used by every loader of
:mod:`jaxtick.problems.logs`:

1. :func:`extract_answer` finds the final answer in a sample's free text, with
   the conventions of the tools whose logs are replayed (see its docstring).
2. :func:`grade` decides, with one equivalence, both whether each answer is
   correct against the reference and which answers are *the same answer*
   (per-query answer ids, for majority vote and answer entropy).
3. The equivalence is HuggingFace's ``math-verify`` (``pip install
   jaxtick[llm]``), which parses LaTeX and plain expressions and compares them
   symbolically: ``14/3`` and ``\\frac{14}{3}``, ``0.5`` and ``\\frac12``,
   ``(3, \\pi/2)`` and ``\\left(3, \\frac{\\pi}{2}\\right)`` are equal. The
   harness's own ``minerva_math`` task grades with it as well. Without the
   extra, :func:`normalize_answer` followed by an exact string comparison is
   the documented fallback (grader ``"exact"``; its limits are listed in
   :func:`normalize_answer`).

Nothing here reads files.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import NamedTuple, Sequence

GRADERS = ("auto", "math_verify", "exact")
# Longest answer string handed to math-verify's parser; longer ones are compared
# exactly (a final answer is a few dozen characters; a parse is super-linear).
MAX_PARSE_CHARS = 1000


# ------------------------------------------------------------------ extraction


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


_HASHES = re.compile(r"####\s*([^\n]*)")
_ANSWER_IS = re.compile(r"answer is\s*:?\s*([^\n]*)", re.I)
_HOPE = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.I)
_MATH_SPAN = re.compile(r"\$+([^$]+)\$+")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_NUMBER_THEN_WORDS = re.compile(r"^(-?\$?\d[\d,]*(?:\.\d+)?)\s+[A-Za-z]")


def _after_phrase(s: str) -> str:
  """The answer in the text after "answer is" / "####" (one line)."""
  s = _HOPE.sub("", s.strip())
  m = _MATH_SPAN.search(s)
  if m:                                   # "is $\frac{1}{2}$." -> \frac{1}{2}
    return m.group(1).strip()
  m = _NUMBER_THEN_WORDS.match(s)
  if m:                                   # "72 apples." -> 72 (units are words)
    return m.group(1).replace("$", "")
  return s.rstrip(" .").strip()


def extract_answer(text: str) -> str | None:
  """The final answer in a sample's free text; None if there is none.

  The first rule that matches wins:

  1. the content of the last ``\\boxed{...}`` / ``\\fbox{...}``
     (MATH, search-and-learn, the harness's ``minerva_math``);
  2. the text after the last ``####`` (GSM8K solutions and the harness's
     ``gsm8k`` strict match);
  3. the text after the last "answer is" (the harness's ``gsm8k-cot``
     "The answer is 72." and ``minerva_math`` "Final Answer: The final answer
     is $x$. I hope it is correct."): the first ``$...$`` span in it if any,
     else a leading number followed by words is the number alone ("The answer
     is 72 apples." gives ``72``), else the rest of the line without a
     trailing period;
  4. the last number in the text (the harness's ``flexible-extract``),
     thousands separators kept (``1,000``; :func:`normalize_answer` drops them).

  Fractions written ``14/3`` in running text are found only by rules 1-3
  (rule 4 takes the ``3``).
  """
  if not isinstance(text, str):
    raise TypeError(f"text must be a string, got {type(text).__name__}")
  b = extract_boxed(text)
  if b is not None:
    return b.strip()
  for pat in (_HASHES, _ANSWER_IS):
    found = pat.findall(text)
    if found:
      a = _after_phrase(found[-1])
      if a:
        return a
  nums = _NUMBER.findall(text)
  return nums[-1] if nums else None


# ------------------------------------------------------------ exact fallback


def normalize_answer(s: str) -> str:
  """A canonical form of a final answer, for the exact-match fallback.

  Steps, in order: unwrap ``\\text{...}``/``\\mathrm{...}`` keeping the
  content; drop ``\\left``, ``\\right``, ``\\!``, ``\\,``, ``\\;``, ``\\ ``,
  ``$``, degree marks (``^\\circ``, ``^{\\circ}``), ``\\%`` and ``%``; write
  ``\\dfrac``/``\\tfrac`` as ``\\frac``; drop all whitespace; drop a trailing
  ``.``; drop a leading ``x=`` style variable assignment (one letter); drop
  thousands separators in plain numbers (``1,000`` -> ``1000``); give a
  leading zero to bare decimals (``.5`` -> ``0.5``); drop trailing zeros of a
  decimal (``2.50`` -> ``2.5``, ``3.0`` -> ``3``).

  Known limits (the reasons to install ``jaxtick[llm]``; each is a test):
  the result is compared as a string, not symbolically, so these pairs stay
  *different*: ``1/2`` and ``\\frac{1}{2}``; ``0.5`` and ``\\frac{1}{2}``;
  ``\\frac12`` and ``\\frac{1}{2}``; ``14/3`` and ``\\frac{14}{3}``;
  ``(3, \\pi/2)`` and ``\\left(3, \\frac{\\pi}{2}\\right)``; ``42`` and
  ``42 \\text{ inches}`` (units are kept).
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


# ---------------------------------------------------------------- math-verify


def has_math_verify() -> bool:
  """Whether ``math-verify`` (the ``jaxtick[llm]`` extra) can be imported."""
  try:
    import math_verify  # noqa: F401
  except ImportError:
    return False
  return True


def resolve_grader(grader: str) -> str:
  """``"auto"`` -> ``"math_verify"`` if installed, else ``"exact"``.

  Raises:
    ValueError: an unknown grader, or ``"math_verify"`` without the extra.
  """
  if grader not in GRADERS:
    raise ValueError(f"grader must be one of {GRADERS}, got {grader!r}")
  if grader == "auto":
    return "math_verify" if has_math_verify() else "exact"
  if grader == "math_verify" and not has_math_verify():
    raise ValueError("grader 'math_verify' needs the math-verify package: "
                     "pip install 'jaxtick[llm]'")
  return grader


def _timeout():
  # math-verify's timeouts use signal.alarm, which only the main thread may set.
  return 5 if threading.current_thread() is threading.main_thread() else None


@functools.lru_cache(maxsize=1 << 16)
def _mv_parse(answer: str):
  """math-verify's parse of one extracted answer (a tuple; () if unparsed)."""
  from math_verify import parse
  if len(answer) > MAX_PARSE_CHARS:
    return ()
  t = _timeout()
  # As a math span first ("\frac12", "(3, \pi/2)" only parse inside $...$),
  # then as plain text.
  for s in (f"${answer}$", answer):
    p = parse(s, parsing_timeout=t)
    if p:
      return tuple(p)
  return ()


@functools.lru_cache(maxsize=1 << 16)
def _mv_verify(gold: str, answer: str) -> bool:
  from math_verify import verify
  g, a = _mv_parse(gold), _mv_parse(answer)
  if not g or not a:
    return False
  return bool(verify(list(g), list(a), timeout_seconds=_timeout()))


def equivalent(reference: str, answer: str, *, grader: str = "auto") -> bool:
  """Whether ``answer`` is the same answer as ``reference`` (both extracted
  final answers, not whole solutions).

  ``math_verify``: math-verify's ``verify(parse(reference), parse(answer))``
  (each parsed as ``$...$`` first, then as plain text); a side that neither
  parses is compared by :func:`normalize_answer` exactly. ``exact``: the
  normalised strings are equal.
  """
  g = resolve_grader(grader)
  ref, ans = str(reference), str(answer)
  if g == "math_verify":
    if _mv_parse(ref) and _mv_parse(ans):
      return _mv_verify(ref, ans)
  nr, na = normalize_answer(ref), normalize_answer(ans)
  return nr != "" and nr == na


class Graded(NamedTuple):
  """Grades of one query's samples.

  Attributes:
    correct: per sample, the answer is equivalent to (one of) the reference(s).
    answer_id: per sample, an id >= 0 shared by equivalent answers, in order of
      first appearance; samples without an answer share one id.
    grader: the grader used, ``"math_verify"`` or ``"exact"``.
  """

  correct: list
  answer_id: list
  grader: str


def grade(answers: Sequence[str | None], reference: str | Sequence[str] | None, *,
          grader: str = "auto") -> Graded:
  """Grades one query's samples and groups them into answer ids.

  One equivalence (:func:`equivalent`) serves both: a sample is correct if its
  answer is equivalent to the reference (to any of them, for a list of
  accepted answers); a sample's answer id is that of the first earlier answer
  it is equivalent to, checking the reference(s) first, so every correct
  sample of one reference shares one id. ``None`` (no answer found) is never
  correct and all such samples share one id.

  Args:
    answers: extracted final answers (see :func:`extract_answer`), or None.
    reference: the reference answer, a list of accepted answers, or None
      (group only: nothing is correct).
    grader: ``"auto"``, ``"math_verify"`` or ``"exact"`` (:func:`resolve_grader`).
  """
  g = resolve_grader(grader)
  if reference is None:
    refs = []
  else:
    refs = [reference] if isinstance(reference, str) else list(reference)
    if not refs or not all(isinstance(r, str) for r in refs):
      raise ValueError("reference must be a string, a non-empty list of strings or None, "
                       f"got {reference!r}")
  ids_of: dict = {}    # class key -> id, ids in order of first appearance
  reps: list = []      # (answer text, class key) of each wrong-answer class
  by_text: dict = {}   # normalised text -> class key (the same text: the same class)
  correct, ids = [], []
  for a in answers:
    if a is None or not str(a).strip():
      key, ok = ("none",), False
    else:
      a = str(a)
      hit = next((k for k, r in enumerate(refs) if equivalent(r, a, grader=g)), None)
      ok = hit is not None
      if ok:
        key = ("ref", hit)
      else:
        text = normalize_answer(a)
        key = by_text.get(text)
        if key is None and g == "math_verify":
          key = next((c for r, c in reps if equivalent(r, a, grader=g)), None)
        if key is None:
          key = ("answer", len(reps))
          reps.append((a, key))
        by_text.setdefault(text, key)
    correct.append(ok)
    ids.append(ids_of.setdefault(key, len(ids_of)))
  return Graded(correct, ids, g)
