"""``lrplugins.torch.find_lr`` on a plain PyTorch loop.

The check that matters: ``find_lr(...)`` followed by a training loop gives the same weights, bit
for bit, and the same LR at every update as the loop alone. The loop draws from every random
number generator (dropout and the shuffling from torch's, an augmentation from numpy's and
Python's), so any generator the test leaves moved would show.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
np = require("numpy")

from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.torch import LRScheduler, find_lr

pytestmark = pytest.mark.slow


def make(dropout: float = 0.2) -> tuple[nn.Module, torch.optim.Optimizer, LRScheduler]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1))
    opt = torch.optim.AdamW(
        [
            {"params": model[0].parameters(), "lr": 3e-3},
            {"params": model[3].parameters(), "lr": 1e-3},  # ratio 3
        ],
        weight_decay=0.01,
    )
    sched = LRScheduler(opt, lrp.cosine(total_steps=24, warmup_steps=4))
    return model, opt, sched


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1, generator=g)
    return TensorDataset(x, y)


def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(out, y)


def train(model: nn.Module, opt: Any, sched: LRScheduler, data: Any, epochs: int = 3) -> list:
    """A loop that draws from torch's, numpy's and Python's generators."""
    trace = []
    for _ in range(epochs):
        for x, y in data:
            x = x + 0.01 * torch.from_numpy(np.random.standard_normal(x.shape).astype("float32"))
            x = x * random.uniform(0.9, 1.1)
            trace.append([float(g["lr"]) for g in opt.param_groups])
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            sched.step()
    return trace


def run(with_test: bool, loader: Any, **kw: Any) -> tuple[nn.Module, list, Any]:
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    model, opt, sched = make()
    finder = None
    if with_test:
        finder = find_lr(model, opt, loader, loss_fn, min_lr=1e-5, max_lr=10.0, steps=40, **kw)
    return model, train(model, opt, sched, loader), finder


def assert_same(a: tuple[nn.Module, list, Any], b: tuple[nn.Module, list, Any]) -> None:
    for (name, pa), pb in zip(a[0].state_dict().items(), b[0].state_dict().values()):
        assert torch.equal(pa, pb), name
    assert a[1] == b[1]


def test_find_lr_then_training_is_training() -> None:
    loader = DataLoader(dataset(), batch_size=8, shuffle=True)
    with_test = run(True, loader)
    assert_same(with_test, run(False, loader))
    finder = with_test[2]
    assert finder.stop_reason == "diverged"
    assert 1e-5 < finder.suggestion < 10.0
    assert finder.base_lrs == [3e-3, 1e-3]  # initial_lr: the scheduler had set lr to 0
    assert finder.suggested_lrs == pytest.approx([finder.suggestion, finder.suggestion / 3])


def test_tensor_hyperparameters_are_restored_by_value() -> None:
    """``lr`` and ``betas`` as tensors (the ``torch.compile`` recipe): the sweep writes into the
    same tensors, so the restore must put their values back, not the moved tensors."""

    def tensor_run(with_test: bool) -> tuple[nn.Module, list, Any]:
        torch.manual_seed(5)
        np.random.seed(5)
        random.seed(5)
        model, opt, _ = make()
        for g in opt.param_groups:
            g["lr"] = torch.tensor(g["lr"])
            g["betas"] = (torch.tensor(0.9), torch.tensor(0.999))
        sched = LRScheduler(opt, lrp.cosine(total_steps=24, warmup_steps=4))
        lrs = [g["lr"] for g in opt.param_groups]
        loader = DataLoader(dataset(), batch_size=8, shuffle=True)
        finder = None
        if with_test:
            finder = find_lr(model, opt, loader, loss_fn, min_lr=1e-5, max_lr=10.0, steps=40)
            # the same tensor objects (a compiled step keeps reading them), their values back
            assert all(g["lr"] is lr for g, lr in zip(opt.param_groups, lrs))
        return model, train(model, opt, sched, loader), finder

    with_test = tensor_run(True)
    plain = tensor_run(False)
    assert plain[1][0] == [0.0, 0.0] and plain[1][5][0] > 0  # warmup from 0, then moving
    assert_same(with_test, plain)
    assert with_test[2].stop_reason == "diverged"


