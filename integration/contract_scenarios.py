"""The adapter contract suite: one table of scenarios, one small driver per runtime.

Every runtime that trains with lrplugins (the plain torch loop with ``lrplugins.torch.
LRScheduler``, Lightning, the Hugging Face ``Trainer``, Keras on its torch, jax and tensorflow
backends) runs every scenario of :data:`SCENARIOS`; ``integration/test_contract.py`` turns each
(scenario, runtime) pair into one test, ``test_contract[<runtime>-<scenario>]``.

The driver interface
--------------------
A driver is a function ``run(scenario, tmp_path) -> list[Trace]``: it trains a tiny model in its
runtime as the scenario says and returns one :class:`Trace` per leg it ran (a leg that raised ends
the list). A scenario is a sequence of :class:`Leg`\\ s (a fresh run, then resumes from the first
leg's end-of-epoch checkpoints, a second run with the same callback object, or the same trainer
trained for more epochs in memory), each with the adapter's keyword arguments
(``monitor="score"`` stands for the runtime's name of the metric the scenario logs: ``val_score``
in Lightning and Keras, ``eval_score`` in Hugging Face; ``"missing"`` for one never logged) and
:class:`Act`\\ s: ``cooldown(*args)`` before the leg starts, when the next update is ``u``, or
after the leg ended; ``add_group`` (the parameter group ``"head"`` joins when the next update is
``u``). The scenario also fixes the optimizer (plain SGD, or SGD with momentum 0.9 and weight
decay 0.01), the named groups at the start, the evaluation cadence (every ``n`` epochs, every
``n`` updates, or never) and the metric each evaluation logs (:meth:`Scenario.metric_at`). Every
epoch has :data:`PE` updates.

A :class:`Trace` records what the framework APPLIED: the LR (and momentum, weight decay) of each
parameter group read from the optimizer at each update (a torch ``register_step_pre_hook``;
Lightning, which runs the training step inside ``optimizer.step(closure)``, a post-hook; Keras: the optimizer's ``learning_rate`` at each batch begin and, with
plain SGD, the LR recovered from the update's weight change), keyed by the update index; the
warnings of lrplugins (their message starts with the adapter's class name); the exception that
ended the leg (type names with their bases, message); and the exceptions the driver caught from
the actions (an invalid ``cooldown`` must raise, and training goes on).

Expected values never come from an adapter: :attr:`Scenario.expect` computes them from the core
schedule objects (``BASE * s.bind(total_steps=N).cooldown(at=6, steps=4)(u)``), from torch's
``ReduceLROnPlateau`` for plateau sequences (:func:`plateau_scales`), or says "the same as the
uninterrupted first leg" (:data:`SAME`). A runtime that cannot run a scenario has a cell in
:attr:`Scenario.support`: ``refused`` (the refusal's exception and message are asserted) or
``n/a`` (the runtime has no such thing, e.g. parameter groups in Keras; the reason is printed in
the table on the docs' run-state page, which :func:`readme_table` generates and
``integration/test_docs.py`` checks).

The scenario table
------------------
:data:`SCENARIOS`, one :class:`Scenario` per row: a fresh run; a schedule per parameter group
(also a key with a typo, a group no key matches); momentum and weight decay schedules; a plateau
fed every epoch, every 2 epochs, mid-epoch, never; a missing (strict or not), NaN or non-scalar
metric; a mid-run resume (equal to the uninterrupted run) and resumes with a changed, added or
dropped schedule, plateau, momentum and weight decay; resumes with more or fewer updates
(stretch, squeeze, ``horizon="rebind"``, an ended schedule that holds its final value) and
training more in memory; a callback reused for a second run; a group that joins late (alone,
with rebind, with a cooldown); runtime cooldowns (valid, ``0``, a duration string, too long,
twice, after a plateau cut, next to momentum and weight decay schedules, invalid arguments,
before the start, before a resume, after the end for a resumed or a new run); an LR written
outside the adapter mid-run; the runtime's own scheduler beside the adapter.

A fifth adapter
---------------
Write a driver ``run(scenario, tmp_path) -> list[Trace]`` for it (the existing ones are each under
200 lines: build the model and optimizer the scenario names, map ``args`` onto the adapter, run
the actions at their update, record the applied values), register it in
``contract_drivers.DRIVERS`` (or, for a runtime fixed per process like Keras, run it in a
subprocess from ``test_contract.py``), add its name to :data:`RUNTIMES` and a column to
:data:`FAMILIES`, and give it a cell in ``support`` where it refuses a scenario or has no such
thing. The scenarios and their expected values stay as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lrplugins as lrp

# -- the runtimes ------------------------------------------------------------------------------
RUNTIMES = ("torch", "lightning", "huggingface", "keras-torch", "keras-jax", "keras-tensorflow")
FAMILIES = {
    "torch": "torch loop",
    "lightning": "Lightning",
    "huggingface": "Hugging Face",
    "keras": "Keras (3 backends)",
}


def family(runtime: str) -> str:
    """``"keras"`` for the three Keras backends, else the runtime itself."""
    return runtime.split("-")[0]


# -- the fixed setup every driver builds -------------------------------------------------------
PE = 4  # optimizer updates per epoch (batches of 8 of 32 samples)
BASE = {"body": 0.1, "head": 0.05}  # the base LR of each named parameter group
MOMENTUM, WEIGHT_DECAY = 0.9, 0.01  # configured on the optimizer "sgd_mw"
METRIC_NAMES = {  # the symbolic monitor -> the runtime's logged key
    "lightning": {"score": "val_score", "missing": "val_missing"},
    "huggingface": {"score": "eval_score", "missing": "eval_missing"},
    "keras": {"score": "val_score", "missing": "val_missing"},
}

S = lrp.wsd(warmup_steps=2, decay_steps="25%")  # the default schedule (unbound)
TOKENS = 32  # tokens per update on the tokens clock: the batch's numel (8 rows of 4 inputs)
# S on the tokens clock, over 3 epochs: T(TOKENS * u) == S.bind(total_steps=12)(u)
T = lrp.wsd(total_steps=f"{12 * TOKENS}tok", warmup_steps=f"{2 * TOKENS}tok", decay_steps="25%")
C = lrp.cosine(final=0.1)  # no warmup: a cooldown from update 0 starts from 1.0
M = lrp.linear(final=0.5)  # momentum multiplier
W = lrp.cosine(final=0.2)  # weight decay multiplier
P = lrp.Plateau(factor=0.5, patience=0)


# -- the scenario language ---------------------------------------------------------------------
@dataclass(frozen=True)
class Act:
    """``kind`` is ``"cooldown"`` (``args`` / ``kwargs`` passed to the adapter's ``cooldown``),
    ``"add_group"`` (the group ``"head"`` joins) or ``"write_lr"`` (every group's LR times
    ``args[0]``, written the runtime's own way, outside the adapter: ``param_groups`` in the torch
    runtimes, ``optimizer.learning_rate = ...`` in Keras). ``at``: the index of the next update when it
    happens, ``"before"`` the leg starts (after the adapter is built, before any checkpoint is
    loaded), or ``"after"`` it ended."""

    kind: str
    at: int | str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Leg:
    """One ``fit`` / ``train()`` / training loop of ``epochs`` epochs (``epochs * PE`` updates)."""

    epochs: int = 3
    args: Mapping[str, Any] = field(default_factory=lambda: {"schedule": S})
    resume_at: int | None = None  # resume from the first leg's checkpoint after this epoch
    same: bool = False  # reuse the previous leg's adapter object (else build a new one)
    more: bool = False  # train more: the same trainer, model and adapter go on, no checkpoint
    acts: tuple[Act, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """An exception that must be raised: any of ``types`` (among its class and bases) and a
    message matching the regex ``match``."""

    types: tuple[str, ...]
    match: str


@dataclass
class LegExpect:
    """What one leg must show. ``values``: update -> hyperparameter -> value per group (the set
    of updates must be exactly the trace's), or :data:`SAME`: the first leg's values at the same
    updates; ``warns``: one regex per lrplugins warning, in any order, no other warning allowed;
    ``raises``: the leg ends with this exception; ``caught``: the actions' exceptions, in order."""

    values: dict[int, dict[str, list[float]]] | str | None = None
    warns: tuple[str, ...] = ()
    raises: Refusal | None = None
    caught: tuple[Refusal, ...] = ()


SAME = "same as the uninterrupted first leg"


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str  # one line, shown in the docs' contract table
    legs: tuple[Leg, ...]
    expect: Callable[[Scenario], list[LegExpect]]
    optimizer: str = "sgd"  # or "sgd_mw": momentum and weight decay configured
    groups: tuple[str, ...] = ("body",)  # named param groups at the start ("head" may join)
    metric: tuple[Any, ...] = ()  # the monitored metric logged at each epoch's evaluation
    eval_every: int | None = 1  # evaluate every n epochs; None: never
    eval_steps: int | None = None  # evaluate every n updates instead (mid-epoch)
    support: Mapping[str, str] = field(
        default_factory=dict
    )  # family -> "refused: ..." / "n/a: ..."
    refusal: Mapping[str, Refusal] = field(default_factory=dict)  # family -> its refusal
    # family -> its expectation where it differs from ``expect`` (a refusal caught, not a warning)
    by_family: Mapping[str, Callable[[Scenario], list[LegExpect]]] = field(default_factory=dict)
    # the runtime's own LR scheduler beside the adapter: torch's LambdaLR(lambda u: 0.5) on the
    # same optimizer, stepped after the adapter (torch loop), returned by configure_optimizers()
    # (Lightning), given as Trainer(optimizers=(opt, scheduler)) (Hugging Face), Keras's
    # LearningRateScheduler callback in the same fit (Keras)
    rival: bool = False

    def evaluates(self, epoch: int) -> bool:
        """Whether the 0-based ``epoch`` ends with an evaluation."""
        return self.eval_every is not None and (epoch + 1) % self.eval_every == 0

    def evaluates_after(self, done: int) -> bool:
        """Whether an evaluation follows the update that makes ``done`` updates."""
        if self.eval_steps is not None:
            return done % self.eval_steps == 0
        return done % PE == 0 and self.evaluates(done // PE - 1)

    def metric_at(self, done: int) -> Any:
        """The metric the evaluation after ``done`` updates logs."""
        return self.metric[done // (self.eval_steps or PE) - 1]

    def validates(self) -> bool:
        """Whether the runs get evaluation data: a monitor somewhere, and a cadence."""
        return self.eval_every is not None and any("monitor" in leg.args for leg in self.legs)

    def needs_checkpoints(self) -> bool:
        return any(leg.resume_at is not None for leg in self.legs)

    def cell(self, runtime: str) -> str:
        """``"supported"``, ``"refused: ..."`` or ``"n/a: ..."`` for ``runtime``."""
        return self.support.get(family(runtime), "supported")


def start_groups(sc: Scenario, leg: int) -> tuple[str, ...]:
    """The named groups the optimizer has when leg ``leg`` starts: the scenario's, plus ``"head"``
    when it joined in the first leg before the update this leg resumes at."""
    resume = sc.legs[leg].resume_at
    if resume is None or "head" in sc.groups:
        return sc.groups
    joined = any(
        a.kind == "add_group" and isinstance(a.at, int) and a.at < resume * PE
        for a in sc.legs[0].acts
    )
    return (*sc.groups, "head") if joined else sc.groups


def monitor_name(runtime: str, symbolic: str) -> str:
    return METRIC_NAMES[family(runtime)][symbolic]


# -- expected values: from the core schedules and torch's ReduceLROnPlateau ----------------------
Values = dict[int, dict[str, list[float]]]


def lr(fns: list[Callable[[int], float]], start: int, stop: int) -> Values:
    """``{u: {"lr": [f(u) for f in fns]}}`` for ``u`` in ``range(start, stop)``."""
    return {u: {"lr": [f(u) for f in fns]} for u in range(start, stop)}


def plateau_scales(plateau: lrp.Plateau, feeds: dict[int, Any], updates: int) -> list[float]:
    """The LR multiplier of each of ``updates`` updates, from torch ``ReduceLROnPlateau`` (LR
    1.0) stepped with ``feeds[done]`` after the update that makes ``done`` updates; a step applies
    from the next update on."""
    import torch

    cfg = plateau.to_config()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    rop = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode=cfg["mode"],
        factor=cfg["factor"],
        patience=cfg["patience"],
        threshold=cfg["threshold"],
        threshold_mode=cfg["threshold_mode"],
        cooldown=cfg["cooldown"],
        min_lr=cfg["min_scale"],
        eps=cfg["eps"],
    )
    scales: list[float] = []
    for u in range(updates):
        scales.append(opt.param_groups[0]["lr"])
        if u + 1 in feeds:
            rop.step(feeds[u + 1])
    return scales


def body(s: lrp.Schedule, total: int) -> Callable[[int], float]:
    bound = s.bind(total_steps=total, steps_per_epoch=PE)
    return lambda u: BASE["body"] * bound(u)


def fresh_expect(s: lrp.Schedule = S, epochs: int = 3) -> list[LegExpect]:
    return [LegExpect(lr([body(s, epochs * PE)], 0, epochs * PE))]


def with_plateau(
    sc: Scenario, leg: int, s: lrp.Schedule, total: int, plateau: lrp.Plateau, first_epoch: int = 0
) -> Values:
    """LRs of leg ``leg``: ``BASE * s(u) * scale(u)``, the plateau fed from ``first_epoch`` on."""
    epochs = sc.legs[leg].epochs
    done = range(first_epoch * PE + 1, epochs * PE + 1)
    feeds = {n: sc.metric_at(n) for n in done if sc.evaluates_after(n)}
    scale = plateau_scales(plateau, feeds, epochs * PE)
    f = body(s, total)
    start = (sc.legs[leg].resume_at or 0) * PE
    return lr([lambda u: f(u) * scale[u]], start, epochs * PE)


RESUMED = "the checkpoint was saved with {}"

# -- the table ---------------------------------------------------------------------------------
_KERAS_GROUPS = "n/a: no parameter groups"
_NO_MONITOR = "n/a: the loop feeds `observe()`"
_NO_REUSE = "n/a: one scheduler per optimizer"
_LIGHTNING_KEY = "refused: the monitor is in the checkpoint key"
_KERAS_DICT = Refusal(("TypeError",), r"must be one schedule here .*got a dict")
_OUTSIDE = r"the LR of parameter group .* was changed outside .*\(Warned once per run\.\)"
_KERAS_WRITE = Refusal(("TypeError",), r"learning_rate = .* during fit\(\)")
_FOREIGN = Refusal(("MisconfigurationException",), r"holds no state of this callback")
PLATEAU_METRIC = (1.0, 2.0, 2.0, 0.5, 0.5)
_COOL = (Act("cooldown", 6, (4,), {"shape": "linear"}),)
_INVALID = tuple(Act("cooldown", 6, (bad,)) for bad in (-5, True, None, "bad"))
_PLATEAU_ARGS = {"schedule": S, "plateau": P, "monitor": "score"}
_MW_ARGS = {"schedule": S, "momentum": M, "weight_decay": W}


def _mw(total: int, start: int, stop: int, m: lrp.Schedule = M, w: lrp.Schedule = W) -> Values:
    mb = m.bind(total_steps=total)
    wb = w.bind(total_steps=total)
    f = body(S, total)
    return {
        u: {"lr": [f(u)], "momentum": [MOMENTUM * mb(u)], "weight_decay": [WEIGHT_DECAY * wb(u)]}
        for u in range(start, stop)
    }


def _resume(
    name: str,
    doc: str,
    second: Mapping[str, Any],
    warns: tuple[str, ...],
    first: Mapping[str, Any] | None = None,
    **kw: Any,
) -> Scenario:
    """Stop after epoch 1 of 3, resume with the adapter arguments ``second``: the values are the
    uninterrupted run's (the checkpoint wins), with the warnings ``warns``."""
    first = _PLATEAU_ARGS if first is None else first
    return Scenario(
        name,
        doc,
        (Leg(3, first), Leg(3, second, resume_at=1)),
        lambda sc: [LegExpect(_first(sc)), LegExpect(SAME, warns)],
        metric=PLATEAU_METRIC,
        **kw,
    )


def _halved_at(*updates: int) -> Values:
    """The schedule's LRs, halved at ``updates`` (written outside the adapter before them)."""
    f = body(S, 12)
    return {u: {"lr": [f(u) * (0.5 if u in updates else 1.0)]} for u in range(12)}


def _first(sc: Scenario) -> Values:
    """The first leg's values, computed from its arguments (schedule S, optional plateau, mw)."""
    args, total = sc.legs[0].args, sc.legs[0].epochs * PE
    if "momentum" in args:
        return _mw(total, 0, total, args["momentum"], args["weight_decay"])
    if "plateau" in args:
        return with_plateau(sc, 0, args["schedule"], total, args["plateau"])
    return lr([body(args["schedule"], total)], 0, total)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("fresh", "a fresh run follows the schedule", (Leg(),), lambda sc: fresh_expect()),
    Scenario(
        "per_group_schedules",
        "a schedule per parameter group (dict by group name, `*`)",
        (Leg(3, {"schedule": {"head": lrp.constant(), "*": S}}),),
        lambda sc: [LegExpect(lr([body(S, 12), lambda u: BASE["head"]], 0, 12))],
        groups=("body", "head"),
        support={"keras": "refused: one LR per optimizer"},
        refusal={"keras": _KERAS_DICT},
    ),
    Scenario(
        "per_group_key_typo",
        "a dict key that names no group while a group falls back to `*` warns",
        (Leg(3, {"schedule": {"haed": lrp.constant(), "*": S}}),),
        lambda sc: [
            LegExpect(
                lr([body(S, 12), lambda u: BASE["head"] * S.bind(total_steps=12)(u)], 0, 12),
                (r"haed",),
            ),
        ],
        groups=("body", "head"),
        support={"keras": "refused: one LR per optimizer"},
        refusal={"keras": _KERAS_DICT},
    ),
    Scenario(
        "per_group_unmatched",
        "a group that no key of the dict matches is refused, listing the keys",
        (Leg(3, {"schedule": {"head": lrp.constant()}}),),
        lambda sc: [LegExpect(raises=Refusal(("ValueError",), r"matches no key .*'head'"))],
        groups=("body", "head"),
        support={"keras": "refused: one LR per optimizer"},
        refusal={"keras": _KERAS_DICT},
    ),
    Scenario(
        "momentum_weight_decay",
        "momentum= and weight_decay= schedules",
        (Leg(3, _MW_ARGS),),
        lambda sc: [LegExpect(_mw(12, 0, 12))],
        optimizer="sgd_mw",
    ),
    Scenario(
        "plateau",
        "a plateau fed after each evaluation",
        (Leg(3, _PLATEAU_ARGS),),
        lambda sc: [LegExpect(with_plateau(sc, 0, S, 12, P))],
        metric=PLATEAU_METRIC,
    ),
    Scenario(
        "eval_every_2_epochs",
        "evaluation every 2 epochs: the plateau is fed only then",
        (Leg(5, {"schedule": C, "plateau": P, "monitor": "score"}),),
        lambda sc: [LegExpect(with_plateau(sc, 0, C, 20, P))],
        metric=(2.0, 1.0, 2.0, 1.0, 2.0),
        eval_every=2,
    ),
    Scenario(
        "eval_mid_epoch",
        "evaluation every 2 updates, mid-epoch: the plateau is fed each time",
        (Leg(3, {"schedule": C, "plateau": P, "monitor": "score"}),),
        lambda sc: [LegExpect(with_plateau(sc, 0, C, 12, P))],
        metric=(1.0, 2.0, 2.0, 0.5, 0.5, 0.5),
        eval_steps=2,
        support={"keras": "n/a: `fit` validates at epoch ends"},
    ),
    Scenario(
        "eval_never",
        "a monitor in a run that never evaluates",
        (Leg(3, _PLATEAU_ARGS),),
        lambda sc: [LegExpect(raises=Refusal(("ValueError",), r"never evaluates"))],
        eval_every=None,
        support={"torch": _NO_MONITOR},
    ),
    Scenario(
        "metric_missing",
        "the monitored metric is missing from an evaluation",
        (Leg(3, {"schedule": S, "plateau": P, "monitor": "missing"}),),
        lambda sc: [
            LegExpect(
                raises=Refusal(
                    ("MissingMetricError",), r"no such metric in this evaluation; available metrics"
                )
            )
        ],
        metric=PLATEAU_METRIC,
        support={"torch": _NO_MONITOR},
    ),
    Scenario(
        "metric_missing_lenient",
        "a missing metric with `strict=False`: one warning, that evaluation skipped",
        (Leg(3, {"schedule": S, "plateau": P, "monitor": "missing", "strict": False}),),
        lambda sc: [LegExpect(lr([body(S, 12)], 0, 12), (r"no such metric.*warned once",))],
        metric=PLATEAU_METRIC,
        support={"torch": _NO_MONITOR},
    ),
    Scenario(
        "metric_nan",
        "a NaN metric counts as a bad evaluation and never reaches the LR",
        (Leg(3, _PLATEAU_ARGS),),
        lambda sc: [LegExpect(with_plateau(sc, 0, S, 12, P))],
        metric=(1.0, math.nan, math.nan),
    ),
    Scenario(
        "metric_not_scalar",
        "the monitored metric is not a single number",
        (Leg(3, _PLATEAU_ARGS),),
        lambda sc: [LegExpect(raises=Refusal(("TypeError",), r"must be a single number"))],
        metric=([1.0, 2.0],) * 3,
    ),
    _resume(
        "resume", "stop after epoch 1, resume: equals the uninterrupted run", _PLATEAU_ARGS, ()
    ),
    _resume(
        "resume_changed_schedule",
        "resume with another schedule: the checkpoint's wins",
        {**_PLATEAU_ARGS, "schedule": C},
        (RESUMED.format("schedule"),),
    ),
    Scenario(
        "fresh_after_resume",
        "a callback that resumed, reused for a new run: the configured schedule, not the checkpoint's",
        (
            Leg(3, {"schedule": S}),
            Leg(3, {"schedule": C}, resume_at=1),
            Leg(3, {"schedule": C}, same=True),
        ),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(SAME, (RESUMED.format("schedule"),)),
            LegExpect(lr([body(C, 12)], 0, 12)),
        ],
        support={"torch": _NO_REUSE},
    ),
    _resume(
        "resume_changed_plateau",
        "resume with another plateau: the checkpoint's wins",
        {**_PLATEAU_ARGS, "plateau": lrp.Plateau(factor=0.25, patience=0)},
        (r"checkpoint's plateau has config",),
    ),
    Scenario(
        "resume_added_plateau",
        "resume with a plateau the checkpoint lacks: it starts fresh",
        (Leg(4, {"schedule": S}), Leg(4, _PLATEAU_ARGS, resume_at=1)),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(
                with_plateau(sc, 1, S, 16, P, first_epoch=1), (r"checkpoint has no plateau",)
            ),
        ],
        metric=PLATEAU_METRIC,
        support={"lightning": _LIGHTNING_KEY},
        refusal={"lightning": _FOREIGN},
    ),
    Scenario(
        "resume_dropped_plateau",
        "resume without the checkpoint's plateau: its scale is dropped",
        (Leg(3, _PLATEAU_ARGS), Leg(3, {"schedule": S}, resume_at=2)),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(lr([body(S, 12)], 8, 12), (r"saved scale is dropped",)),
        ],
        metric=PLATEAU_METRIC,
        support={"lightning": _LIGHTNING_KEY},
        refusal={"lightning": _FOREIGN},
    ),
    Scenario(
        "resume_added_momentum_wd",
        "resume with momentum= / weight_decay= the checkpoint lacks",
        (Leg(3, {"schedule": S}), Leg(3, _MW_ARGS, resume_at=1)),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(_mw(12, 4, 12), (r"no momentum schedule", r"no weight_decay schedule")),
        ],
        optimizer="sgd_mw",
    ),
    _resume(
        "resume_changed_momentum_wd",
        "resume with other momentum= / weight_decay=",
        {"schedule": S, "momentum": lrp.constant(), "weight_decay": lrp.linear()},
        (RESUMED.format("momentum"), RESUMED.format("weight_decay")),
        first=_MW_ARGS,
        optimizer="sgd_mw",
    ),
    _resume(
        "resume_dropped_momentum_wd",
        "resume without the checkpoint's momentum= / "
        "weight_decay=: the checkpoint's go on, with a warning",
        {"schedule": S},
        (r"momentum", r"weight_decay"),
        first=_MW_ARGS,
        optimizer="sgd_mw",
    ),
    Scenario(
        "resume_more_updates",
        "resume with more epochs: the rest is stretched",
        (Leg(3), Leg(5, resume_at=1)),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"] * S.bind(total_steps=12).stretch(at=4, total_steps=20)(u)
                        )
                    ],
                    4,
                    20,
                ),
                (r"stretched from update 4 to end at update 20",),
            ),
        ],
    ),
    Scenario(
        "resume_fewer_updates",
        "resume with fewer epochs: the rest is squeezed",
        (Leg(4), Leg(3, resume_at=1)),
        lambda sc: [
            LegExpect(lr([body(S, 16)], 0, 16)),
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"] * S.bind(total_steps=16).stretch(at=4, total_steps=12)(u)
                        )
                    ],
                    4,
                    12,
                ),
                (r"squeezed from update 4 to end at update 12",),
            ),
        ],
    ),
    Scenario(
        "resume_rebind",
        'resume with more epochs, horizon="rebind": bound again',
        (
            Leg(3, {"schedule": S, "horizon": "rebind"}),
            Leg(5, {"schedule": S, "horizon": "rebind"}, resume_at=1),
        ),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(lr([body(S, 20)], 4, 20), (r"binds the schedules again",)),
        ],
    ),
    Scenario(
        "resume_ended",
        "resume a finished run with more epochs: the final value holds",
        (Leg(3, {"schedule": C}), Leg(5, {"schedule": C}, resume_at=3)),
        lambda sc: [
            LegExpect(lr([body(C, 12)], 0, 12)),
            LegExpect(
                lr([lambda u: BASE["body"] * C.bind(total_steps=12)(12)], 12, 20), (r"final value",)
            ),
        ],
    ),
    Scenario(
        "train_more",
        "train a finished run for more epochs in memory (no checkpoint): the final value holds",
        (Leg(3, {"schedule": C}), Leg(5, {"schedule": C}, same=True, more=True)),
        lambda sc: [
            LegExpect(lr([body(C, 12)], 0, 12)),
            LegExpect(
                lr([lambda u: BASE["body"] * C.bind(total_steps=12)(12)], 12, 20), (r"final value",)
            ),
        ],
        support={"huggingface": "n/a: `train()` starts at update 0 or from a checkpoint"},
    ),
    Scenario(
        "reuse_callback",
        "the same callback in a second run: it starts fresh",
        (Leg(3, _PLATEAU_ARGS), Leg(3, _PLATEAU_ARGS, same=True)),
        lambda sc: [LegExpect(_first(sc)), LegExpect(_first(sc))],
        metric=PLATEAU_METRIC,
        support={"torch": _NO_REUSE},
    ),
    Scenario(
        "group_joins",
        "a parameter group joins at update 5: its own clock and warmup",
        (Leg(3, acts=(Act("add_group", 5),)),),
        lambda sc: [
            LegExpect(
                {
                    **lr([body(S, 12)], 0, 5),
                    **lr(
                        [body(S, 12), lambda u: BASE["head"] * S.bind(total_steps=7)(u - 5)], 5, 12
                    ),
                }
            )
        ],
        support={"keras": _KERAS_GROUPS},
    ),
    Scenario(
        "group_joins_rebind",
        "a group joined at update 2; resume with more epochs, rebind",
        (
            Leg(3, {"schedule": S, "horizon": "rebind"}, acts=(Act("add_group", 2),)),
            Leg(5, {"schedule": S, "horizon": "rebind"}, resume_at=1),
        ),
        lambda sc: [
            LegExpect(
                {
                    **lr([body(S, 12)], 0, 2),
                    **lr(
                        [body(S, 12), lambda u: BASE["head"] * S.bind(total_steps=10)(u - 2)], 2, 12
                    ),
                }
            ),
            LegExpect(
                lr([body(S, 20), lambda u: BASE["head"] * S.bind(total_steps=18)(u - 2)], 4, 20),
                (r"binds the schedules again",),
            ),
        ],
        support={"keras": _KERAS_GROUPS},
    ),
    Scenario(
        "group_joins_cooldown",
        "a group joined at update 2, then a cooldown at update 6",
        (Leg(3, acts=(Act("add_group", 2), *_COOL)),),
        lambda sc: [
            LegExpect(
                {
                    **lr([body(S, 12)], 0, 2),
                    **lr(
                        [
                            lambda u: (
                                BASE["body"]
                                * S.bind(total_steps=12).cooldown(at=6, steps=4, shape="linear")(u)
                            ),
                            lambda u: (
                                BASE["head"]
                                * S.bind(total_steps=10).cooldown(at=4, steps=4, shape="linear")(
                                    u - 2
                                )
                            ),
                        ],
                        2,
                        12,
                    ),
                }
            )
        ],
        support={"keras": _KERAS_GROUPS},
    ),
    Scenario(
        "cooldown",
        'cooldown(4, shape="linear") when the next update is 6',
        (Leg(3, acts=_COOL),),
        lambda sc: [
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"]
                            * S.bind(total_steps=12).cooldown(at=6, steps=4, shape="linear")(u)
                        )
                    ],
                    0,
                    12,
                )
            )
        ],
    ),
    Scenario(
        "cooldown_twice",
        "cooldown(6) at update 4, then cooldown(2, final=0.1) at 7",
        (
            Leg(
                3,
                acts=(
                    Act("cooldown", 4, (6,)),
                    Act("cooldown", 7, (2,), {"shape": "linear", "final": 0.1}),
                ),
            ),
        ),
        lambda sc: [
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"]
                            * S.bind(total_steps=12)
                            .cooldown(at=4, steps=6)
                            .cooldown(at=7, steps=2, shape="linear", final=0.1)(u)
                        )
                    ],
                    0,
                    12,
                )
            )
        ],
    ),
    Scenario(
        "cooldown_rising",
        "cooldown(2, final=0.5) at update 10, where the schedule is at 0.42: the LR rises to "
        "0.5, with a warning",
        (Leg(3, acts=(Act("cooldown", 10, (2,), {"shape": "linear", "final": 0.5}),)),),
        lambda sc: [
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"]
                            * S.bind(total_steps=12).cooldown(
                                at=10, steps=2, shape="linear", final=0.5
                            )(u)
                        )
                    ],
                    0,
                    12,
                ),
                warns=(r"cooldown\(\): final=0.5 is above the LR multiplier in force",),
            )
        ],
    ),
    Scenario(
        "cooldown_after_plateau_cut",
        "a cooldown after a plateau cut starts from the cut LR; the plateau scales no more",
        (
            Leg(
                4,
                _PLATEAU_ARGS,
                acts=(Act("cooldown", 9, (3,), {"shape": "linear", "final": 0.1}),),
            ),
        ),
        lambda sc: [
            LegExpect(
                {
                    **with_plateau(sc, 0, S, 16, P),  # cut from update 8 (scale 0.5)
                    **lr(
                        [
                            lambda u: (
                                BASE["body"]
                                * (S.bind(total_steps=16) * 0.5).cooldown(
                                    at=9, steps=3, shape="linear", final=0.1
                                )(u)
                            )
                        ],
                        9,
                        16,
                    ),
                }
            )
        ],
        metric=PLATEAU_METRIC,
    ),
    Scenario(
        "cooldown_momentum",
        "a cooldown changes the LR only: momentum and weight decay go on",
        (Leg(3, _MW_ARGS, acts=_COOL),),
        lambda sc: [
            LegExpect(
                {
                    u: {
                        **v,
                        "lr": [
                            BASE["body"]
                            * S.bind(total_steps=12).cooldown(at=6, steps=4, shape="linear")(u)
                        ],
                    }
                    for u, v in _mw(12, 0, 12).items()
                }
            )
        ],
        optimizer="sgd_mw",
    ),
    Scenario(
        "cooldown_too_long",
        "cooldown(8) at update 8 of 12: longer than what remains, it warns",
        (Leg(3, acts=(Act("cooldown", 8, (8,)),)),),
        lambda sc: [
            LegExpect(
                lr(
                    [lambda u: BASE["body"] * S.bind(total_steps=12).cooldown(at=8, steps=8)(u)],
                    0,
                    12,
                ),
                (r"ends at update 16, after the run's last update",),
            )
        ],
    ),
    Scenario(
        "cooldown_zero",
        "cooldown(0): the final value from the next update",
        (Leg(3, acts=(Act("cooldown", 6, (0,)),)),),
        lambda sc: [LegExpect(lr([lambda u: body(S, 12)(u) if u < 6 else 0.0], 0, 12))],
    ),
    Scenario(
        "cooldown_duration",
        'cooldown("1ep"): a duration string',
        (Leg(3, acts=(Act("cooldown", 6, ("1ep",)),)),),
        lambda sc: [
            LegExpect(
                lr(
                    [lambda u: BASE["body"] * S.bind(total_steps=12).cooldown(at=6, steps=PE)(u)],
                    0,
                    12,
                )
            )
        ],
    ),
    Scenario(
        "cooldown_invalid",
        'cooldown(-5), (True), (None), ("bad") raise naming `steps`',
        (Leg(3, acts=_INVALID),),
        lambda sc: [
            LegExpect(
                lr([body(S, 12)], 0, 12),
                caught=(
                    Refusal(("ValueError",), r"steps"),
                    Refusal(("TypeError",), r"steps"),
                    Refusal(("TypeError",), r"steps"),
                    Refusal(("ValueError", "TypeError"), r"steps"),
                ),
            )
        ],
    ),
    Scenario(
        "cooldown_before_start",
        "cooldown(4) before training starts: from the first update",
        (Leg(3, {"schedule": C}, acts=(Act("cooldown", "before", (4,)),)),),
        lambda sc: [
            LegExpect(
                lr(
                    [lambda u: BASE["body"] * C.bind(total_steps=12).cooldown(at=0, steps=4)(u)],
                    0,
                    12,
                )
            )
        ],
    ),
    Scenario(
        "cooldown_before_resume",
        "a new callback, cooldown(4) before resuming at update 4",
        (Leg(3), Leg(3, resume_at=1, acts=(Act("cooldown", "before", (4,), {"shape": "linear"}),))),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"]
                            * S.bind(total_steps=12).cooldown(at=4, steps=4, shape="linear")(u)
                        )
                    ],
                    4,
                    12,
                )
            ),
        ],
    ),
    Scenario(
        "cooldown_after_end",
        "cooldown(4) after the run ended: pending for the resumed run",
        (
            Leg(3, acts=(Act("cooldown", "after", (4,), {"shape": "linear"}),)),
            Leg(3, resume_at=1, same=True),
        ),
        lambda sc: [
            LegExpect(_first(sc)),
            LegExpect(
                lr(
                    [
                        lambda u: (
                            BASE["body"]
                            * S.bind(total_steps=12).cooldown(at=4, steps=4, shape="linear")(u)
                        )
                    ],
                    4,
                    12,
                )
            ),
        ],
    ),
    Scenario(
        "cooldown_after_end_fresh",
        "cooldown(4) after the run ended, then a new run with the same callback: from its start",
        (
            Leg(3, {"schedule": C}, acts=(Act("cooldown", "after", (4,)),)),
            Leg(3, {"schedule": C}, same=True),
        ),
        lambda sc: [
            LegExpect(lr([body(C, 12)], 0, 12)),
            LegExpect(
                lr(
                    [lambda u: BASE["body"] * C.bind(total_steps=12).cooldown(at=0, steps=4)(u)],
                    0,
                    12,
                )
            ),
        ],
        support={"torch": _NO_REUSE},
    ),
    Scenario(
        "tokens_clock",
        f"a schedule in tokens, `{T!r}`, each update consuming {TOKENS} tokens: the LR of "
        f"update u is the schedule at {TOKENS} u",
        (Leg(3, {"schedule": T}),),
        lambda sc: [LegExpect(lr([lambda u: BASE["body"] * T(TOKENS * u)], 0, 12))],
        support={"keras": "refused: a Keras schedule sees only the update count"},
        refusal={"keras": Refusal(("ValueError",), r"runs on the tokens clock")},
    ),
    Scenario(
        "tokens_clock_resume",
        "stop after epoch 1 of 3 on the tokens clock, resume: the clock goes on from the "
        "checkpoint's count, the same LRs",
        (Leg(3, {"schedule": T}), Leg(3, {"schedule": T}, resume_at=1)),
        lambda sc: [
            LegExpect(lr([lambda u: BASE["body"] * T(TOKENS * u)], 0, 12)),
            LegExpect(SAME),
        ],
        support={"keras": "n/a: the tokens clock is refused (tokens_clock)"},
    ),
    Scenario(
        "outside_write",
        "the LR halved outside the adapter before updates 6 and 9 is replaced by the schedule's "
        "before the update (the torch loop: after it, at step()), warned once; Keras refuses the "
        "write",
        (Leg(3, acts=(Act("write_lr", 6, (0.5,)), Act("write_lr", 9, (0.5,)))),),
        lambda sc: [LegExpect(lr([body(S, 12)], 0, 12), warns=(_OUTSIDE,))],
        by_family={
            "torch": lambda sc: [LegExpect(_halved_at(6, 9), warns=(_OUTSIDE,))],
            "keras": lambda sc: [
                LegExpect(lr([body(S, 12)], 0, 12), caught=(_KERAS_WRITE, _KERAS_WRITE))
            ],
        },
    ),
    Scenario(
        "rival_scheduler",
        "the runtime's own LR scheduler beside the adapter: refused where the adapter sees it at "
        "train start; in the torch loop the scheduler that wrote last sets the LR (torch's "
        "from update 1 on, as it steps after the adapter), and LRScheduler.step() warns once",
        (Leg(3),),
        lambda sc: [
            LegExpect(
                {u: {"lr": [body(S, 12)(0) if u == 0 else 0.5 * BASE["body"]]} for u in range(12)},
                warns=(_OUTSIDE,),
            )
        ],
        rival=True,
        support={
            "lightning": "refused: configure_optimizers() also returned a scheduler",
            "huggingface": "refused: Trainer(optimizers=(opt, scheduler))",
            "keras": "refused: another callback sets the LR",
        },
        refusal={
            "lightning": Refusal(
                ("MisconfigurationException",), r"also returned the LR scheduler LambdaLR"
            ),
            "huggingface": Refusal(("ValueError",), r"given its own scheduler \(LambdaLR\)"),
            "keras": Refusal(("ValueError",), r"LearningRateScheduler in the same fit\(\)"),
        },
    ),
)

