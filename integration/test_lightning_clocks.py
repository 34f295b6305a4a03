"""The Lightning callback on the samples / tokens clock (``count=``), against a real Trainer.

Batches differ in size (a batch sampler of given sizes; sequences of varying length), updates
accumulate 2 micro-batches, and every LR is read from the real torch optimizer by its own step
hooks (``register_step_pre_hook``: what a monitor sees before the update;
``register_step_post_hook``: what the update used). Each must equal ``base * s(n)`` with ``n``
the samples (tokens) consumed before that update, counted here from the data, not from the
callback. DDP on two CPU ranks with different batch sizes runs ``lightning_clocks_ddp.py`` in a
subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
pl = require("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

HERE = Path(__file__).resolve().parent
SIZES = [3, 5, 2, 7, 4, 6, 1]  # samples per batch: 7 batches, updates of 2, 2, 2 and 1 batches
EPOCHS = 3
BASE = 0.1
SAMPLES = lrp.cosine(total_steps=f"{EPOCHS * sum(SIZES)}sp", warmup_steps="10sp", final=0.1)

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------
# Data of varying batch size, a model whose optimizer reports each update's LR
# ------------------------------------------------------------------------------------------------


class Sizes(Sampler[list[int]]):
    """Consecutive index ranges of the given sizes."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Any:
        start = 0
        for n in self.sizes:
            yield list(range(start, start + n))
            start += n


def samples_loader(sizes: list[int] = SIZES) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    n = sum(sizes)
    ds = TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g))
    return DataLoader(ds, batch_sampler=Sizes(sizes))


LENGTHS = [3, 9, 5, 2, 8, 8, 1, 6, 4, 7, 2, 5, 9, 3]  # sequence lengths; batches of 2


def tokens_loader() -> DataLoader:
    """Batches ``{"input_ids", "attention_mask"}`` padded to the longest sequence of the batch."""
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(1, 10, (n,), generator=g) for n in LENGTHS]

    def collate(items: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        width = max(len(x) for x in items)
        ids = torch.zeros(len(items), width, dtype=torch.long)
        mask = torch.zeros(len(items), width, dtype=torch.long)
        for row, x in enumerate(items):
            ids[row, : len(x)], mask[row, : len(x)] = x, 1
        return {"input_ids": ids, "attention_mask": mask}

    return DataLoader(seqs, batch_size=2, collate_fn=collate)  # type: ignore[arg-type]


class Model(pl.LightningModule):
    """A linear model (on features or on mean token embeddings) trained with plain SGD; the
    optimizer's own step hooks record the LR of every update."""

    def __init__(self, tokens: bool = False) -> None:
        super().__init__()
        self.tokens, self.lr = tokens, BASE  # (lr: Lightning's range test writes its pick there)
        self.emb = nn.Embedding(10, 4)
        self.net = nn.Linear(4, 1)
        self.before: list[float] = []  # LR seen by a step pre-hook
        self.used: list[float] = []  # LR seen by a step post-hook: what the update used

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.tokens:
            mask = batch["attention_mask"].unsqueeze(-1).float()
            x = (self.emb(batch["input_ids"]) * mask).sum(1) / mask.sum(1)
            return self.net(x).pow(2).mean()
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=self.lr)
        opt.register_step_pre_hook(lambda o, a, k: self.before.append(o.param_groups[0]["lr"]))
        opt.register_step_post_hook(lambda o, a, k: self.used.append(o.param_groups[0]["lr"]))
        return opt


def trainer(tmp_path: Path, callbacks: list[Any], **kwargs: Any) -> Any:
    opts: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": EPOCHS,
        "accumulate_grad_batches": 2,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": tmp_path,
        "num_sanity_val_steps": 0,
    }
    opts.update(kwargs)
    return pl.Trainer(callbacks=callbacks, **opts)


def consumed_before(counts: list[int], epochs: int = EPOCHS, accumulate: int = 2) -> list[int]:
    """The count consumed before each update: per epoch, windows of ``accumulate`` batches (the
    last one shorter, as Lightning steps at the end of an epoch)."""
    out, seen = [], 0
    for _ in range(epochs):
        for i in range(0, len(counts), accumulate):
            out.append(seen)
            seen += sum(counts[i : i + accumulate])
    return out


