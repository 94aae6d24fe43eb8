"""Writes the test inputs in tests/data/ with the real tools' own code.

    python3 -m venv /tmp/toolsvenv
    /tmp/toolsvenv/bin/pip install lm-eval==0.4.13 datasets==5.2.0
    HF_DATASETS_OFFLINE=1 /tmp/toolsvenv/bin/python tests/data/make_fixtures.py

- lm-evaluation-harness: ``lm_eval.simple_evaluate(..., log_samples=True)`` on
  local generate-until tasks (one with ``repeats`` and take-first /
  majority-vote filters, MATH-style and GSM8K-style targets; one with list
  targets; one without repeats), a multiple-choice task and a perplexity
  task, then ``EvaluationTracker.save_results_samples``, which writes the
  ``samples_<task>_<date>.jsonl`` files exactly as ``--log_samples`` does;
  and the same samples in the pre-0.4.3 JSON-array layout (``write_pre_043``). The
  model is a stand-in (no weights can be downloaded here) that answers each
  document with a fixed list of completions, in turn.
- search-and-learn: rows in the layout its ``best_of_n`` / ``beam_search`` /
  ``dvts`` write (its code is not on PyPI), serialised by ``datasets``'
  ``to_json(lines=True)`` (search-and-learn's ``save_dataset``) and
  ``to_parquet`` (what ``push_to_hub`` stores).
"""

import json
import shutil
import tempfile
from pathlib import Path

import datasets
import numpy as np
import lm_eval
from lm_eval.api.model import LM
from lm_eval.loggers import EvaluationTracker
from lm_eval.tasks import TaskManager

HERE = Path(__file__).resolve().parent

# (problem, target written into the doc, completions the stand-in model gives, in turn)
MATH_DOCS = [
    ("What is 1/2 as a fraction?", "\\frac{1}{2}",
     ["So it is $\\boxed{\\frac{1}{2}}$.", "We get \\boxed{0.5}.", "\\boxed{2}",
      "The answer is 1/2."]),
    ("Divide 14 by 3.", "\\frac{14}{3}",
     ["\\boxed{14/3}", "\\boxed{\\dfrac{14}{3}}", "It is \\boxed{\\frac{14}{3}}", "\\boxed{4}"]),
    ("Polar coordinates of (0, 3)?", "\\left( 3, \\frac{\\pi}{2} \\right)",
     ["\\boxed{(3, \\pi/2)}", "\\boxed{(3, \\frac{\\pi}{2})}", "\\boxed{(3, 0)}",
      "I am not sure."]),
    ("Natalia sold clips to 48 friends, then half as many. How many in all?",
     "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72",
     ["She sold 48+24 = 72. The answer is 72 apples.", "The answer is 70.",
      "so \\boxed{72}", "48 + 24 = 72\n#### 72"]),
    ("How long is the rope in inches?", "42",
     ["\\boxed{42 \\text{ inches}}", "The answer is 42.", "\\boxed{24}", "\\boxed{42}"]),
    ("Simplify sqrt(50).", "5\\sqrt{2}",
     ["\\boxed{5\\sqrt{2}}", "\\boxed{5\\sqrt2}", "\\boxed{\\sqrt{50}}", "\\boxed{2}"]),
]
LIST_DOCS = [
    ("Name a primary colour.", ["red", "blue", "yellow"],
     ["The answer is red.", "The answer is green.", "The answer is blue."]),
    ("A root of x^2 = 4?", ["2", "-2"],
     ["\\boxed{-2}", "\\boxed{2}", "\\boxed{4}"]),
]
MC_DOCS = [{"question": "2+2?", "choices": ["3", "4"], "label": 1},
           {"question": "3+3?", "choices": ["6", "7"], "label": 0}]
PPL_DOCS = [{"text": "The quick brown fox."}, {"text": "Jumps over the lazy dog."}]


class StandIn(LM):
  """Answers document i's k-th request with its k-th completion (cycling)."""

  def __init__(self, by_context):
    super().__init__()
    self.by_context, self.turn = by_context, {}

  def generate_until(self, requests, disable_tqdm=False):
    out = []
    for r in requests:
      ctx = r.args[0]
      key = next(k for k in self.by_context if k in ctx)
      k = self.turn.get(key, 0)
      self.turn[key] = k + 1
      comps = self.by_context[key]
      out.append(comps[k % len(comps)])
    return out

  def loglikelihood(self, requests, disable_tqdm=False):
    return [(-1.0 - 0.5 * i, i % 2 == 0) for i, _ in enumerate(requests)]

  def loglikelihood_rolling(self, requests, disable_tqdm=False):
    return [-12.5 - i for i, _ in enumerate(requests)]


def task_yaml(name, data, body):
  return (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
          f"    test: {data}\ntest_split: test\n{body}")


GEN = """output_type: generate_until
doc_to_text: "Problem: {{problem}}\\nSolution:"
generation_kwargs:
  until: ["Problem:"]
  do_sample: true
  temperature: 0.8
metric_list:
  - metric: exact_match
"""


