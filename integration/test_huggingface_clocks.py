"""The Hugging Face adapter on the tokens clock, against a real ``transformers.Trainer``.

A tiny language-model-like ``nn.Module`` trains on sequences of varying length, padded per batch by
the collator, with ``gradient_accumulation_steps=2``. The model counts the tokens of every
micro-batch it is given in its ``forward`` (as the Trainer's ``include_num_input_tokens_seen``
counts them: all of ``input_ids``, or the attention mask's ones for ``"non_padding"``), and a step
pre-hook on the raw torch optimizer, registered after the callback's, records the LR each update
used and the tokens counted so far. The LR of update ``k`` must be ``base * s(tokens before k)``,
the tokens counted by the test, never read from the callback or the Trainer.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
require("transformers")
require("accelerate")

from transformers import Trainer, TrainerCallback, TrainingArguments

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

pytestmark = pytest.mark.slow

BASE = 0.05
N, BATCH, ACCUM = 24, 3, 2  # 8 micro-batches, 4 updates per epoch; 12 updates in 3 epochs
REL = 1e-12
SCHEDULE = lrp.cosine(warmup_steps="120tok", total_steps="480tok", final=0.1)
# "non_padding" came with the string form of include_num_input_tokens_seen; before it (4.47) the
# argument is a bool and any string counts every token, as the Trainer then does
NON_PADDING = "non_padding" in Path(__import__("transformers").trainer.__file__).read_text()


class TinyLM(torch.nn.Module):
    """Embeds the tokens, regresses a label; counts the tokens of each training micro-batch."""

    def __init__(self, non_padding: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 8)
        self.out = torch.nn.Linear(8, 1)
        self.non_padding = non_padding
        self.tokens = 0  # counted by the model, over every training forward so far

    def forward(self, input_ids: Any, attention_mask: Any, labels: Any) -> dict[str, Any]:
        if self.training:
            n = attention_mask.sum() if self.non_padding else input_ids.numel()
            self.tokens += int(n)
        h = (self.emb(input_ids) * attention_mask[..., None]).sum(1) / attention_mask.sum(1)[
            :, None
        ]
        return {"loss": ((self.out(h)[:, 0] - labels) ** 2).mean()}


def dataset(n: int = N) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(3)
    lengths = torch.randint(2, 13, (n,), generator=g)
    return [
        {"ids": torch.randint(1, 50, (int(k),), generator=g), "label": float(i % 3)}
        for i, k in enumerate(lengths)
    ]


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pads to the longest sequence of the batch (pad id 0)."""
    width = max(len(x["ids"]) for x in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    for i, x in enumerate(items):
        ids[i, : len(x["ids"])] = x["ids"]
        mask[i, : len(x["ids"])] = 1
    labels = torch.tensor([x["label"] for x in items])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class Applied(TrainerCallback):
    """At each update, from a step pre-hook on the raw optimizer: the LR of group 0, and the
    tokens the model counted up to and including this update's micro-batches."""

    def __init__(self, model: TinyLM) -> None:
        self.model = model
        self.lrs: dict[int, float] = {}
        self.through: dict[int, int] = {}  # update -> tokens counted through it
        self.beta1: dict[int, float] = {}
        self.state: Any = None
        self._handle: Any = None

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any
    ) -> None:
        raw = getattr(optimizer, "optimizer", optimizer)
        self.state = state
        if self._handle is not None:
            self._handle.remove()
        self._handle = raw.register_step_pre_hook(self._pre)

    def _pre(self, opt: Any, a: Any, k: Any) -> None:
        self.lrs[self.state.global_step] = float(opt.param_groups[0]["lr"])
        self.beta1[self.state.global_step] = float(opt.param_groups[0]["betas"][0])
        self.through[self.state.global_step] = self.model.tokens


def targs(tmp_path: Path, **kw: Any) -> TrainingArguments:
    base: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "report_to": "none",
        "use_cpu": True,
        "logging_steps": 1,
        "per_device_train_batch_size": BATCH,
        "gradient_accumulation_steps": ACCUM,
        "learning_rate": BASE,
        "num_train_epochs": 3,
        "save_strategy": "no",
        "eval_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        "data_seed": 0,
        "include_num_input_tokens_seen": True,
        "remove_unused_columns": False,
    }
    base.update(kw)
    return TrainingArguments(**base)