def expected(schedule: lrp.Schedule, counts: list[int], **kwargs: Any) -> list[float]:
    return [BASE * schedule(n) for n in consumed_before(counts, **kwargs)]


# ------------------------------------------------------------------------------------------------
# The LR of each update is base * s(what was consumed before it)
# ------------------------------------------------------------------------------------------------


def test_samples_clock_counts_the_leading_dimension_of_batches_of_varying_size(
    tmp_path: Path,
) -> None:
    model, cb = Model(), LRSchedulerCallback(SAMPLES)
    trainer(tmp_path, [cb]).fit(model, samples_loader())
    want = expected(SAMPLES, SIZES)
    assert len(model.used) == EPOCHS * 4
    assert model.used == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert model.before == model.used  # the LR was pre-set at the end of the previous batch
    assert cb.run_state.clock_value == EPOCHS * sum(SIZES)
    steps = [BASE * SAMPLES(k) for k in range(len(want))]  # what the update clock would give
    assert model.used != pytest.approx(steps)


@pytest.mark.parametrize("kind", ["numel", "mask_sum"])
def test_tokens_clock_counts_with_count(tmp_path: Path, kind: str) -> None:
    if kind == "numel":  # padded tokens, as an int

        def count(batch: Any) -> Any:
            return batch["input_ids"].numel()

        counts = [2 * max(LENGTHS[i : i + 2]) for i in range(0, len(LENGTHS), 2)]
    else:  # real tokens, as a 0-d tensor (summed on the device, read once per update)

        def count(batch: Any) -> Any:
            return batch["attention_mask"].sum()

        counts = [sum(LENGTHS[i : i + 2]) for i in range(0, len(LENGTHS), 2)]
    total = EPOCHS * sum(counts)
    schedule = lrp.wsd(total_steps=f"{total}tok", warmup_steps="20tok", decay_steps="30%")
    model, cb = Model(tokens=True), LRSchedulerCallback(schedule, count=count)
    trainer(tmp_path, [cb]).fit(model, tokens_loader())
    assert model.used == pytest.approx(expected(schedule, counts), rel=1e-12, abs=1e-15)
    assert model.before == model.used
    assert cb.run_state.clock == "tokens" and cb.run_state.clock_value == total
    assert model.used[-1] < model.used[len(model.used) // 2]  # the decay ran


def test_a_runtime_cooldown_in_samples(tmp_path: Path) -> None:
    class CoolAtEpoch1(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                cb.cooldown("20sp", shape="linear")

    model, cb = Model(), LRSchedulerCallback(SAMPLES)
    trainer(tmp_path, [cb, CoolAtEpoch1()]).fit(model, samples_loader())
    at = sum(SIZES)
    cooled = SAMPLES.cooldown(at=f"{at}sp", steps="20sp", shape="linear")
    assert model.used == pytest.approx(expected(cooled, SIZES), rel=1e-12, abs=1e-15)
    assert model.used[-1] == 0.0


def test_manual_optimization_two_optimizers_share_the_clock(tmp_path: Path) -> None:
    class Two(Model):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.used2: list[float] = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            opts = self.optimizers()
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x), y) + self.emb.weight.pow(2).mean()
            for opt in opts:
                opt.zero_grad()
            self.manual_backward(loss)
            for opt in opts:
                opt.step()
            return loss

        def configure_optimizers(self) -> Any:
            one = torch.optim.SGD(self.net.parameters(), lr=BASE)
            two = torch.optim.SGD(self.emb.parameters(), lr=2 * BASE)
            one.register_step_post_hook(lambda o, a, k: self.used.append(o.param_groups[0]["lr"]))
            two.register_step_post_hook(lambda o, a, k: self.used2.append(o.param_groups[0]["lr"]))
            return [one, two]

    model, cb = Two(), LRSchedulerCallback(SAMPLES)
    trainer(tmp_path, [cb], accumulate_grad_batches=1).fit(model, samples_loader())
    want = expected(SAMPLES, SIZES, accumulate=1)  # every batch is an update of both
    assert model.used == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert model.used2 == pytest.approx([2 * x for x in want], rel=1e-12, abs=1e-15)
    assert cb.run_state.clock_value == EPOCHS * sum(SIZES)  # counted once per batch, not twice


