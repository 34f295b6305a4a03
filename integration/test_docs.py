"""Every ```python block of the docs pages (docs/**/*.md) runs, as pasted, in a fresh interpreter.

The same convention as ``test_readme.py``: a block whose first line is ``# needs: a, b`` imports
those frameworks (``require``: skipped locally when missing, a failure in CI), and blocks run in a
temporary directory. Blocks of one page run in separate interpreters, in page order.

Also checked here: the recipes' trace blocks draw (the docs build's hook, ``docs/hooks.py``), and
the contract table that the build puts on the run-state page is the contract suite's own.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
BLOCKS = [
    (page.relative_to(DOCS).as_posix(), i, block)
    for page in PAGES
    for i, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")))
]


def _name(block: str) -> str:
    first = next(
        (ln for ln in block.splitlines() if ln.strip() and not ln.startswith("# needs")), ""
    )
    return first.strip("# ")[:40]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_have_python_blocks():
    assert len(BLOCKS) >= 20
    assert len({page for page, _, _ in BLOCKS}) >= 10


@pytest.mark.parametrize(
    "page,block",
    [(page, block) for page, _, block in BLOCKS],
    ids=[f"{page}-{i}-{_name(b)}" for page, i, b in BLOCKS],
)
def test_docs_block_runs(page, block, tmp_path):
    first = block.splitlines()[0]
    if first.startswith("# needs:"):
        for name in first.removeprefix("# needs:").split(","):
            require(name.strip())
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, (
        f"block of docs/{page} failed:\n{block}\n--- stderr ---\n{proc.stderr[-3000:]}"
    )


TRACES = [
    (page.relative_to(DOCS).as_posix(), name, code)
    for page in PAGES
    for name, code in _hooks().trace_blocks(page.read_text(encoding="utf-8"))
]


def test_every_recipe_draws_its_trace():
    """Each recipe page has a trace block, and shows the picture the build draws from it."""
    recipes = {p.relative_to(DOCS).as_posix() for p in (DOCS / "recipes").glob("*.md")}
    assert recipes <= {page for page, _, _ in TRACES}
    for page, name, _ in TRACES:
        assert f"]({name}.png)" in (DOCS / page).read_text(encoding="utf-8"), (page, name)


@pytest.mark.parametrize("page,name,code", TRACES, ids=[f"{p}-{n}" for p, n, _ in TRACES])
def test_trace_data_is_the_schedule(page, name, code):
    """The hook's curves are the block's schedules evaluated at every step, never empty or NaN."""
    xlabel, curves = _hooks().trace_data(code)
    x = curves.pop("")
    assert xlabel and x and curves
    for label, values in curves.items():
        assert len(values) == len(x), label
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), label


def test_trace_png_draws():
    require("matplotlib")
    png = _hooks().draw(TRACES[0][2])
    assert png.startswith(b"\x89PNG")


def test_results_are_included_not_retyped(tmp_path):
    """The benchmark pages include the result files; their links to ../docs/ point into the site."""
    hooks = _hooks()
    for page, result in [
        ("benchmarks.md", "RESULTS.md"),
        ("benchmarks-lr-finder.md", "RESULTS_lr_finder.md"),
    ]:
        text = (DOCS / page).read_text(encoding="utf-8")
        assert f'--8<-- "benchmarks/{result}"' in text
        body = hooks.include_results(text, ROOT)
        assert "--8<--" not in body and "](../docs/" not in body
        first = (ROOT / "benchmarks" / result).read_text(encoding="utf-8").splitlines()[0]
        assert first in body


def test_api_reference_names_every_public_name():
    """Every name of lrplugins.__all__ has a ``::: lrplugins.NAME`` entry (API page or catalog),
    and each adapter module is rendered whole (its members are its __all__)."""
    import lrplugins

    text = (DOCS / "api.md").read_text(encoding="utf-8") + (DOCS / "catalog.md").read_text(
        encoding="utf-8"
    )
    entries = set(re.findall(r"^::: (lrplugins[\w.]*)$", text, re.MULTILINE))
    missing = [n for n in lrplugins.__all__ if f"lrplugins.{n}" not in entries]
    assert not missing, f"not in docs/api.md or docs/catalog.md: {missing}"
    for module in ("torch", "lightning", "huggingface", "keras"):
        assert f"lrplugins.{module}" in entries


def test_contract_table_is_generated_into_the_run_state_page():
    """The run-state page asks for the contract table, and the hook gives the suite's own."""
    sys.path.insert(0, str(ROOT / "integration"))
    import contract_scenarios as cs

    text = (DOCS / "concepts" / "run-state.md").read_text(encoding="utf-8")
    hooks = _hooks()
    assert hooks.CONTRACT_TABLE in text
    assert hooks.contract_table(ROOT) == cs.readme_table()


def test_readme_links_resolve():
    """Every relative link or image of the README names a file of the repository (the docs build
    checks the pages' own links with --strict; the README is not one of them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    missing = [t for t in local if t and not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_catalog_shape_has_its_picture():
    """Each shape of the catalog page (but ``custom``, which has no spec) has a plot marker whose
    inline spec parses, binds and stays within [0, 1] over the plotted steps."""
    hooks = _hooks()
    text = (DOCS / "catalog.md").read_text(encoding="utf-8")
    shapes = set(re.findall(r"^::: lrplugins\.(\w+)$", text, re.MULTILINE)) - {"custom"}
    markers = hooks.plot_markers(text)
    assert {name.removeprefix("catalog-").replace("-", "_") for name, _ in markers} == shapes
    for name, spec in markers:
        _, curves = hooks.trace_data(hooks.plot_code(spec))
        values = curves[spec]
        assert len(values) == hooks.PLOT_STEPS + 1, name
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), name