def train(
    tmp_path: Path,
    callback: Any,
    *,
    non_padding: bool = False,
    resume: str | None = None,
    start_tokens: int = 0,
    extra: Any = None,
    **kw: Any,
) -> tuple[Any, Applied]:
    model = TinyLM(non_padding)
    model.tokens = start_tokens
    applied = Applied(model)
    trainer = Trainer(
        model=model,
        args=targs(tmp_path, **kw),
        train_dataset=dataset(),
        data_collator=collate,
        callbacks=[c for c in (callback, extra, applied) if c is not None],  # our pre-hook first
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer, applied


def before(applied: Applied, start: int = 0) -> dict[int, int]:
    """The tokens counted before each update (``start`` before the first one recorded)."""
    steps = sorted(applied.through)
    return {k: (applied.through[steps[i - 1]] if i else start) for i, k in enumerate(steps)}


def logged_lrs(trainer: Any) -> dict[int, float]:
    """Logged ``learning_rate`` by update index (the entry for global step k+1 is update k)."""
    history = trainer.state.log_history
    return {e["step"] - 1: e["learning_rate"] for e in history if "learning_rate" in e}


def assert_schedule(applied: Applied, tokens: dict[int, int]) -> None:
    for k, lr in applied.lrs.items():
        want = BASE * SCHEDULE(tokens[k])
        assert lr == pytest.approx(want, rel=REL), f"update {k} after {tokens[k]} tokens"


# ------------------------------------------------------------------------------------------------
# The LR of each update is base * s(tokens before it)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [
        True,
        pytest.param(
            "non_padding",
            marks=pytest.mark.skipif(not NON_PADDING, reason="this transformers has no non_padding"),
        ),
    ],
)
def test_each_update_uses_the_schedule_at_the_tokens_seen_before_it(
    tmp_path: Path, mode: Any
) -> None:
    cb = LRSchedulerCallback(SCHEDULE)
    trainer, applied = train(
        tmp_path, cb, non_padding=mode == "non_padding", include_num_input_tokens_seen=mode
    )
    assert sorted(applied.lrs) == list(range(12))
    tokens = before(applied)
    assert_schedule(applied, tokens)
    # the batches really varied, and the run went through warmup, decay and past the total
    steps = [tokens[k + 1] - tokens[k] for k in range(11)]
    assert len(set(steps)) > 3, steps
    assert tokens[1] < 120 < tokens[11] and applied.through[11] > 480
    # the Trainer counted what the test counted; its log is the LR each update used
    assert trainer.state.num_input_tokens_seen == applied.through[11]
    logged = logged_lrs(trainer)
    assert [logged[k] for k in range(12)] == [applied.lrs[k] for k in range(12)]


