"""MkDocs hooks (``hooks:`` in mkdocs.yml): the recipes' LR traces, drawn at build time.

A ```` ```python ```` block whose first line (after an optional ``# needs:`` line) is
``# trace: NAME`` is a recipe's plan. On every build the hook runs it (no training: it only builds
schedules) and draws what it leaves in ``traces``, a dict from a label to a bound schedule (or a
list of values, one per step), over ``range(steps + 1)`` (``steps`` from the block, else the
schedules' ``total_steps``), or over the block's ``x`` (a list of clock values, e.g. tokens), with
``xlabel`` if the block sets one. The picture is written into
the site as ``NAME.png`` next to the page, so the page shows it with ``![...](NAME.png)``. The same
blocks run in ``integration/test_docs.py``.

A line ``<!-- plot NAME: SPEC -->`` (the catalog's) becomes the picture ``NAME.png`` of the inline
spec ``SPEC`` (the syntax of ``lrplugins show``) over 1000 steps, drawn the same way.

The benchmark pages include the result files the benchmarks wrote (``--8<-- "benchmarks/X.md"``,
see :func:`include_results`), so no number is retyped; the page that says
``<!-- contract-table -->`` gets the contract suite's scenario table, generated from its list.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
TRACE = re.compile(r"^# trace: ([\w-]+)$")


def trace_blocks(markdown: str) -> list[tuple[str, str]]:
    """``(name, code)`` of every trace block in a page's Markdown."""
    found = []
    for code in BLOCK.findall(markdown):
        lines = [ln for ln in code.splitlines() if not ln.startswith("# needs:")]
        match = TRACE.match(lines[0]) if lines else None
        if match:
            found.append((match.group(1), code))
    return found


def trace_data(code: str) -> tuple[str, dict[str, list[float]]]:
    """Runs a trace block; returns its x label and its curves (the x values under the key ``""``)."""
    namespace: dict[str, Any] = {"__name__": "__trace__"}
    exec(compile(code, "<trace>", "exec"), namespace)  # noqa: S102  (the docs pages own code)
    traces = namespace["traces"]
    x = namespace.get("x")
    if x is None:
        steps = namespace.get("steps")
        if steps is None:
            steps = max(int(s.total_steps) for s in traces.values() if hasattr(s, "total_steps"))
        x = range(steps + 1)
    curves = {"": [float(t) for t in x]}
    for label, s in traces.items():
        curves[label] = [float(v) for v in (s.values(x) if hasattr(s, "values") else s)]
    return namespace.get("xlabel", "optimizer update"), curves


def draw(code: str) -> bytes:
    """The PNG of a trace block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xlabel, curves = trace_data(code)
    x = curves.pop("")
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
    for label, values in curves.items():
        ax.plot(x, values, label=label, linewidth=1.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("multiplier of the configured value")
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    plt.close(fig)
    return out.getvalue()


PLOT = re.compile(r"^<!-- plot ([\w-]+): (.+) -->$", re.MULTILINE)
PLOT_STEPS = 1000


def plot_code(spec: str) -> str:
    """A trace block drawing the schedule an inline spec (as ``lrplugins show`` takes) describes,
    bound to :data:`PLOT_STEPS` steps."""
    return (
        "from lrplugins.spec import parse_spec\n"
        f"traces = {{{spec!r}: parse_spec({spec!r}).bind(total_steps={PLOT_STEPS})}}\n"
        f"steps = {PLOT_STEPS}\n"
    )


def plot_markers(markdown: str) -> list[tuple[str, str]]:
    """``(name, spec)`` of every ``<!-- plot NAME: SPEC -->`` line (the catalog's pictures)."""
    return PLOT.findall(markdown)


def on_files(files: Any, config: Any) -> Any:
    """Adds one generated PNG per trace block and per plot marker, next to its page."""
    from mkdocs.structure.files import File

    for page in list(files.documentation_pages()):
        markdown = Path(page.abs_src_path).read_text(encoding="utf-8")
        folder = Path(page.src_uri).parent
        for name, spec in plot_markers(markdown):
            uri = (folder / f"{name}.png").as_posix()
            files.append(File.generated(config, uri, content=draw(plot_code(spec))))
        for name, code in trace_blocks(markdown):
            uri = (folder / f"{name}.png").as_posix()
            try:
                png = draw(code)
            except Exception as exc:
                raise RuntimeError(
                    f"docs/{page.src_uri}: trace block {name!r} failed: {exc!r}"
                ) from exc
            files.append(File.generated(config, uri, content=png))
    return files


INCLUDE = re.compile(r'^--8<-- "(benchmarks/[\w.-]+\.md)"$', re.MULTILINE)


def include_results(markdown: str, root: Path) -> str:
    """Replaces each ``--8<-- "benchmarks/X.md"`` line with that results file, as it is, except
    that its links to ``../docs/NAME`` (written from benchmarks/) point to ``NAME``, the same file
    in the site (the including pages sit at the top of docs/)."""

    def text(match: re.Match[str]) -> str:
        body = (root / match.group(1)).read_text(encoding="utf-8")
        return body.replace("](../docs/", "](")

    return INCLUDE.sub(text, markdown)


CONTRACT_TABLE = "<!-- contract-table -->"


def contract_table(root: Path) -> str:
    """The contract suite's scenario table (``integration/contract_scenarios.py``), as generated."""
    import importlib.util
    import sys

    name = "_docs_contract_scenarios"
    spec = importlib.util.spec_from_file_location(
        name, root / "integration" / "contract_scenarios.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        return str(module.readme_table())
    finally:
        del sys.modules[name]


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Includes the benchmarks' result files and the contract table where a page asks for them."""
    root = Path(config["config_file_path"]).parent
    markdown = PLOT.sub(
        lambda m: f"![{m.group(2)}]({m.group(1)}.png)\n\n*`{m.group(2)}` over {PLOT_STEPS} steps*",
        markdown,
    )
    if CONTRACT_TABLE in markdown:
        markdown = markdown.replace(CONTRACT_TABLE, contract_table(root))
    return include_results(markdown, root)
