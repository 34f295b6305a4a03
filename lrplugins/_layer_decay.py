"""Layer-wise learning-rate decay (LLRD) and weight-decay exclusions as torch parameter groups.

The standard recipe for fine-tuning ViTs, BEiT/MAE, BERT/DeBERTa and ELECTRA: the head trains at
the full LR, each layer below it at ``decay`` times the layer above, and norms, biases (and
embeddings, where the model says so) get no weight decay. :func:`layer_decay_groups` builds the
parameter groups for any torch optimizer, with the layer's factor baked into each group's ``"lr"``,
so every scheduler that multiplies a group's own base LR (``lrplugins.torch.LRScheduler``, the
Lightning and Hugging Face callbacks, torch's own schedulers) keeps the ratios.

Duck-typed on ``model.named_parameters()``: no framework import here.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any, Union

__all__ = ["layer_decay_groups"]

_OWNER = "layer_decay_groups"
_MATCH_PREVIOUS = 99999.0  # timm's MATCH_PREV_GROUP: the entry joins the previous layer id
LayerRule = Union[str, Sequence[tuple[str, int]], Callable[[str], int], None]  # noqa: UP007
NoDecayRule = Union[str, Callable[[str, Any], bool]]  # noqa: UP007


def layer_decay_groups(
    model: Any,
    lr: float,
    decay: float,
    *,
    weight_decay: float = 0.0,
    layers: LayerRule = None,
    no_decay: NoDecayRule = "ndim<=1",
    min_scale: float = 0.0,
) -> list[dict[str, Any]]:
    """Parameter groups with layer-wise LR decay and weight-decay exclusions, for any optimizer.

    Each trainable parameter gets a layer id ``i`` (0 for the embeddings/stem, the largest,
    ``top``, for the head) and the LR ``lr * max(min_scale, decay ** (top - i))``, and weight
    decay ``0`` if ``no_decay`` selects it, else ``weight_decay``. Parameters sharing a layer id
    and a decay setting form one group, named ``layer_{i}_decay`` / ``layer_{i}_no_decay``, with
    the factor recorded as ``"layer_scale"`` (never applied twice: a group with ``layer_scale``
    ignores timm's ``lr_scale``). Frozen parameters (``requires_grad=False``) are left out of the
    groups but still count for the depth, so unfreezing them later (``add_param_group``) keeps
    the numbering.

    Args:
        model: a ``torch.nn.Module`` (anything with ``named_parameters``).
        lr: the head's learning rate (> 0).
        decay: the factor between consecutive layers, ``0 < decay <= 1``.
        weight_decay: the weight decay of the parameters ``no_decay`` does not select (>= 0).
        layers: how names map to layer ids:
            ``None``: the model's timm-style ``group_matcher(coarse=False)`` (regexes with
            captured block indices; an entry with suffix ``(99999,)`` joins the previous id;
            names no regex matches are the head, the top id), as timm numbers them (the final
            norm shares the last block's id);
            ``"beit"``: the BEiT/MAE numbering (``cls_token``, ``mask_token``, ``pos_embed``,
            ``patch_embed*`` are 0, ``blocks.{k}`` is ``k + 1``, everything else, final norm included, the top);
            a list of ``(regex, id)``: the first regex that matches the start of a name gives its
            id (a trainable parameter no regex places is refused);
            a callable ``name -> id``.
        no_decay: which parameters get no weight decay: ``"ndim<=1"`` (biases, norm weights),
            ``"timm"`` (1-D parameters plus the names in ``model.no_weight_decay()``), ``"hf"``
            (transformers' own rule, ``Trainer.get_decay_parameter_names``), or a callable
            ``(name, param) -> bool``.
        min_scale: the smallest factor a layer gets (in ``[0, 1]``).

    Returns:
        A list of param-group dicts (``params``, ``lr``, ``weight_decay``, ``layer_scale``,
        ``name``), ordered by layer id, for ``torch.optim.AdamW(groups)`` or any optimizer.

    Raises:
        ValueError / TypeError: a bad argument (named with its value); ``layers=None`` on a model
        without ``group_matcher``; a trainable parameter no rule places; one tensor reached under
        two names that map to different layer ids (tied weights), naming both.

    >>> import torch
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.embed = torch.nn.Linear(2, 4)
    ...         self.blocks = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    ...         self.head = torch.nn.Linear(4, 1)
    >>> def layer(name):  # embed 0, blocks.k k + 1, head 3
    ...     part = name.split(".")
    ...     return 1 + int(part[1]) if part[0] == "blocks" else {"embed": 0, "head": 3}[part[0]]
    >>> groups = layer_decay_groups(Tiny(), 1e-3, 0.5, weight_decay=0.05, layers=layer)
    >>> [(g["name"], g["lr"], g["weight_decay"]) for g in groups][:3]
    [('layer_0_decay', 0.000125, 0.05), ('layer_0_no_decay', 0.000125, 0.0), ('layer_1_decay', 0.00025, 0.05)]
    """
    lr = _number("lr", lr, lo=0.0, lo_open=True)
    decay = _number("decay", decay, lo=0.0, lo_open=True, hi=1.0)
    weight_decay = _number("weight_decay", weight_decay, lo=0.0)
    min_scale = _number("min_scale", min_scale, lo=0.0, hi=1.0)
    named = list(model.named_parameters(remove_duplicate=False))
    layer_of = _layer_rule(model, layers, [n for n, _ in named])
    selects = _no_decay_rule(model, no_decay)

    ids: dict[str, int] = {}
    first_name: dict[int, str] = {}  # id(tensor) -> the first name it was reached under
    for name, param in named:
        layer = layer_of(name)
        if layer is None:
            if param.requires_grad:
                raise ValueError(
                    f"{_OWNER}(): no rule of layers places the trainable parameter {name!r}; add "
                    "a (regex, id) entry for it (or a catch-all such as ('', top_id))"
                )
            continue
        other = first_name.setdefault(id(param), name)
        if other != name and ids[other] != layer:
            raise ValueError(
                f"{_OWNER}(): one tensor is reached under two names with different layer ids: "
                f"{other!r} (layer {ids[other]}) and {name!r} (layer {layer}) (tied weights); "
                "give both names the same id with a layers rule"
            )
        ids[name] = layer
    if not ids:
        raise ValueError(f"{_OWNER}(): the model has no parameters to group")
    top = max(ids.values())

    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in named:
        if not param.requires_grad or first_name[id(param)] != name:
            continue  # frozen, or a second name of a tensor already placed
        layer, off = ids[name], bool(selects(name, param))
        key = (layer, off)
        if key not in groups:
            scale = max(min_scale, decay ** (top - layer))
            groups[key] = {
                "params": [],
                "lr": lr * scale,
                "weight_decay": 0.0 if off else weight_decay,
                "layer_scale": scale,
                "name": f"layer_{layer}_{'no_decay' if off else 'decay'}",
            }
        groups[key]["params"].append(param)
    return [groups[k] for k in sorted(groups)]


def _number(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    from . import _validate as v

    return v.real(_OWNER, name, value, lo=lo, hi=hi, lo_open=lo_open)


def _layer_rule(model: Any, layers: LayerRule, names: list[str]) -> Callable[[str], int | None]:
    """``name -> layer id`` (``None``: not placed) from the ``layers`` argument."""
    if layers is None:
        matcher = getattr(model, "group_matcher", None)
        if matcher is None:
            raise ValueError(
                f"{_OWNER}(): layers=None needs the model's timm-style group_matcher(), which "
                f"{type(model).__name__} has not; pass layers='beit' (a ViT with blocks.N), a "
                "list of (regex, layer id), or a callable name -> layer id"
            )
        mapping = _timm_layer_map(names, matcher(coarse=False))
        return mapping.get
    if isinstance(layers, str):
        if layers != "beit":
            raise ValueError(
                f"{_OWNER}(): layers must be None, 'beit', a list of (regex, id) or a callable, "
                f"got {layers!r}"
            )
        depth = {int(m.group(1)) for n in names if (m := re.match(r"blocks\.(\d+)\.", n))}
        if not depth:
            raise ValueError(
                f"{_OWNER}(): layers='beit' numbers the blocks of a ViT (names blocks.N...), and "
                f"{type(model).__name__} has none; pass a list of (regex, id) or a callable"
            )
        top = max(depth) + 2
        return lambda name: _beit_id(name, top)
    if callable(layers):
        rule = layers
        return lambda name: _checked_id(name, rule(name))
    if isinstance(layers, Iterable):
        compiled = []
        for entry in layers:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                raise TypeError(
                    f"{_OWNER}(): layers entries must be (regex, layer id) pairs, got {entry!r}"
                )
            compiled.append((re.compile(entry[0]), _checked_id(entry[0], entry[1])))
        return lambda name: next((i for rx, i in compiled if rx.match(name)), None)
    raise TypeError(
        f"{_OWNER}(): layers must be None, 'beit', a list of (regex, id) or a callable, "
        f"got {layers!r}"
    )


def _checked_id(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{_OWNER}(): a layer id must be an int >= 0, got {value!r} (for {where!r})"
        )
    return value


def _beit_id(name: str, top: int) -> int:
    """BEiT's ``get_num_layer_for_vit`` (MAE's ``get_layer_id_for_vit`` is the same without
    ``mask_token``, which MAE's fine-tuned models do not have): ``cls_token``, ``mask_token``,
    ``pos_embed`` and ``patch_embed*`` 0, ``blocks.k`` k + 1, the rest the top."""
    if name in ("cls_token", "mask_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    m = re.match(r"blocks\.(\d+)\.", name)
    return int(m.group(1)) + 1 if m else top


def _timm_layer_map(names: list[str], group_matcher: Any) -> dict[str, int]:
    """timm's ``group_with_matcher(..., reverse=True)``: ordinals from the matcher's regexes, then
    consecutive ids (an ordinal ending in 99999 joins the id before it)."""
    compiled: list[tuple[re.Pattern[str], tuple[float, ...], Sequence[float] | None]] = []
    if isinstance(group_matcher, dict):
        for index, spec in enumerate(group_matcher.values()):
            if spec is None:
                continue
            if isinstance(spec, (tuple, list)):
                compiled += [(re.compile(rx), (float(index),), suffix) for rx, suffix in spec]
            else:
                compiled.append((re.compile(spec), (float(index),), None))

    def ordinal(name: str) -> tuple[float, ...]:
        if not compiled and callable(group_matcher):
            value = group_matcher(name)
            return tuple(map(float, value)) if isinstance(value, Iterable) else (float(value),)
        for rx, prefix, suffix in compiled:
            m = rx.match(name)
            if m:
                parts = (prefix, m.groups(), suffix)
                return tuple(map(float, chain.from_iterable(p for p in parts if p)))
        return (math.inf,)  # unmatched: the neck and head, the largest ordinal

    grouping: dict[tuple[float, ...], list[str]] = defaultdict(list)
    for name in names:
        grouping[ordinal(name)].append(name)
    out: dict[str, int] = {}
    layer = -1
    for key in sorted(grouping):
        if layer < 0 or key[-1] != _MATCH_PREVIOUS:
            layer += 1
        for name in grouping[key]:
            out[name] = layer
    return out


def _no_decay_rule(model: Any, no_decay: NoDecayRule) -> Callable[[str, Any], bool]:
    if callable(no_decay):
        return no_decay
    if no_decay == "ndim<=1":
        return lambda name, p: p.ndim <= 1
    if no_decay == "timm":
        listed = getattr(model, "no_weight_decay", None)
        skip = set(listed()) if callable(listed) else set()
        return lambda name, p: p.ndim <= 1 or name in skip
    if no_decay == "hf":
        try:
            from transformers import Trainer
        except ImportError as exc:
            raise ImportError(
                f"{_OWNER}(no_decay='hf') uses transformers' own rule: pip install "
                "'lrplugins[huggingface]'"
            ) from exc
        decayed = set(Trainer.get_decay_parameter_names(None, model))  # type: ignore[arg-type]
        return lambda name, p: name not in decayed
    raise ValueError(
        f"{_OWNER}(): no_decay must be 'ndim<=1', 'timm', 'hf' or a callable (name, param) -> "
        f"bool, got {no_decay!r}"
    )
