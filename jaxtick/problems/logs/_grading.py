"""Grading inside a loader: one grader per load, and its one warning."""

from __future__ import annotations

import re
import warnings

from jaxtick.problems import answers as _answers

_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def math_style(reference) -> bool:
  """A reference that can be written in more than one way (not a plain
  integer or decimal after :func:`normalize_answer`): LaTeX, fractions, tuples."""
  refs = [reference] if isinstance(reference, str) else reference
  return any(not _PLAIN_NUMBER.fullmatch(_answers.normalize_answer(r)) for r in refs)


class Grading:
  """Grades rows with one resolved grader; with ``grader="auto"`` falling back
  to ``"exact"`` (math-verify not installed), warns once per load, at the first
  MATH-style reference, which grader is in use."""

  def __init__(self, grader: str, what: str):
    self.grader = _answers.resolve_grader(grader)
    self.fallback = grader == "auto" and self.grader == "exact"
    self.what = what
    self.warned = False

  def __call__(self, extracted, reference):
    if self.fallback and not self.warned and math_style(reference):
      self.warned = True
      warnings.warn(
          f"{self.what}: grading with jaxtick's exact-match fallback, because math-verify is "
          "not installed (pip install 'jaxtick[llm]'): equivalent answers such as 1/2 and "
          "\\frac{1}{2} count as different (pass grader='exact' to silence this)",
          stacklevel=4)
    return _answers.grade(extracted, reference, grader=self.grader)
