"""Final-answer extraction, grading and grouping, against the graders' own verdicts."""

import importlib.util

import pytest

from jaxtick.problems import answers

# The test extra installs jaxtick[llm]; without it the fallback's tests still run. Imported
# by the tests that call it (slow to import; only the worker that runs them needs it).
HAS_MATH_VERIFY = importlib.util.find_spec("math_verify") is not None
needs_mv = pytest.mark.skipif(not HAS_MATH_VERIFY, reason="math-verify not installed")


# --------------------------------------------------------------- extraction
# The conventions of the tools whose logs are replayed; each case names its source.

@pytest.mark.parametrize("text, want", [
    # search-and-learn / MATH / harness minerva_math: the last \boxed{}
    ("so \\boxed{42}.", "42"),
    ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}", "\\left(3, \\frac{\\pi}{2}\\right)"),
    ("\\fbox{7}", "7"),
    ("\\boxed 5$", "5"),
    # GSM8K solutions / harness gsm8k strict-match "#### (\-?[0-9\.\,]+)"
    ("48+24 = 72 clips.\n#### 72", "72"),
    ("#### 1,000", "1,000"),
    # harness gsm8k-cot strict-match "The answer is (\-?[0-9\.\,]+)."
    ("She sold 48+24 = 72. The answer is 72.", "72"),
    ("The answer is 72 apples.", "72"),              # units are words, not part of it
    ("so the answer is 18.", "18"),
    ("The answer is (B).", "(B)"),
    # harness minerva_math "Final Answer: The final answer is X. I hope it is correct."
    ("Final Answer: The final answer is $\\frac{2}{3}$. I hope it is correct.", "\\frac{2}{3}"),
    ("Final Answer: The final answer is 24. I hope it is correct.", "24"),
    # harness gsm8k flexible-extract: the last number
    ("we get 3 then 5 apples", "5"),
    ("it costs $1,234.50 in total", "1,234.50"),
    ("no answer here", None),
    ("\\boxed{unclosed", None),
])
def test_extract_answer_conventions(text, want):
  assert answers.extract_answer(text) == want


def test_extract_boxed_matches_braces():
  assert answers.extract_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
  assert answers.extract_boxed("nothing") is None


# ------------------------------------------------------------ math-verify

# (reference, answer, math-verify's verdict). Each verdict is also checked
# against math_verify.verify itself below, so the table cannot drift from the tool.
CASES = [
    ("\\frac{14}{3}", "14/3", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "\\frac12", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("42", "42 \\text{ inches}", True),
    ("5\\sqrt{2}", "5\\sqrt2", True),
    ("\\frac{\\pi}{2}", "\\pi/2", True),
    ("1000", "1,000", True),
    ("\\text{(B)}", "B", True),
    ("\\frac{1}{2}", "2", False),
    ("\\frac{14}{3}", "4", False),
    ("72", "70", False),
    ("(3, \\pi/2)", "(3, 0)", False),
    ("-3", "3", False),
]


@pytest.mark.parametrize("ref, ans, verdict", CASES)
@needs_mv
def test_math_verify_grades_as_math_verify_does(ref, ans, verdict):
  import math_verify
  assert bool(math_verify.verify(math_verify.parse(f"${ref}$"),
                                 math_verify.parse(f"${ans}$"))) == verdict   # the tool
  assert answers.equivalent(ref, ans, grader="math_verify") == verdict       # jaxtick


# Pairs that are equal but that the exact-match fallback keeps apart: its
# documented limits (normalize_answer's docstring), each one tested.
FALLBACK_LIMITS = [("\\frac{1}{2}", "1/2"), ("\\frac{1}{2}", "0.5"),
                   ("\\frac{1}{2}", "\\frac12"), ("\\frac{14}{3}", "14/3"),
                   ("\\left(3, \\frac{\\pi}{2}\\right)", "(3, \\pi/2)"),
                   ("42", "42 \\text{ inches}")]


@pytest.mark.parametrize("ref, ans", FALLBACK_LIMITS)
def test_exact_fallback_known_limits(ref, ans):
  assert not answers.equivalent(ref, ans, grader="exact")
  if HAS_MATH_VERIFY:
    assert answers.equivalent(ref, ans, grader="math_verify")
  doc = " ".join(answers.normalize_answer.__doc__.split())
  assert f"``{ans}`` and ``{ref}``" in doc.replace("\\\\", "\\") or \
      f"``{ref}`` and ``{ans}``" in doc.replace("\\\\", "\\")


@pytest.mark.parametrize("a, b", [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"), ("1,000", "1000"), (".5", "0.5"),
    ("2.50", "2.5"), ("3.0", "3"), ("x = 4", "4"), ("\\text{(B)}", "(B)"),
    ("90^\\circ", "90"), ("$12$.", "12"), ("\\left( 1, 2 \\right)", "(1,2)"),
    ("50\\%", "50"),
])
def test_exact_fallback_equates(a, b):
  assert answers.equivalent(a, b, grader="exact")


@needs_mv
def test_grade_groups_equivalent_answers_into_one_id():
  got = answers.grade(["14/3", "\\frac{14}{3}", None, "5", "\\dfrac{14}{3}", "5.0", None],
                      "\\frac{14}{3}", grader="math_verify")
  assert got.correct == [True, True, False, False, True, False, False]
  assert got.answer_id == [0, 0, 1, 2, 0, 2, 1]     # 14/3 one vote block; "5" = "5.0"
  exact = answers.grade(["14/3", "\\frac{14}{3}"], "\\frac{14}{3}", grader="exact")
  assert exact.correct == [False, True] and exact.answer_id == [0, 1]   # split: the limit


@needs_mv
def test_grade_wrong_answers_merge_when_equivalent():
  got = answers.grade(["1/3", "\\frac{1}{3}", "0.25", "\\frac14"], "\\frac{1}{2}",
                      grader="math_verify")
  assert got.correct == [False] * 4 and got.answer_id == [0, 0, 1, 1]


@needs_mv
def test_grade_list_of_accepted_answers():
  got = answers.grade(["red", "green", "blue", "red"], ["red", "blue"], grader="math_verify")
  assert got.correct == [True, False, True, True] and got.answer_id == [0, 1, 2, 0]
  assert answers.grade(["a"], None, grader="exact").correct == [False]


@needs_mv
def test_grader_choice_and_refusals(monkeypatch):
  assert answers.resolve_grader("auto") == "math_verify"
  with pytest.raises(ValueError, match="grader must be one of"):
    answers.resolve_grader("sympy")
  monkeypatch.setattr(answers, "has_math_verify", lambda: False)
  assert answers.resolve_grader("auto") == "exact"
  with pytest.raises(ValueError, match="grader 'math_verify' needs the math-verify package"):
    answers.resolve_grader("math_verify")
  with pytest.raises(ValueError, match="reference must be"):
    answers.grade(["1"], [], grader="exact")
