"""Configs: rebuild a schedule from ``to_config()`` or from a JSON / YAML file."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import _validate as v
from .base import REGISTRY, Schedule

__all__ = ["from_config", "load"]


def from_config(config: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from ``schedule.to_config()`` (or a hand-written dict of the same form).

    >>> import lrplugins as lrp
    >>> lrp.from_config({"kind": "cosine", "total_steps": 100, "warmup_steps": "5%"})
    cosine(total_steps=100, warmup_steps='5%')
    """
    if not isinstance(config, dict):
        raise TypeError(f"from_config(): config must be a dict, got {config!r}")
    if "kind" not in config:
        raise ValueError(f"from_config(): config has no 'kind' key, got keys {sorted(config)}")
    kind = config["kind"]
    known = {k.name: k.cls for k in REGISTRY.values() if k.cls._has_config}
    cls = known.get(kind) if isinstance(kind, str) else None
    if cls is None:
        allowed = ", ".join(sorted(known))
        raise ValueError(f"from_config(): unknown kind {kind!r}; known kinds: {allowed}")
    fields = {cls._aliases.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(config) - set(fields) - {"kind"})
    if unknown:
        raise ValueError(
            f"from_config(): unknown key(s) {unknown} for kind {kind!r}; allowed: {sorted(fields)}"
        )
    kwargs = {fields[k]: val for k, val in config.items() if k != "kind"}
    child = cls._children
    if child == "schedule" and child in kwargs:
        kwargs[child] = from_config(kwargs[child])
    elif child == "schedules" and child in kwargs:
        kwargs[child] = [from_config(c) for c in v.listlike(kind, child, kwargs[child])]
    return cls(**kwargs)


def load(path: Any) -> Schedule:
    """Load a schedule from a JSON or YAML file (YAML needs PyYAML: ``pip install 'lrplugins[yaml]'``).

    Any error in the file is reported with the file's name.
    """
    import json
    import os

    name = os.fspath(path)
    with open(name, encoding="utf-8") as fh:
        text = fh.read()
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError(
                f"load({name!r}): reading YAML needs PyYAML: pip install 'lrplugins[yaml]'"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{name}: not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not valid JSON: {exc}") from None
    try:
        return from_config(data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