def run_harness(tmp):
  (tmp / "math.jsonl").write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n"
                                          for p, a, _ in MATH_DOCS))
  (tmp / "list.jsonl").write_text("".join(json.dumps({"problem": p, "answers": a}) + "\n"
                                          for p, a, _ in LIST_DOCS))
  (tmp / "mc.jsonl").write_text("".join(json.dumps(d) + "\n" for d in MC_DOCS))
  (tmp / "ppl.jsonl").write_text("".join(json.dumps(d) + "\n" for d in PPL_DOCS))
  tasks = tmp / "tasks"
  tasks.mkdir()
  (tasks / "jt_math.yaml").write_text(task_yaml("jt_math", tmp / "math.jsonl", GEN + """\
doc_to_target: "{{answer}}"
repeats: 4
filter_list:
  - name: take-first
    filter:
      - function: take_first
  - name: maj@4
    filter:
      - function: regex
        regex_pattern: "boxed\\\\{(.*)\\\\}"
      - function: majority_vote
      - function: take_first
"""))
  (tasks / "jt_math_once.yaml").write_text(task_yaml("jt_math_once", tmp / "math.jsonl",
                                                     GEN + 'doc_to_target: "{{answer}}"\n'))
  (tasks / "jt_list.yaml").write_text(task_yaml("jt_list", tmp / "list.jsonl", GEN + """\
doc_to_target: answers
repeats: 3
"""))
  (tasks / "jt_mc.yaml").write_text(task_yaml("jt_mc", tmp / "mc.jsonl", """\
output_type: multiple_choice
doc_to_text: "{{question}}"
doc_to_choice: "{{choices}}"
doc_to_target: label
metric_list:
  - metric: acc
"""))
  (tasks / "jt_ppl.yaml").write_text(task_yaml("jt_ppl", tmp / "ppl.jsonl", """\
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{text}}"
metric_list:
  - metric: word_perplexity
"""))
  by_context = {p: c for p, _, c in MATH_DOCS + LIST_DOCS}
  tm = TaskManager(include_path=str(tasks))
  out = tmp / "out"
  for task in ("jt_math", "jt_math_once", "jt_list", "jt_mc", "jt_ppl"):
    res = lm_eval.simple_evaluate(model=StandIn(by_context), tasks=[task], task_manager=tm,
                                  log_samples=True, random_seed=0, numpy_random_seed=0,
                                  torch_random_seed=0, fewshot_random_seed=0)
    if task == "jt_math":
      write_pre_043(res["samples"][task], HERE / "lm_eval_0.4.2_jt_math.jsonl")
    tracker = EvaluationTracker(output_path=str(out))
    tracker.general_config_tracker.model_name_sanitized = "standin"
    tracker.date_id = "2026-01-01T00-00-00"
    tracker.save_results_samples(task_name=task, samples=res["samples"][task])
  for f in sorted((out / "standin").glob("samples_*.jsonl")):
    name = f.name.replace("_2026-01-01T00-00-00", "")
    shutil.copy(f, HERE / f"lm_eval_{name}")
    print("wrote", HERE / f"lm_eval_{name}")


def write_pre_043(samples, path):
  """Harness <= 0.4.2's layout (its evaluator and __main__, read from the 0.4.2
  wheel): the same examples without 'filter', 'metrics' and the hashes, the
  raw arguments tuples, dumped as one JSON array with indent=2."""
  def _handle_non_serializable(o):      # lm_eval 0.4.2 __main__.py
    if isinstance(o, (np.int64, np.int32)):
      return int(o)
    if isinstance(o, set):
      return list(o)
    return str(o)
  old = [{k: v for k, v in ex.items()
          if k not in ("filter", "metrics", "doc_hash", "prompt_hash", "target_hash")}
         for ex in samples]
  path.write_text(json.dumps(old, indent=2, default=_handle_non_serializable,
                             ensure_ascii=False), encoding="utf-8")
  print("wrote", path)


def sal_rows():
  """search-and-learn rows: best_of_n (i.i.d., positive completion_tokens),
  beam_search (completion_tokens all 0, as it writes them), dvts (-1)."""
  rows = {}
  base = []
  for i, (p, a, comps) in enumerate(MATH_DOCS):
    if "####" in a:
      a = "72"                                     # MATH-500 stores the bare answer
    c = comps[:4]
    base.append({"problem": p, "answer": a, "unique_id": f"test/{i}.json", "level": 1 + i % 5,
                 "completions": c,
                 "scores": [[0.9, 0.3 + 0.1 * j] for j in range(len(c))],
                 "pred": c[0]})
  rows["best_of_n"] = [dict(r, completion_tokens=[100 + 7 * j for j in range(4)]) for r in base]
  rows["beam_search"] = [dict(r, completion_tokens=[0] * 4) for r in base]
  rows["dvts"] = [dict(r, completion_tokens=-1) for r in base]
  return rows


def run_datasets():
  for approach, rows in sal_rows().items():
    ds = datasets.Dataset.from_list(rows)
    ds.to_json(HERE / f"sal_{approach}.jsonl", lines=True)
    print("wrote", HERE / f"sal_{approach}.jsonl")
  ds = datasets.Dataset.from_list(sal_rows()["best_of_n"])
  ds.to_parquet(HERE / "sal_best_of_n.parquet")
  print("wrote", HERE / "sal_best_of_n.parquet")


if __name__ == "__main__":
  with tempfile.TemporaryDirectory() as d:
    run_harness(Path(d))
  run_datasets()
