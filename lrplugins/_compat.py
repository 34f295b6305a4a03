"""The framework versions each adapter serves, checked when the adapter is imported.

Below its floor an adapter would apply or log a learning rate other than the one it promises (see
``docs/versions.md`` for what breaks below each floor), so it refuses to import instead, naming the
framework, the installed version and the supported range. ``pyproject.toml``'s extras and
``.ci/run``'s floors job carry the same floors; ``tests/test_versions.py`` checks that they agree.

Versions are compared by their release numbers only: ``"4.51.0rc1"``, ``"4.51.0.dev0"`` and
``"4.51.0+cpu"`` all count as 4.51.0, so a pre-release of a supported version is accepted and a
pre-release of the first unsupported one is refused. No dependency (``packaging`` is not needed).
"""

from __future__ import annotations

import re
import sys

__all__ = ["SUPPORTED", "check_framework", "parse_version", "require_version"]

# adapter module: (framework module whose __version__ is read, pip distribution, lowest supported
# release, first unsupported release or None)
SUPPORTED: dict[str, tuple[str, str, str, str | None]] = {
    "lrplugins.torch": ("torch", "torch", "2.1", None),
    "lrplugins.lightning": ("lightning", "lightning", "2.5.0", None),
    "lrplugins.keras": ("keras", "keras", "3.7.0", None),
    "lrplugins.huggingface": ("transformers", "transformers", "4.47.0", None),
}

_RELEASE = re.compile(r"\s*[vV]?(\d+(?:\.\d+)*)")


def parse_version(text: str) -> tuple[int, ...]:
    """The release numbers of a version string, trailing zeros dropped.

    >>> parse_version("4.51.0"), parse_version("2.13.0+cpu"), parse_version("3.8.0rc1")
    ((4, 51), (2, 13), (3, 8))
    >>> parse_version("5.0.0.dev0"), parse_version("v2.1"), parse_version("2.2.0.post0")
    ((5,), (2, 1), (2, 2))

    Raises:
        ValueError: ``text`` does not start with a release number.
    """
    match = _RELEASE.match(str(text))
    if match is None:
        raise ValueError(f"not a version number: {text!r}")
    parts = [int(p) for p in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def require_version(
    adapter: str, dist: str, installed: str, minimum: str, below: str | None = None
) -> None:
    """Raise ``ImportError`` unless ``minimum <= installed < below`` (release numbers only).

    >>> require_version("lrplugins.huggingface", "transformers", "4.57.6", "4.51.0")
    >>> require_version("lrplugins.huggingface", "transformers", "4.30.0", "4.51.0", "6")
    Traceback (most recent call last):
    ...
    ImportError: lrplugins.huggingface supports transformers >=4.51.0,<6; found transformers 4.30.0. Install a supported version: pip install 'transformers>=4.51.0,<6'
    """
    spec = f">={minimum}" + (f",<{below}" if below is not None else "")
    fix = f"Install a supported version: pip install '{dist}{spec}'"
    try:
        version = parse_version(installed)
    except ValueError:
        raise ImportError(
            f"{adapter} supports {dist} {spec}; cannot read the installed version "
            f"{installed!r}. {fix}"
        ) from None
    if version < parse_version(minimum) or (below is not None and version >= parse_version(below)):
        raise ImportError(f"{adapter} supports {dist} {spec}; found {dist} {installed}. {fix}")


def check_framework(adapter: str) -> None:
    """Check the already imported framework of ``adapter`` (a key of :data:`SUPPORTED`)."""
    module, dist, minimum, below = SUPPORTED[adapter]
    installed = getattr(sys.modules.get(module), "__version__", None)
    if installed is None:  # imported without a __version__ (an odd build): ask the installer
        from importlib import metadata

        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            installed = "unknown"
    require_version(adapter, dist, str(installed), minimum, below)
