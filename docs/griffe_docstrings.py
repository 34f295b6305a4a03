"""A griffe extension for the API reference: reads the package's docstrings as Markdown.

The docstrings follow the Google style with a few reST habits that Markdown does not know. This
extension rewrites them for the docs build only (the package is unchanged):

* ``>>>`` examples (with their ``...`` lines and output) become fenced ``pycon`` blocks, so their
  output (``[1.0, 0.5]``) is not read as a Markdown link;
* ``:class:`x``` / ``:meth:`x``` / ``:attr:`x``` / ``:func:`x``` roles become code spans, and a
  paragraph ending in reST's ``::`` (an indented literal block follows, which Markdown also reads
  as code) ends in ``:``;
* in a section (``Args:``, ``Raises:``, ...), an entry naming several parameters
  (``min_lr, max_lr, steps: see ...``) becomes one entry per name, and a continuation line written
  at the entry's indentation is indented under it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|attr|func|mod|data|exc|obj):`~?([^`]+)`")
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Raises|Returns|Yields|Attributes|Warns):\s*$")
_ENTRY = re.compile(r"^[\w.*]+(?:\s*(?:,|/)\s*[\w.*]+)*(?:\s*\([^)]*\))?:(?:\s|$)")
_MULTI = re.compile(r"^(\w+(?:\s*,\s*\w+)+):(\s.*|)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _sections(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if not _SECTION.match(line.strip()):
            continue
        section = line.strip()[:-1]
        base = _indent(line)
        item = None  # indentation of the section's entries
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
            body = lines[i]
            i += 1
            if not body.strip():
                out.append(body)
                continue
            if item is None:
                item = _indent(body)
            text = body.strip()
            if _indent(body) == item and section not in ("Returns", "Yields"):
                multi = (
                    _MULTI.match(text) if section in ("Args", "Arguments", "Parameters") else None
                )
                if multi:
                    names = [n.strip() for n in multi.group(1).split(",")]
                    # every name gets the description; the continuation lines follow the last
                    out.extend(" " * item + f"{n}:{multi.group(2)}" for n in names)
                    continue
                if not _ENTRY.match(text):
                    body = " " * (item + 4) + text
            out.append(body)
    return out


def _fence_doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            pad = " " * _indent(line)
            out.extend(["", pad + "```pycon"])
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.extend([pad + "```", ""])
            continue
        out.append(line)
        i += 1
    return out


def markdown_docstring(text: str) -> str:
    """The docstring ``text`` rewritten for the Markdown renderer (see the module docstring)."""
    text = _ROLE.sub(r"`\1`", text)
    text = re.sub(r"(?<=\S)::$", ":", text, flags=re.MULTILINE)
    lines = _fence_doctests(_sections(text.splitlines()))
    return "\n".join(lines)


class MarkdownDocstrings(griffe.Extension):
    """Applies :func:`markdown_docstring` to every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