def test_resume_mid_run_equals_uninterrupted(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"save_strategy": "steps", "save_steps": 5}
    full, full_applied = train(tmp_path / "full", LRSchedulerCallback(SCHEDULE), **kw)
    ckpt = tmp_path / "full" / "checkpoint-5"
    record = torch.load(ckpt / "scheduler.pt", weights_only=True)["lr_lambdas"][0]["lrplugins"]
    json.dumps(record)
    shutil.copytree(ckpt, tmp_path / "resumed" / "checkpoint-5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the saved clock and the Trainer's count agree
        resumed, res_applied = train(
            tmp_path / "resumed",
            LRSchedulerCallback(SCHEDULE),
            resume=str(tmp_path / "resumed" / "checkpoint-5"),
            start_tokens=full_applied.through[4],
            **kw,
        )
    assert sorted(res_applied.lrs) == list(range(5, 12))
    assert res_applied.through == {k: full_applied.through[k] for k in range(5, 12)}
    assert res_applied.lrs == {k: full_applied.lrs[k] for k in range(5, 12)}
    assert_schedule(res_applied, before(res_applied, full_applied.through[4]))
    full_logged, res_logged = logged_lrs(full), logged_lrs(resumed)
    assert [res_logged[k] for k in range(5, 12)] == [full_logged[k] for k in range(5, 12)]
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_resume_warns_when_the_trainers_count_differs_from_the_saved_clock(
    tmp_path: Path,
) -> None:
    """A trainer_state.json whose token count was changed: the schedule goes on from its own
    saved clock (as the uninterrupted run), with a warning naming both counts."""
    kw: dict[str, Any] = {"save_strategy": "steps", "save_steps": 5}
    _, full_applied = train(tmp_path / "full", LRSchedulerCallback(SCHEDULE), **kw)
    ckpt = tmp_path / "resumed" / "checkpoint-5"
    shutil.copytree(tmp_path / "full" / "checkpoint-5", ckpt)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    saved = state["num_input_tokens_seen"]
    assert saved == full_applied.through[4]
    state["num_input_tokens_seen"] = saved + 1000
    (ckpt / "trainer_state.json").write_text(json.dumps(state))
    with pytest.warns(UserWarning, match=rf"{saved}.*{saved + 1000}|{saved + 1000}.*{saved}"):
        _, res_applied = train(
            tmp_path / "resumed", LRSchedulerCallback(SCHEDULE), resume=str(ckpt), **kw
        )
    assert res_applied.lrs == {k: full_applied.lrs[k] for k in range(5, 12)}


def test_a_checkpoint_without_our_state_starts_the_clock_at_the_trainers_count(
    tmp_path: Path,
) -> None:
    """Resuming a run the Trainer's own scheduler drove: the clock starts at the token count the
    Trainer saved, not at 0."""
    kw: dict[str, Any] = {"save_strategy": "steps", "save_steps": 5}
    _, full_applied = train(tmp_path / "full", None, **kw)
    shutil.copytree(tmp_path / "full" / "checkpoint-5", tmp_path / "resumed" / "checkpoint-5")
    with pytest.warns(UserWarning, match="not written by this callback"):
        _, res_applied = train(
            tmp_path / "resumed",
            LRSchedulerCallback(SCHEDULE),
            resume=str(tmp_path / "resumed" / "checkpoint-5"),
            start_tokens=full_applied.through[4],
            **kw,
        )
    assert sorted(res_applied.lrs) == list(range(5, 12))
    assert_schedule(res_applied, before(res_applied, full_applied.through[4]))


class CoolAt(TrainerCallback):
    """Asks ``cb.cooldown(length, "linear")`` once ``at`` updates are done (from ``on_step_end``)."""

    def __init__(self, cb: LRSchedulerCallback, at: int, length: str) -> None:
        self.cb, self.at, self.length = cb, at, length

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step == self.at:
            self.cb.cooldown(self.length, "linear")


def test_momentum_and_a_runtime_cooldown_count_in_tokens(tmp_path: Path) -> None:
    """``momentum=`` runs on the same clock (AdamW's beta1 of update k is 0.9 * m(tokens before
    k)); ``cb.cooldown("200tok")`` after update 3 decays from the LR of update 4 over the next 200
    tokens, to 0."""
    momentum = lrp.linear(total_steps="480tok", final=0.5)
    cb = LRSchedulerCallback(SCHEDULE, momentum=momentum)
    _, applied = train(tmp_path, CoolAt(cb, 4, "200tok"), extra=cb)
    tokens = before(applied)
    cooled = SCHEDULE.cooldown(at=f"{tokens[4]}tok", steps="200tok", shape="linear")
    for k, lr in applied.lrs.items():
        want = BASE * cooled(tokens[k])
        assert lr == pytest.approx(want, rel=REL, abs=1e-15), f"update {k} after {tokens[k]} tokens"
        assert applied.beta1[k] == pytest.approx(0.9 * momentum(tokens[k]), rel=REL)
    assert tokens[4] < tokens[4] + 200 < tokens[11]  # the cooldown ended inside the run
    assert applied.lrs[11] == 0.0 < applied.lrs[5]


# ------------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [False, "no"])
def test_tokens_without_the_trainers_count_is_refused_naming_the_argument(
    tmp_path: Path, value: Any
) -> None:
    with pytest.raises(ValueError, match="include_num_input_tokens_seen") as info:
        train(tmp_path, LRSchedulerCallback(SCHEDULE), include_num_input_tokens_seen=value)
    assert "tokens" in str(info.value)


def test_the_samples_clock_is_refused_at_train_begin(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.linear(warmup_steps="8sp", total_steps="64sp"))
    with pytest.raises(ValueError, match="samples") as info:
        train(tmp_path, cb)
    assert "Trainer" in str(info.value)


def test_a_tokens_schedule_without_a_total_in_tokens_says_how_to_give_it(
    tmp_path: Path,
) -> None:
    cb = LRSchedulerCallback(lrp.cosine(warmup_steps="120tok"))
    with pytest.raises(lrp.UnboundScheduleError, match="total_steps='300Btok'") as info:
        train(tmp_path, cb, max_steps=12)
    assert "max_steps" not in str(info.value)  # an update count cannot bind it


def test_a_model_whose_tokens_the_trainer_cannot_find_is_refused_at_the_first_update(
    tmp_path: Path,
) -> None:
    """The Trainer only warns when the batch has no ``main_input_name`` key and counts nothing;
    a schedule in tokens would never move, so the first update raises."""
    model = TinyLM()
    model.main_input_name = "tokens"  # the batches hold "input_ids"
    trainer = Trainer(
        model=model,
        args=targs(tmp_path),
        train_dataset=dataset(),
        data_collator=collate,
        callbacks=[LRSchedulerCallback(SCHEDULE)],
    )
    with pytest.raises(RuntimeError, match="main_input_name"):
        trainer.train()
