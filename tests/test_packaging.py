"""What the wheel installs: the library only, never a generic top-level ``sims``."""

import pathlib
import tomllib

import setuptools

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_wheel_packages_are_jaxtick_only():
  conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
  find = conf["tool"]["setuptools"]["packages"]["find"]
  found = setuptools.find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ()))
  assert "jaxtick" in found and "jaxtick.agents" in found and "jaxtick.problems.logs" in found
  top = {p.split(".")[0] for p in found}
  assert top == {"jaxtick"}, top                    # no sims, tests, scripts, notebooks
  on_disk = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for p in (ROOT / "jaxtick").rglob("__init__.py")}
  assert on_disk <= set(found), on_disk - set(found)   # every subpackage ships