def test_batchnorm_running_statistics_are_restored() -> None:
    """BatchNorm's running mean, variance and batch counter (with ``momentum=None`` the counter
    sets the averaging weight) are buffers the sweep moves: training afterwards must see the
    ones it would have had."""

    def bn_run(with_test: bool) -> tuple[nn.Module, list, Any]:
        torch.manual_seed(5)
        np.random.seed(5)
        random.seed(5)
        model = nn.Sequential(
            nn.Linear(4, 16), nn.BatchNorm1d(16, momentum=None), nn.ReLU(), nn.Linear(16, 1)
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sched = LRScheduler(opt, lrp.cosine(total_steps=24, warmup_steps=4))
        loader = DataLoader(dataset(), batch_size=8, shuffle=True)
        finder = None
        if with_test:
            finder = find_lr(model, opt, loader, loss_fn, min_lr=1e-5, max_lr=10.0, steps=40)
        return model, train(model, opt, sched, loader), finder

    with_test = bn_run(True)
    plain = bn_run(False)
    assert_same(with_test, plain)
    assert int(plain[0][1].num_batches_tracked) == len(plain[1])


def test_groups_keep_their_ratio_during_the_sweep() -> None:
    model, opt, _ = make()
    seen: list[list[float]] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    finder = find_lr(model, opt, DataLoader(dataset(), batch_size=8), loss_fn, steps=30)
    assert len(seen) == len(finder.lrs)
    for k, (lr0, lr1) in enumerate(seen):
        assert lr0 == finder.lr_at(k)
        assert lr0 / lr1 == pytest.approx(3.0, rel=1e-12)
    # and the optimizer is back: its LRs, its (empty) state, the scheduler's step count
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]  # warmup starts at 0
    assert not opt.state


def test_loader_with_its_own_generator() -> None:
    def loader() -> DataLoader:
        return DataLoader(
            dataset(), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3)
        )

    a_loader = loader()
    with_test = run(True, a_loader)
    assert_same(with_test, run(False, loader()))