def test_lightnings_range_test_beside_the_callback_leaves_the_clock_alone(tmp_path: Path) -> None:
    from lightning.pytorch.tuner import Tuner

    model, cb = Model(), LRSchedulerCallback(SAMPLES)
    t = trainer(tmp_path, [cb])
    Tuner(t).lr_find(model, samples_loader(SIZES * 6), num_training=20, early_stop_threshold=None)
    sweep, model.used = len(model.used), []
    assert sweep > 0  # (the sweep shares the optimizer)
    t.fit(model, samples_loader())
    chosen = model.lr
    assert chosen != BASE
    assert model.used == pytest.approx(
        [x * chosen / BASE for x in expected(SAMPLES, SIZES)], rel=1e-12, abs=1e-15
    )


# ------------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------------


class ResumableLoader:
    """A loader with ``state_dict``/``load_state_dict``, so a mid-epoch resume continues the data
    (the state counts the batches the training loop has taken: ``CountTaken``)."""

    def __init__(self, loader: DataLoader) -> None:
        self.batches = list(loader)
        self.taken = 0
        self._start = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        start, self._start = self._start, 0
        self.taken = start
        yield from self.batches[start:]

    def state_dict(self) -> dict[str, int]:
        return {"taken": self.taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._start = state["taken"]


class CountTaken(pl.Callback):
    def __init__(self, loader: ResumableLoader) -> None:
        self.loader = loader

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self.loader.taken = batch_idx + 1


def _resumable(tmp_path: Path, ckpt_path: str | None = None) -> tuple[Model, Any]:
    torch.manual_seed(0)
    model, cb = Model(), LRSchedulerCallback(SAMPLES)
    loader = ResumableLoader(samples_loader())
    every = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    t = trainer(tmp_path, [cb, CountTaken(loader), every], enable_checkpointing=True)
    t.fit(model, loader, ckpt_path=ckpt_path)
    return model, cb


@pytest.mark.parametrize("step", [5, 10])  # epoch 1 after 1 update; epoch 2 after 2
def test_a_resume_continues_exactly(tmp_path: Path, step: int) -> None:
    full, full_cb = _resumable(tmp_path / "full")
    ckpt = tmp_path / "full" / "ckpt" / f"step={step}.ckpt"
    state = torch.load(ckpt, weights_only=True)["callbacks"][full_cb.state_key]
    before = consumed_before(SIZES)
    assert json.loads(json.dumps(state))["clock"] == {"unit": "samples", "value": before[step]}
    resumed, cb = _resumable(tmp_path / "resumed", ckpt_path=str(ckpt))
    assert len(full.used) == EPOCHS * 4 and resumed.used == full.used[step:]
    assert resumed.before == full.before[step:]
    assert cb.run_state.clock_value == full_cb.run_state.clock_value == EPOCHS * sum(SIZES)
    for p, q in zip(resumed.parameters(), full.parameters()):  # and the data resumed too
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_a_resume_without_the_callbacks_state_is_refused_on_the_samples_clock(
    tmp_path: Path,
) -> None:
    model = Model()
    t = trainer(tmp_path, [LRSchedulerCallback(SAMPLES)], max_epochs=1)
    t.fit(model, samples_loader())
    t.save_checkpoint(tmp_path / "a.ckpt")
    cb = LRSchedulerCallback(SAMPLES, name="other")  # another state key: no state of its own
    with pytest.raises(MisconfigurationException, match=r"the samples consumed before it are not"):
        trainer(tmp_path, [cb]).fit(Model(), samples_loader(), ckpt_path=tmp_path / "a.ckpt")


def test_a_checkpoint_on_the_tokens_clock_needs_count_to_resume(tmp_path: Path) -> None:
    schedule = lrp.cosine(total_steps="200tok")
    cb = LRSchedulerCallback(schedule, count=lambda b: b["input_ids"].numel())
    t = trainer(tmp_path, [cb], max_epochs=1)
    t.fit(Model(tokens=True), tokens_loader())
    t.save_checkpoint(tmp_path / "a.ckpt")
    later = LRSchedulerCallback(lrp.cosine())  # the checkpoint's schedule wins, with a warning
    t = trainer(tmp_path, [later], max_epochs=2)
    with (
        pytest.warns(UserWarning, match=r"the checkpoint's is used"),
        pytest.raises(TypeError, match=r"schedule \(the checkpoint's\) runs on the tokens"),
    ):
        t.fit(Model(tokens=True), tokens_loader(), ckpt_path=tmp_path / "a.ckpt")


# ------------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------------


def test_constructor_refusals_name_count() -> None:
    tokens = lrp.cosine(total_steps="1Mtok")
    with pytest.raises(TypeError, match=r"tokens clock.*pass count=.*count=lambda batch: batch"):
        LRSchedulerCallback(tokens)
    with pytest.raises(ValueError, match=r"count= is for a schedule on the samples or tokens"):
        LRSchedulerCallback(lrp.cosine(), count=len)
    with pytest.raises(TypeError, match=r"count must be a callable.*got 3"):
        LRSchedulerCallback(SAMPLES, count=3)  # type: ignore[arg-type]
    assert LRSchedulerCallback(SAMPLES, count=len).count is len  # a custom count of samples
    assert LRSchedulerCallback(tokens, count=len).count is len


@pytest.mark.parametrize(
    ("count", "error", "match"),
    [
        (lambda b: 2.0, TypeError, r"count\(batch\) must give the samples .* got 2\.0 for batch 0"),
        (lambda b: -1, ValueError, r"count\(batch\) must give .* int >= 0, got -1 for batch 0"),
        (lambda b: True, TypeError, r"got True for batch 0"),
        (lambda b: b[0].sum(), TypeError, r"tensor of shape \(\) and dtype torch\.float32"),
        (lambda b: torch.tensor([3]), TypeError, r"tensor of shape \(1,\)"),
        (lambda b: torch.tensor(-2), ValueError, r"int >= 0, got a negative tensor"),
    ],
)
def test_a_bad_count_is_an_error_naming_count(
    tmp_path: Path, count: Any, error: type, match: str
) -> None:
    cb = LRSchedulerCallback(SAMPLES, count=count)
    with pytest.raises(error, match=match):
        trainer(tmp_path, [cb]).fit(Model(), samples_loader())


def test_a_samples_schedule_without_its_total_says_how_to_give_it(tmp_path: Path) -> None:
    from lrplugins import UnboundScheduleError

    cb = LRSchedulerCallback(lrp.cosine(warmup_steps="10sp"))
    with pytest.raises(UnboundScheduleError, match=r"missing total_steps in samples") as info:
        trainer(tmp_path, [cb]).fit(Model(), samples_loader())
    assert "max_steps" not in str(info.value)  # the trainer's update count cannot bind it


def test_a_batch_without_a_leading_dimension_needs_count(tmp_path: Path) -> None:
    class Scalars(Model):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.net(batch["x"]).pow(2).mean()

    pairs = [{"w": torch.tensor(1.0), "x": torch.randn(4)} for _ in range(4)]
    loader = DataLoader(pairs, batch_size=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"first tensor is 0-d\): pass count="):
        trainer(tmp_path, [LRSchedulerCallback(SAMPLES)]).fit(Scalars(), loader)


# ------------------------------------------------------------------------------------------------
# DDP: two ranks with different batch sizes share one clock, the sum over ranks
# ------------------------------------------------------------------------------------------------


def test_ddp_ranks_share_the_clock_of_all_samples(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(HERE / "lightning_clocks_ddp.py"), str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    sizes = [rank["sizes"] for rank in ranks]
    assert sizes[0] != sizes[1]
    both = [a + b for a, b in zip(*sizes)]  # samples of each batch index, all ranks
    schedule = lrp.from_config(ranks[0]["schedule"])
    want = [ranks[0]["base"] * schedule(n) for n in consumed_before(both, ranks[0]["epochs"])]
    assert ranks[0]["used"] == ranks[1]["used"]  # the same LR on both ranks
    assert ranks[0]["used"] == pytest.approx(want, rel=1e-12, abs=1e-15)
    alone = [ranks[0]["base"] * schedule(n) for n in consumed_before(sizes[0], ranks[0]["epochs"])]
    assert ranks[0]["used"] != pytest.approx(alone)  # rank 0's own count would differ
    assert ranks[0]["clock"] == ranks[1]["clock"] == ranks[0]["epochs"] * sum(both)
