"""A griffe extension for the API reference: jaxtick's docstring habits, in Markdown.

* Sphinx roles (``:func:`jaxtick.front```, ``:class:`~jaxtick.stats.Interval```)
  become inline code (``~`` keeps the last component, as in Sphinx).
* Grouped parameters (``max_ticks, min_ticks: static tick bounds``), a name list that
  may run over two lines, become one entry per name, each with the whole description.
* ``Raises:`` entries written ``ValueError naming the field.`` get their colon.

The docstrings themselves stay as they are (they read well in ``help()``).
"""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|attr|meth|obj|exc|const):`(~?)([^`]+)`")
SECTION = re.compile(r"^(\s*)(Args|Arguments|Attributes|Raises):\s*$")
GROUP = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)+):(.*)$")
NAMES_ONLY = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)*),\s*$")
RAISES = re.compile(r"^(\s+)([A-Z]\w*(?:Error|Exception|Warning))\s+(?=[^:\s])")


def _code(m: re.Match) -> str:
  name = m.group(2)
  return f"`{name.rsplit('.', 1)[-1] if m.group(1) else name}`"


def rewrite(text: str) -> str:
  """The docstring ``text`` with roles, grouped parameters and raises rewritten."""
  text = ROLE.sub(_code, text)
  lines, out, section, indent = text.split("\n"), [], None, -1
  i = 0
  while i < len(lines):
    line = lines[i]
    m = SECTION.match(line)
    if m:
      section, indent = m.group(2), len(m.group(1))
      out.append(line)
      i += 1
      continue
    if line.strip() and len(line) - len(line.lstrip()) <= indent:
      section, indent = None, -1
    if section in ("Args", "Arguments", "Attributes"):
      n = NAMES_ONLY.match(line)
      if n and i + 1 < len(lines):          # a name list running over two lines
        line = f"{line.rstrip()} {lines[i + 1].strip()}"
        i += 1
      g = GROUP.match(line)
      if g:
        pad, names, desc = g.group(1), [s.strip() for s in g.group(2).split(",")], g.group(3)
        out.append(f"{pad}{names[0]}:{desc}")
        i, first = i + 1, len(out)
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(pad)):
          if not lines[i].strip() and (i + 1 >= len(lines) or
                                       len(lines[i + 1]) - len(lines[i + 1].lstrip()) <= len(pad)):
            break
          out.append(lines[i])
          i += 1
        block = out[first:]                     # the description's continuation lines
        for name in names[1:]:
          out.append(f"{pad}{name}:{desc}")
          out.extend(block)
        continue
    elif section == "Raises":
      line = RAISES.sub(r"\1\2: ", line)
    out.append(line)
    i += 1
  return "\n".join(out)


class SphinxRoles(griffe.Extension):
  """Applies :func:`rewrite` to every docstring."""

  def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
    if obj.docstring is not None:
      obj.docstring.value = rewrite(obj.docstring.value)