BY_NAME = {sc.name: sc for sc in SCENARIOS}
assert len(BY_NAME) == len(SCENARIOS), "scenario names must be unique"


def readme_table() -> str:
    """The contract table (docs/concepts/run-state.md): one row per scenario, one column per
    runtime family."""
    head = "| scenario | " + " | ".join(FAMILIES.values()) + " |"
    rows = [head, "|" + " --- |" * (len(FAMILIES) + 1)]
    for sc in SCENARIOS:
        cells = []
        for fam in FAMILIES:
            cell = sc.support.get(fam, "supported")
            kind, _, why = cell.partition(": ")
            cells.append("yes" if cell == "supported" else f"**{kind}**: {why}")
        rows.append(f"| `{sc.name}`: {sc.doc} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# -- comparing a trace with its expectation ----------------------------------------------------
@dataclass
class Trace:
    """What one leg applied (see the module docstring); JSON-compatible through :meth:`to_json`."""

    values: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: tuple[list[str], str] | None = None  # (type and base names, message)
    caught: list[tuple[list[str], str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "values": {str(u): v for u, v in self.values.items()},
            "warnings": self.warnings,
            "error": self.error,
            "caught": self.caught,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trace:
        error = None if d["error"] is None else (list(d["error"][0]), d["error"][1])
        return cls(
            {int(u): v for u, v in d["values"].items()},
            list(d["warnings"]),
            error,
            [(list(t), m) for t, m in d["caught"]],
        )


def exception_record(exc: BaseException) -> tuple[list[str], str]:
    return [c.__name__ for c in type(exc).__mro__], str(exc)


def ours(message: str) -> bool:
    """A warning of lrplugins: its message starts with the adapter's (or engine owner's) name."""
    return message.startswith(("LRScheduler", "RunState"))


def check(sc: Scenario, runtime: str, traces: list[Trace]) -> None:
    """Assert that ``traces`` (one per leg run) show what ``sc`` expects in ``runtime``."""
    cell = sc.cell(runtime)
    if cell.startswith("n/a"):
        raise AssertionError("an n/a cell is skipped, never run")
    if cell.startswith("refused"):  # by the last leg; the legs before it run without error
        expects = [LegExpect() for _ in sc.legs[1:]]
        expects.append(LegExpect(raises=sc.refusal[family(runtime)]))
    else:
        expects = sc.by_family.get(family(runtime), sc.expect)(sc)
    rel = 2e-6 if family(runtime) == "keras" else 1e-9  # Keras computes the LR in float32
    for i, (want, got) in enumerate(zip(expects, traces)):
        where = f"{runtime}/{sc.name}, leg {i}"
        if want.raises is not None:
            assert got.error is not None, f"{where}: expected {want.raises}, nothing was raised"
            _match(want.raises, got.error, where)
            continue
        assert got.error is None, f"{where}: raised {got.error[0][0]}: {got.error[1]}"
        assert len(got.caught) == len(want.caught), f"{where}: caught {got.caught}"
        for refusal, caught in zip(want.caught, got.caught):
            _match(refusal, caught, where)
        values = want.values
        if values == SAME:
            first = traces[0].values
            values = {u: first[u] for u in got.values if u in first}
            assert values, f"{where}: no update in common with the first leg"
        if values is not None:
            assert isinstance(values, dict)
            assert sorted(got.values) == sorted(values), (
                f"{where}: updates {sorted(got.values)}, expected {sorted(values)}"
            )
            for u, hypers in values.items():
                if "lr_from_weights" in got.values[u] and "lr" in hypers:
                    hypers = {**hypers, "lr_from_weights": hypers["lr"]}
                for hyper, expected in hypers.items():
                    applied = got.values[u][hyper]
                    # recovered from float32 weights: a few float32 roundings of the update
                    close = (1e-4, 1e-7) if hyper == "lr_from_weights" else (rel, 1e-10)
                    assert len(applied) == len(expected) and all(
                        math.isclose(a, e, rel_tol=close[0], abs_tol=close[1])
                        for a, e in zip(applied, expected)
                    ), f"{where}: update {u} {hyper} applied {applied}, expected {expected}"
        mine = [m for m in got.warnings if ours(m)]
        for pattern in want.warns:
            assert any(re.search(pattern, m) for m in mine), (
                f"{where}: no warning matching {pattern!r} among {mine}"
            )
        extra = [m for m in mine if not any(re.search(p, m) for p in want.warns)]
        assert not extra, f"{where}: unexpected warnings {extra}"
    assert len(traces) == len(expects), f"{runtime}/{sc.name}: stopped after leg {len(traces)}"


def _match(refusal: Refusal, record: tuple[list[str], str], where: str) -> None:
    names, message = record
    assert set(refusal.types) & set(names), (
        f"{where}: raised {names[0]}: {message}, expected {refusal}"
    )
    assert re.search(refusal.match, message), (
        f"{where}: {names[0]}: {message!r} !~ {refusal.match!r}"
    )
