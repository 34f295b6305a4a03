"""Parameter groups: their base values, names, schedule keys and the update each one joined at."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from .._schedules import Schedule
from .specs import SPEC_ARGS, GroupKey


class Groups:
    """The group rules of :class:`lrplugins.RunState` (a part of it, not used alone)."""

    owner: str
    groups: dict[int, list[dict[str, Any]]]
    _specs: dict[str, dict[GroupKey, Schedule]]
    _optimizers: dict[int, str]
    _uniform: dict[int, list[float]]
    _keys_checked: bool
    _per_opt: bool
    _written: dict[int, list[float]]
    _warned_outside: bool

    @property
    def scheduled(self) -> tuple[str, ...]:  # pragma: no cover - RunState's
        raise NotImplementedError

    @property
    def current_total(self) -> int | None:  # pragma: no cover - RunState's
        raise NotImplementedError

    @property
    def scale(self) -> float:  # pragma: no cover - RunState's
        raise NotImplementedError

    def multiplier(self, step: int) -> float:  # pragma: no cover - RunState's
        raise NotImplementedError

    def _warn(self, message: str, stacklevel: int = 2) -> None:  # pragma: no cover - RunState's
        raise NotImplementedError

    def _build(
        self, hyper: str, key: GroupKey, join: int, total: int | None, opt: int = 0
    ) -> Schedule:  # pragma: no cover - RunState's
        raise NotImplementedError

    def take_groups(
        self,
        key: int,
        groups: list[dict[str, Any]],
        *,
        base_lrs: list[float] | None = None,
        optimizer: Any = None,
    ) -> list[dict[str, Any]]:
        """Register optimizer ``key``'s parameter groups (the checkpoint's, when resuming).

        Each group's base values are its configured ``lr`` (or ``base_lrs``), momentum
        (``momentum`` or ``betas[0]``) and ``weight_decay``, for what this run schedules. A group
        no schedule key matches, or a hyperparameter the optimizer lacks, is refused (naming
        ``optimizer``'s class). On resume the checkpoint's groups are kept; a hyperparameter
        scheduled since (``momentum=`` added) takes its base from ``groups``.
        """
        if optimizer is not None:
            self._optimizers[key] = type(optimizer).__name__
        saved = self.groups.get(key)
        if saved is not None:
            if len(saved) != len(groups):
                raise ValueError(
                    f"{self.owner}: the checkpoint has {len(saved)} parameter group(s) for "
                    f"optimizer {key}, but it now has {len(groups)}; got base_lrs="
                    f"{[g['base']['lr'] for g in saved]}"
                )
            added = [h for h in self.scheduled if any(h not in r["keys"] for r in saved)]
            for i, r in enumerate(saved):
                for hyper in added:
                    r["keys"][hyper] = self._match(key, i, r["name"])[hyper]
                    if hyper != "lr":
                        r["base"][hyper] = self._base(key, i, groups[i], hyper)
            if added:
                self._check_hyper_present(key, saved)
            if base_lrs is not None:  # the configured bases now: the checkpoint's win, said once
                self._warn_changed_bases(key, saved, groups, base_lrs)
            return saved
        bases = base_lrs if base_lrs is not None else [float(g["lr"]) for g in groups]
        records = [self._record(key, i, g, bases[i], 0) for i, g in enumerate(groups)]
        self._check_hyper_present(key, records)
        self.groups[key] = records
        return records

    def _record(
        self, key: int, index: int, group: dict[str, Any], lr: float, join: int
    ) -> dict[str, Any]:
        name = group.get("name")
        base = {"lr": float(lr) * self._lr_scale(key, index, group)}
        for hyper in self.scheduled[1:]:
            base[hyper] = self._base(key, index, group, hyper)
        record = {
            "name": name if isinstance(name, str) else None,
            "join": int(join),
            "total": self.current_total if join else None,
            "base": base,
            "keys": self._match(key, index, name if isinstance(name, str) else None),
        }
        return record

    def _warn_changed_bases(
        self,
        key: int,
        saved: list[dict[str, Any]],
        groups: list[dict[str, Any]],
        base_lrs: list[float],
    ) -> None:
        changed = []
        for i, (r, g) in enumerate(zip(saved, groups)):
            now = float(base_lrs[i]) * self._lr_scale(key, i, g)
            if not math.isclose(now, r["base"]["lr"], rel_tol=1e-12, abs_tol=0.0):
                changed.append(f"{r['name'] or i}: {r['base']['lr']:g} (now {now:g})")
        if changed:
            self._warn(
                f"{self.owner}: the checkpoint's base LRs differ from the ones configured now for "
                f"{len(changed)} parameter group(s) of {self._optimizer(key)} "
                f"({'; '.join(changed)}); the checkpoint's are used (the checkpoint wins, as for "
                "every argument). Start a fresh run to change them.",
                stacklevel=4,
            )

    def _lr_scale(self, key: int, index: int, group: Mapping[str, Any]) -> float:
        """timm's ``"lr_scale"`` key (timm, BEiT and MAE put every group at the same ``lr`` and the
        layer's factor there): the group's base LR is ``lr * lr_scale``. A group that also has
        ``"layer_scale"`` (:func:`lrplugins.torch.layer_decay_groups`, whose ``lr`` already holds
        the factor) is never scaled twice."""
        if "lr_scale" not in group or "layer_scale" in group:
            return 1.0
        value = group["lr_scale"]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{self.owner}: parameter group {index} of {self._optimizer(key)} has "
                f"lr_scale={value!r}; it must be a finite number >= 0 (the factor of the group's "
                "lr, timm's convention)"
            )
        return float(value)

    def _base(self, key: int, index: int, group: Mapping[str, Any], hyper: str) -> float:
        """The configured ``hyper`` of a group, or a refusal naming the optimizer."""
        value = _read(group, hyper)
        if value is None:
            raise ValueError(
                f"{self.owner}: {SPEC_ARGS[hyper]}= cannot be scheduled on "
                f"{self._optimizer(key)}: its parameter group {index} has no {hyper} "
                f"hyperparameter (keys: {sorted(k for k in group if k != 'params')}); drop "
                f"{SPEC_ARGS[hyper]}= or use an optimizer that has it"
            )
        return value

    def _optimizer(self, key: int) -> str:
        name = self._optimizers.get(key)
        return f"optimizer {key}" + (f" ({name})" if name else "")

    def _warn_unmatched_keys(self) -> None:
        """Warn once when a group key matches no group while some group falls back to ``"*"``."""
        self._keys_checked = True
        records = [r for rs in self.groups.values() for r in rs]
        for hyper, spec in self._specs.items():
            used = {r["keys"].get(hyper) for r in records}
            unmatched = [k for k in spec if k != "*" and k not in used]
            if unmatched and "*" in used:
                names = [r["name"] for r in records]
                self._warn(
                    f"{self.owner}: {SPEC_ARGS[hyper]} has key(s) {unmatched} that match no "
                    f"parameter group (groups: names {names}, indices 0-{len(records) - 1}), "
                    "while some group falls back to '*'; a typo would train that group on the "
                    "'*' schedule. Such a key still applies to a group of that name that joins "
                    "later.",
                    stacklevel=4,
                )

    def _match(self, key: int, index: int, name: str | None) -> dict[str, GroupKey]:
        """The spec key of group ``index`` in every spec: its name, its index, the first glob
        pattern (``"layer_1*"``, :mod:`fnmatch` rules) that matches its name, or ``"*"``."""
        keys: dict[str, GroupKey] = {}
        for hyper, spec in self._specs.items():
            k: GroupKey | None = None
            if name is not None and name in spec:
                k = name
            elif index in spec:
                k = index
            elif name is not None:
                k = next((g for g in spec if _is_glob(g) and fnmatchcase(name, str(g))), None)
            if k is None and "*" in spec:
                k = "*"
            if k is None:
                raise ValueError(
                    f"{self.owner}: parameter group {index} (name {name!r}) of optimizer {key} "
                    f"matches no key of {SPEC_ARGS[hyper]} ({sorted(map(str, spec))}); add its "
                    "name, its index, a pattern that matches its name, or '*'."
                )
            keys[hyper] = k
        return keys

    def _check_hyper_present(self, key: int, records: list[dict[str, Any]]) -> None:
        for hyper in self.scheduled[1:]:
            if records and all(r["base"][hyper] == 0.0 for r in records):
                raise ValueError(
                    f"{self.owner}: every parameter group of {self._optimizer(key)} has "
                    f"{hyper}=0, so there is nothing for {SPEC_ARGS[hyper]}= to scale; configure "
                    f"{hyper} on the optimizer (the schedule multiplies it)"
                )

    def _adopt(self, key: int, groups: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
        records = self.groups[key]
        if len(groups) < len(records):
            raise ValueError(
                f"{self.owner}: optimizer {key} has {len(groups)} parameter group(s), fewer "
                f"than the {len(records)} recorded; groups cannot be removed"
            )
        for i in range(len(records), len(groups)):
            g = groups[i]
            lr = float(g.get("initial_lr", g["lr"]))
            records.append(self._record(key, i, g, lr, step))
        self._uniform.pop(key, None)
        return records

    def _of(self, hyper: str, record: dict[str, Any], opt: int = 0) -> Schedule:
        """The schedule in force for ``hyper`` of a group ``record`` of optimizer ``opt``."""
        return self._build(hyper, record["keys"][hyper], record["join"], record["total"], opt)

    def lrs(self, key: int, step: int, groups: list[dict[str, Any]]) -> list[float]:
        """The LR of each of ``groups`` (optimizer ``key``'s param groups) at update ``step``.

        A group added since :meth:`take_groups` (``add_param_group``) joins now: its base LR is
        its current ``lr``, and its schedule runs on its own clock from this update.
        """
        records = self.groups[key]
        if len(groups) != len(records):
            records = self._adopt(key, groups, step)
        bases = self._uniform.get(key)
        if bases is None:  # every group on the "*" schedule from update 0: one multiplier
            uniform = all(r["join"] == 0 and r["keys"]["lr"] == "*" for r in records)
            bases = self._uniform[key] = [r["base"]["lr"] for r in records] if uniform else []
        if not self._keys_checked:
            self._warn_unmatched_keys()
        if bases and not (key and self._per_opt):
            m = self.multiplier(step)
            return [b * m for b in bases]
        return [r["base"]["lr"] * self.group_multiplier(r, step, key) for r in records]

    def mark_written(self, key: int, lrs: list[float] | None) -> None:
        """Note the LRs just put into optimizer ``key``'s groups, what :meth:`check_outside`
        compares with (``None``: not to be checked, e.g. tensor LRs)."""
        if lrs is None:
            self._written.pop(key, None)
        else:
            self._written[key] = lrs

    def check_outside(
        self, key: int, groups: list[dict[str, Any]], step: int, stacklevel: int = 3
    ) -> bool:
        """Whether a group's LR is not the one last written into it (warned once per run).

        Called by an adapter right before update ``step`` is taken or its LRs are set: another
        scheduler (torch's ``ReduceLROnPlateau`` stepped beside this one, a ``ChainedScheduler``),
        a callback or the loop itself wrote the LR since, and the adapter puts the schedule's value
        back, so that change would be lost without a word. Tensor LRs (capturable or compiled
        optimizers) are not noted, so not read: that would synchronize the device at every update.
        """
        written = self._written.get(key)
        if written is None or written == [g["lr"] for g in groups]:  # the per-update path
            return False
        for i, (group, mine) in enumerate(zip(groups, written)):
            now = group["lr"]
            if now == mine:
                continue
            if not self._warned_outside:
                self._warned_outside = True
                records = self.groups.get(key, [])
                label = (records[i]["name"] if i < len(records) else None) or i
                self._warn(
                    f"{self.owner}: the LR of parameter group {label!r} of "
                    f"{self._optimizer(key)} was changed outside {self.owner} (found {now:.6g} "
                    f"where it set {mine:.6g}); update {step} and every later one use the "
                    f"schedule's LR, as {self.owner} sets the LR of every update. Keep one owner "
                    "of the LR: for a cut when a metric stalls pass plateau=lrplugins.Plateau(...); "
                    "to end early call cooldown(); remove any other scheduler or callback that "
                    "sets the LR. (Warned once per run.)",
                    stacklevel=stacklevel,
                )
            return True
        return False

    def group_multiplier(self, record: dict[str, Any], step: int, opt: int = 0) -> float:
        """The LR multiplier of the group ``record`` (an entry of :attr:`groups`) of optimizer
        ``opt`` at ``step``."""
        return self._of("lr", record, opt)(max(step - record["join"], 0)) * self.scale

    def values(self, hyper: str, key: int, step: int) -> list[float]:
        """The value of ``hyper`` (``"momentum"``, ``"weight_decay"``) for each group of ``key``."""
        return [
            r["base"][hyper] * self._of(hyper, r, key)(max(step - r["join"], 0))
            for r in self.groups[key]
        ]


def _read(group: Mapping[str, Any], hyper: str) -> float | None:
    """A group's configured ``momentum`` (or ``betas[0]``) or ``weight_decay``; None if absent."""
    if hyper == "momentum":
        if "momentum" in group:
            return float(group["momentum"])
        if "betas" in group:
            return float(group["betas"][0])
        return None
    return float(group[hyper]) if hyper in group else None


def _is_glob(key: GroupKey) -> bool:
    """A key with a wildcard (``*``, ``?``, ``[``) other than the catch-all ``"*"``."""
    return isinstance(key, str) and key != "*" and any(c in key for c in "*?[")
