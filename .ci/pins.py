"""Print ``name==floor`` for each distribution named, from pyproject.toml's extras.

    python .ci/pins.py floor transformers jsonargparse
    -> transformers==4.47.0 jsonargparse[signatures]==4.39.0

The floor is the ``>=`` bound the extras declare (the lowest version pip may install for a user),
so the floors job of ``.ci/run`` tests exactly what pyproject.toml admits. A distribution with no
``>=`` bound, or with two different ones, is an error.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)")


def floors() -> dict[str, str]:
    """``{name: "name[extras]==floor"}`` for every distribution with a ``>=`` bound."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    found: dict[str, set[str]] = {}
    spelled: dict[str, str] = {}
    for requirements in extras.values():
        for req in requirements:
            m = REQUIREMENT.fullmatch(req.split(";")[0].strip())
            if not m:
                continue
            for spec in m.group(3).split(","):
                spec = spec.strip()
                if spec.startswith(">="):
                    found.setdefault(m.group(1).lower(), set()).add(spec[2:].strip())
                    spelled.setdefault(m.group(1).lower(), m.group(1) + (m.group(2) or ""))
    bad = {name: sorted(v) for name, v in found.items() if len(v) != 1}
    if bad:
        raise SystemExit(f"pyproject.toml declares several floors: {bad}")
    return {name: f"{spelled[name]}=={v.pop()}" for name, v in found.items()}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "floor":
        raise SystemExit(__doc__)
    table = floors()
    missing = [name for name in argv[1:] if name.lower() not in table]
    if missing:
        raise SystemExit(f"no '>=' floor in pyproject.toml's extras for: {', '.join(missing)}")
    print(" ".join(table[name.lower()] for name in argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
