"""Optional dependencies: imported when first used, with a message naming the extra."""

from __future__ import annotations

import importlib
import types


def require(module: str, extra: str, user: str) -> types.ModuleType:
  """Imports ``module`` or raises an ImportError naming the extra that installs it.

  Args:
    module: the module to import, e.g. ``"pandas"``.
    extra: jaxtick's extra that provides it, e.g. ``"pandas"``.
    user: what needs it, for the message, e.g. ``"Front.to_dataframe"``.
  """
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise ImportError(f"{user} needs {module.split('.')[0]}: pip install 'jaxtick[{extra}]' "
                      f"(from a checkout: pip install '.[{extra}]')") from e