class Noisy(TensorDataset):
    """Draws from the worker's torch generator for every sample (an augmentation), so a worker
    whose generator the sweep moved shows in the batches."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        x, y = super().__getitem__(i)
        return x + 0.01 * torch.randn(x.shape), y


@pytest.mark.parametrize("persistent", [True, False])
def test_loader_with_workers(persistent: bool) -> None:
    """Persistent workers keep their iterator and their generators from epoch to epoch: the
    sweep must not use (and move) the ones training gets."""

    def loader() -> DataLoader:
        return DataLoader(
            Noisy(*dataset().tensors),
            batch_size=8,
            shuffle=True,
            num_workers=1,
            persistent_workers=persistent,
        )

    a_loader = loader()
    with_test = run(True, a_loader)
    assert_same(with_test, run(False, loader()))


class Stateful:
    """A loader with a position it keeps across iterations (like torchdata's
    StatefulDataLoader): each ``iter`` continues where the last one stopped."""

    def __init__(self, data: TensorDataset) -> None:
        self.batches = [data[i : i + 8] for i in range(0, len(data), 8)]
        self.pos = 0

    def __iter__(self) -> Iterator[Any]:
        for _ in range(len(self.batches)):
            batch = self.batches[self.pos % len(self.batches)]
            self.pos += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.pos = state["pos"]


def test_stateful_loader_position_is_restored() -> None:
    loader = Stateful(dataset())
    loader.pos = 3
    model, opt, _ = make()
    find_lr(model, opt, loader, loss_fn, steps=20, diverge=None)  # 20 batches taken
    assert loader.pos == 3
    a, b = Stateful(dataset()), Stateful(dataset())
    a.pos = b.pos = 3
    assert_same(run(True, a), run(False, b))


def test_gradient_accumulation_counts_updates() -> None:
    model, opt, _ = make(dropout=0.0)  # no random draws: the replay below is exact
    data = DataLoader(dataset(), batch_size=8)
    steps = []
    opt.register_step_post_hook(lambda o, a, k: steps.append(1))
    finder = find_lr(model, opt, data, loss_fn, steps=12, diverge=None, accumulate=2)
    assert len(finder.lrs) == 12 and len(steps) == 12  # 12 updates from 24 batches
    # each recorded loss is the mean over its two batches, at the weights of that update
    model2, opt2, _ = make(dropout=0.0)
    batches = [b for _ in range(3) for b in data][:24]
    for k in range(12):
        for g, lr in zip(opt2.param_groups, finder.group_lrs(k)):
            g["lr"] = lr
        opt2.zero_grad()
        losses = []
        for x, y in batches[2 * k : 2 * k + 2]:
            loss = loss_fn(model2(x), y)
            (loss / 2).backward()
            losses.append(float(loss.detach()))
        opt2.step()
        assert finder.losses[k] == pytest.approx(sum(losses) / 2, rel=1e-6)


def replay_amp(finder: Any, data: Any, dtype: torch.dtype, scaler: Any = None) -> list[float]:
    """The sweep's losses as a training loop computes them: each update's forward in its own
    ``torch.autocast`` context (so the low-precision copies of the weights are made anew each
    update), backward and step outside it, through ``scaler`` where given."""
    model, opt, _ = make(dropout=0.0)
    batches = [b for _ in range(8) for b in data]
    losses = []
    k = 0
    for x, y in batches:
        if len(losses) == len(finder.losses):
            break
        for g, lr in zip(opt.param_groups, finder.group_lrs(k)):
            g["lr"] = lr
        opt.zero_grad()
        with torch.autocast("cpu", dtype=dtype):
            loss = loss_fn(model(x), y)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scale = scaler.get_scale()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if scaler.get_scale() < scale:
                continue  # a skipped update: the sweep records it not, and retries the LR
        losses.append(float(loss.detach()))
        k += 1
    return losses


def test_inside_the_callers_autocast_each_update_casts_the_weights_anew() -> None:
    """Under one enclosing ``torch.autocast``, torch caches the bf16 copy of each weight until
    the context ends: without a fresh cast per update every step would use the step-0 weights."""
    data = DataLoader(dataset(), batch_size=8)
    model, opt, _ = make(dropout=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        finder = find_lr(model, opt, data, loss_fn, min_lr=1e-3, max_lr=1.0, steps=20)
        # and the caller's forward after it sees the restored weights, not the sweep's last
        out = model(dataset().tensors[0][:8])
    assert finder.losses == replay_amp(finder, data, torch.bfloat16)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    model2, _, _ = make(dropout=0.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(out, model2(dataset().tensors[0][:8]))


def test_autocast_argument_runs_each_update_as_training_does() -> None:
    data = DataLoader(dataset(), batch_size=8)
    model, opt, _ = make(dropout=0.0)
    finder = find_lr(
        model, opt, data, loss_fn, min_lr=1e-3, max_lr=1.0, steps=20, autocast=torch.bfloat16
    )
    assert finder.losses == replay_amp(finder, data, torch.bfloat16)
    assert len(finder.losses) > 10


def train_amp(model: nn.Module, opt: Any, scaler: Any, data: Any) -> list:
    trace = []
    for _ in range(2):
        for x, y in data:
            trace.append([float(g["lr"]) for g in opt.param_groups] + [scaler.get_scale()])
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.float16):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
    return trace


def test_grad_scaler_skipped_updates_are_retried_and_its_state_restored() -> None:
    """fp16 with a ``GradScaler``: an update the scaler skips (inf gradients at its first,
    too large scale) took no step, so it is not recorded and its LR is tried again; afterwards
    the scaler's scale and growth tracker are back."""
    data = DataLoader(dataset(), batch_size=8, shuffle=True)

    def amp_run(with_test: bool) -> tuple[nn.Module, list, Any]:
        torch.manual_seed(5)
        model, opt, _ = make()
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24, growth_interval=3)
        finder = None
        if with_test:
            finder = find_lr(
                model,
                opt,
                data,
                loss_fn,
                min_lr=1e-3,
                steps=20,
                autocast=torch.float16,
                scaler=scaler,
            )
        return model, train_amp(model, opt, scaler, data), finder

    with_test = amp_run(True)
    assert_same(with_test, amp_run(False))
    assert with_test[1][0][-1] == 2.0**24  # training starts at the configured scale
    finder = with_test[2]
    replay_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24, growth_interval=3)
    model, opt, _ = make(dropout=0.0)
    no_dropout = find_lr(
        model,
        opt,
        DataLoader(dataset(), batch_size=8),
        loss_fn,
        min_lr=1e-3,
        steps=20,
        autocast=torch.float16,
        scaler=torch.amp.GradScaler("cpu", init_scale=2.0**24, growth_interval=3),
    )
    replayed = replay_amp(
        no_dropout, DataLoader(dataset(), batch_size=8), torch.float16, replay_scaler
    )
    assert replay_scaler.get_scale() < 2.0**24  # the scaler did skip updates
    assert no_dropout.losses == replayed
    assert finder.stop_reason is not None


def test_the_state_comes_back_when_the_loss_raises() -> None:
    model, opt, _ = make()
    before = [p.detach().clone() for p in model.parameters()]
    calls = []

    def bad_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return loss_fn(out, y)

    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, opt, DataLoader(dataset(), batch_size=8, shuffle=True), bad_loss)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not opt.state and torch.equal(torch.get_rng_state(), state)


def test_errors() -> None:
    model, opt, _ = make()
    data = [(torch.zeros(2, 4), torch.zeros(2, 1))]
    with pytest.raises(TypeError, match="one-shot iterator"):
        find_lr(model, opt, iter(data), loss_fn)
    with pytest.raises(ValueError, match="accumulate must be >= 1, got 0"):
        find_lr(model, opt, data, loss_fn, accumulate=0)
    with pytest.raises(ValueError, match="data yielded no batch"):
        find_lr(model, opt, [], loss_fn)
    with pytest.raises(ValueError, match=r"LRFinder\(\): max_lr must be > min_lr"):
        find_lr(model, opt, data, loss_fn, min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="autocast can be torch.float16, torch.bfloat16 or None"):
        find_lr(model, opt, data, loss_fn, autocast=torch.float32)
    with pytest.raises(TypeError, match="scaler must be a torch.amp.GradScaler, got 1.0"):
        find_lr(model, opt, data, loss_fn, scaler=1.0)  # type: ignore[arg-type]
    stuck = torch.amp.GradScaler("cpu", init_scale=math.inf)  # every update skipped
    with pytest.raises(RuntimeError, match="skipped 64 updates in a row .* after 0 recorded"):
        find_lr(model, opt, data, loss_fn, scaler=stuck)
    assert stuck.get_scale() == math.inf and not opt.state


def test_nan_loss_stops_the_sweep() -> None:
    model, opt, _ = make()
    opt.param_groups[1]["lr"] = 3e-3
    finder = find_lr(
        model,
        opt,
        DataLoader(dataset(), batch_size=8),
        lambda o, y: loss_fn(o, y) / 0 * 0,
        steps=20,
    )
    assert finder.stop_reason == "non-finite" and len(finder.lrs) == 1
    with pytest.raises(RuntimeError, match="no suggestion"):
        _ = finder.suggestion


def test_a_loss_that_turns_nan_after_three_steps_is_refused() -> None:
    model, opt, _ = make()
    calls = []

    def loss_nan_from_4(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = loss_fn(out, y)
        return loss * math.nan if len(calls) > 3 else loss

    finder = find_lr(model, opt, DataLoader(dataset(), batch_size=8), loss_nan_from_4)
    assert finder.stop_reason == "non-finite" and len(finder.lrs) == 4
    with pytest.raises(RuntimeError, match="3 with a finite loss.*the loss was nan at step 4"):
        _ = finder.suggestion


def test_docstring_example() -> None:
    import doctest

    from lrplugins import _finder_torch

    assert doctest.testmod(_finder_torch).failed == 0


def _ddp_rank(rank: int, world: int, folder: str) -> None:
    import json

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["FINDER_PORT"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = dataset()
    shard = [
        (data.tensors[0][i : i + 4], data.tensors[1][i : i + 4])
        for i in range(rank * 32, rank * 32 + 32, 4)
    ]  # each rank its own half
    finder = find_lr(model, opt, shard, loss_fn, min_lr=1e-4, steps=40)
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as fh:
        json.dump(finder.to_dict(), fh)
    dist.barrier()
    dist.destroy_process_group()


def test_ddp_ranks_record_the_mean_loss_and_agree() -> None:
    import json
    import socket

    mp = require("torch.multiprocessing")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        os.environ["FINDER_PORT"] = str(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_ddp_rank, args=(2, folder), nprocs=2, join=True)
        ranks = [json.loads(Path(folder, f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]
    assert math.isfinite(ranks[0]["suggestion"])


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    model, opt, _ = make()
    find_lr(model, opt, DataLoader(dataset(), batch_size=8), loss_fn, steps=10, progress=True)
    assert "LR range test" in capsys.readouterr().err
