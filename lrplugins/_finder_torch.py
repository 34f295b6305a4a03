"""``lrplugins.torch.find_lr``: the LR range test on a plain PyTorch model, optimizer and data.

Also the torch-side helpers that the Lightning and Hugging Face entry points share: snapshots of
a model's tensors, an optimizer, the random number generators, and the loss averaged over the
distributed ranks.
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext
from typing import Any, Literal

try:
    import torch
    from torch.optim import Optimizer
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without torch
    raise ImportError(
        "lrplugins.torch needs PyTorch, which is not installed: pip install 'lrplugins[torch]'"
    ) from _exc

from ._finder import DEFAULT_RULE, LRFinder

__all__ = ["find_lr"]

# Updates a GradScaler may skip in a row (each halves its scale) before the sweep gives up.
MAX_SKIPS = 64


# ----------------------------------------------------------------------------------------------
# Snapshots shared by the torch-based entry points
# ----------------------------------------------------------------------------------------------


class ModelSnapshot:
    """Every parameter, buffer (persistent or not), gradient and train/eval flag of a module."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        with torch.no_grad():
            self.tensors = [
                (t, t.detach().clone())
                for t in _unique(
                    [p for _, p in model.named_parameters(remove_duplicate=False)]
                    + [b for _, b in model.named_buffers(remove_duplicate=False)]
                )
            ]
        self.grads = [
            (p, None if p.grad is None else p.grad.detach().clone())
            for p in _unique([p for _, p in model.named_parameters(remove_duplicate=False)])
        ]
        self.modes = [(m, m.training) for m in model.modules()]

    def restore(self) -> None:
        with torch.no_grad():
            for live, saved in self.tensors:
                live.copy_(saved)
        for p, g in self.grads:
            p.grad = None if g is None else g.clone()
        for m, training in self.modes:
            m.training = training


class OptimizerSnapshot:
    """An optimizer's ``state_dict`` (state and hyper-parameters, the LRs included) and the
    step counters that torch's LR schedulers keep on it.

    Tensor hyper-parameters (``lr`` and ``betas`` as tensors, for fused or capturable optimizers
    and ``torch.compile``) are restored by value into the same tensor objects: the sweep writes
    into them in place, and a compiled step keeps reading the objects it was traced with.
    """

    _COUNTERS = ("_opt_called",)

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.state = copy.deepcopy(optimizer.state_dict())
        self.groups = [dict(g) for g in optimizer.param_groups]  # keys load_state_dict drops
        self.tensors = [
            (t, t.detach().clone())
            for g in self.groups
            for k, v in g.items()
            if k != "params"
            for t in _tensors_in(v)
        ]
        self.counters = {k: getattr(optimizer, k) for k in self._COUNTERS if hasattr(optimizer, k)}

    def restore(self) -> None:
        self.optimizer.load_state_dict(self.state)
        for group, saved in zip(self.optimizer.param_groups, self.groups):
            group.clear()
            group.update(saved)
        with torch.no_grad():
            for live, value in self.tensors:
                live.copy_(value)
        for k in self._COUNTERS:
            if k in self.counters:
                setattr(self.optimizer, k, self.counters[k])
            elif hasattr(self.optimizer, k):
                delattr(self.optimizer, k)


class ScalerSnapshot:
    """A ``torch.amp.GradScaler``: its scale and growth tracker (in the same tensors, where it
    has made them) and its per-optimizer bookkeeping."""

    def __init__(self, scaler: Any) -> None:
        self.scaler = scaler
        attrs = vars(scaler)
        self.tensors = {
            k: (v, v.detach().clone()) for k, v in attrs.items() if isinstance(v, torch.Tensor)
        }
        self.others = {
            k: copy.deepcopy(v) for k, v in attrs.items() if not isinstance(v, torch.Tensor)
        }

    def restore(self) -> None:
        current = vars(self.scaler)
        current.clear()
        with torch.no_grad():
            for k, (live, value) in self.tensors.items():
                live.copy_(value)
                current[k] = live
        current.update(copy.deepcopy(self.others))


class RNGSnapshot:
    """Python's, numpy's (where imported), torch's CPU and CUDA generators, and any extra
    ``torch.Generator`` objects given (a DataLoader's own generator)."""

    def __init__(self, generators: Iterable[torch.Generator] = ()) -> None:
        self.python = random.getstate()
        np = sys.modules.get("numpy")
        self.numpy = np.random.get_state() if np is not None else None
        self.torch = torch.get_rng_state()
        self.cuda = (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() and torch.cuda.is_initialized()
            else None
        )
        self.generators = [(g, g.get_state()) for g in _unique(list(generators))]

    def restore(self) -> None:
        random.setstate(self.python)
        np = sys.modules.get("numpy")
        if self.numpy is not None and np is not None:
            np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        for g, state in self.generators:
            g.set_state(state)


def loader_generators(data: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects a DataLoader draws its order from, where it has its own."""
    found = []
    for owner in (
        data,
        getattr(data, "sampler", None),
        getattr(data, "batch_sampler", None),
        getattr(getattr(data, "batch_sampler", None), "sampler", None),
    ):
        g = getattr(owner, "generator", None)
        if isinstance(g, torch.Generator):
            found.append(g)
    return found


@contextmanager
def own_workers(loaders: Iterable[Any]) -> Iterator[None]:
    """Within it, a DataLoader with persistent workers starts workers of its own for the sweep;
    afterwards those are shut down and the loader gets back the iterator it had (or none).

    Persistent workers keep their iterator, and the random generators in them, from one epoch to
    the next (the iterator's base seed is drawn once, when it is made): training after the sweep
    must get the workers it would have had, not ones the sweep moved.
    """
    saved = []
    for loader in _unique(list(loaders)):
        if (
            isinstance(loader, torch.utils.data.DataLoader)
            and loader.persistent_workers
            and loader.num_workers > 0
        ):
            saved.append((loader, loader._iterator))
            loader._iterator = None
    try:
        yield
    finally:
        for loader, iterator in saved:
            sweep_iterator = loader._iterator
            loader._iterator = iterator
            if sweep_iterator is not None and sweep_iterator is not iterator:
                sweep_iterator._shutdown_workers()  # type: ignore[attr-defined]


def _tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors a hyper-parameter holds: itself, or the items of a tuple such as ``betas``."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def _unique(items: list[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


def base_lrs(optimizers: Iterable[Optimizer]) -> list[float]:
    """Each group's configured LR: its ``initial_lr`` where a torch scheduler set one (the
    scheduler may already have moved ``lr``, e.g. to 0 for a warmup), else its ``lr``."""
    return [float(g.get("initial_lr", g["lr"])) for opt in optimizers for g in opt.param_groups]


def set_lrs(optimizers: Iterable[Optimizer], lrs: list[float]) -> None:
    groups = [g for opt in optimizers for g in opt.param_groups]
    for group, lr in zip(groups, lrs):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def mean_over_ranks(
    value: float, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> float:
    """``value`` averaged over the distributed ranks (itself outside a process group).

    ``reduce`` is the framework's own mean-reduction where it has one; otherwise
    ``torch.distributed.all_reduce`` is used when a process group is initialized.
    """
    if reduce is not None:
        return float(reduce(torch.tensor([value], dtype=torch.float64)).item())
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        backend = dist.get_backend()
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if backend == "nccl"
            else torch.device("cpu")
        )
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / dist.get_world_size()
    return value


@contextmanager
def progress_bar(enabled: bool, total: int, desc: str) -> Iterator[Any]:
    """A tqdm bar (where tqdm is installed and ``enabled``), else an object whose methods do
    nothing."""
    bar: Any = _NoBar()
    if enabled:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - tqdm comes with every framework we support
            pass
        else:
            bar = tqdm(total=total, desc=desc, leave=False)
    try:
        yield bar
    finally:
        bar.close()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# find_lr for plain torch
# ----------------------------------------------------------------------------------------------


def find_lr(
    model: torch.nn.Module,
    optimizer: Optimizer,
    data: Iterable[Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smooth: float = 0.98,
    diverge: float | None = 0.5,
    rule: str = DEFAULT_RULE,
    accumulate: int = 1,
    autocast: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = False,
) -> LRFinder:
    """Run an LR range test on ``model`` and put everything back; returns the :class:`LRFinder`.

    Each of up to ``steps`` optimizer updates takes ``accumulate`` batches from ``data`` (an
    iterable of ``(inputs, targets)``, started again when it runs out), computes
    ``loss_fn(model(inputs), targets)``, backpropagates ``loss / accumulate`` and calls
    ``optimizer.step()`` with every group's LR set by the finder (all groups sweep together
    and keep their ratios). The recorded loss of an update is the mean over its ``accumulate``
    batches, and under ``torch.distributed`` also over the ranks, so every rank records the same
    curve, stops at the same step and gets the same suggestion.

    Mixed precision runs as a training loop runs it: with ``autocast`` each forward is in its
    own ``torch.autocast`` context (backward and step outside it), and with ``scaler`` the loss
    is scaled and the step goes through it; an update the scaler skips (inf or NaN gradients)
    made no step, so it is not recorded and its LR is tried again on the next batches (up to 64
    in a row). Called inside the caller's own ``torch.autocast``, the forwards run under it and
    the low-precision copies of the weights, which torch keeps until that context ends, are
    dropped after every update and at the end (else every step would use the first step's).

    Afterwards the model's parameters, buffers, gradients and train/eval flags, the optimizer's
    state and hyper-parameters (its LRs included), the random number generators (Python,
    numpy, torch CPU and CUDA, and a DataLoader's own ``generator``), the ``scaler``'s state
    and the position of a stateful loader (one with ``state_dict``/``load_state_dict``) are
    restored, and a DataLoader with persistent workers runs the sweep on workers of its own
    (training keeps the ones it would have had), also when the sweep raises: training
    afterwards is the training you would have had without the test.
    ``data`` must be re-iterable (a DataLoader, a list); a one-shot iterator is refused because
    the test would consume it.

    Args:
        model: the model, in the state training will start from.
        optimizer: its optimizer; the suggestion is the LR to configure on its first group whose
            LR is not 0 (:attr:`LRFinder.suggested_lrs` has every group's).
        data: re-iterable ``(inputs, targets)`` batches, already on the model's device.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor``.
        min_lr, max_lr, steps, mode, smooth, diverge, rule: see :class:`lrplugins.LRFinder`;
            ``steps`` counts optimizer updates.
        accumulate: batches per optimizer update (gradient accumulation), >= 1.
        autocast: ``torch.float16`` or ``torch.bfloat16`` to run each forward (and the loss)
            under ``torch.autocast`` on the model's device type, as the training does; ``None``
            (the default) adds none.
        scaler: the ``torch.amp.GradScaler`` the training uses (its state is put back).
        progress: show a tqdm bar.

    >>> import torch
    >>> from lrplugins.torch import find_lr
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> x = torch.randn(64, 4); y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    >>> data = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 64, 8)]
    >>> before = model.weight.detach().clone()
    >>> finder = find_lr(model, opt, data, torch.nn.functional.mse_loss, steps=60)
    >>> finder.stop_reason, 0.005 < finder.suggestion < 0.5
    ('diverged', True)
    >>> torch.equal(model.weight, before), opt.param_groups[0]["lr"]
    (True, 0.1)
    """
    finder = LRFinder(min_lr, max_lr, steps, mode=mode, smooth=smooth, diverge=diverge, rule=rule)
    if isinstance(accumulate, bool) or not isinstance(accumulate, int):
        raise TypeError(f"find_lr(): accumulate must be an int, got {accumulate!r}")
    if accumulate < 1:
        raise ValueError(f"find_lr(): accumulate must be >= 1, got {accumulate!r}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"find_lr(): optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    if autocast is not None and autocast not in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"find_lr(): autocast can be torch.float16, torch.bfloat16 or None, got {autocast!r}"
        )
    if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
        raise TypeError(f"find_lr(): scaler must be a torch.amp.GradScaler, got {scaler!r}")
    if isinstance(data, Iterator):
        raise TypeError(
            "find_lr(): data must be re-iterable (a DataLoader, a list of batches); got the "
            f"one-shot iterator {type(data).__name__}, which the test would consume"
        )
    loader_state = copy.deepcopy(data.state_dict()) if hasattr(data, "state_dict") else None
    snapshots: list[Any] = [
        ModelSnapshot(model),
        OptimizerSnapshot(optimizer),
        RNGSnapshot(loader_generators(data)),
    ]
    if scaler is not None:
        snapshots.append(ScalerSnapshot(scaler))
    device = next((p.device.type for p in model.parameters()), "cpu")
    # Under the caller's autocast, torch keeps the low-precision copy of each weight until that
    # context ends: clear it after every update (and at the end, for the restored weights).
    enclosing = torch.is_autocast_enabled(device)
    skipped = 0
    try:
        finder.begin(base_lrs([optimizer]))
        model.train()
        with (
            own_workers([data]),
            progress_bar(progress, steps, "LR range test") as bar,
            closing(_cycle(data)) as batches,
        ):
            while not finder.done:
                set_lrs([optimizer], finder.group_lrs(len(finder.lrs)))
                optimizer.zero_grad(set_to_none=True)
                total = 0.0
                for _ in range(accumulate):
                    inputs, targets = next(batches)
                    with _forward_autocast(device, autocast):
                        loss = loss_fn(model(inputs), targets)
                    with torch.autocast(device, enabled=False) if enclosing else nullcontext():
                        scaled = loss / accumulate
                        (scaled if scaler is None else scaler.scale(scaled)).backward()
                    total += float(loss.detach())
                mean = mean_over_ranks(total / accumulate)
                took = _optimizer_step(optimizer, scaler)
                if enclosing:
                    torch.clear_autocast_cache()
                if scaler is not None and not took and math.isfinite(mean):
                    skipped += 1
                    if skipped == MAX_SKIPS:
                        raise RuntimeError(
                            f"find_lr(): the GradScaler skipped {skipped} updates in a row (inf "
                            f"or NaN gradients; its scale is now {scaler.get_scale():g}) at LR "
                            f"{finder.lr_at(len(finder.lrs)):.3g}, after {len(finder.lrs)} "
                            "recorded steps; check the model and the loss"
                        )
                    continue  # no update was made: the same LR again, on the next batches
                skipped = 0
                finder.record(mean)
                bar.update()
    finally:
        for snap in snapshots:
            snap.restore()
        if loader_state is not None:
            data.load_state_dict(loader_state)  # type: ignore[attr-defined]
        if enclosing:
            torch.clear_autocast_cache()
    return finder


def _forward_autocast(device: str, dtype: torch.dtype | None) -> Any:
    """``torch.autocast(device, dtype)`` where ``dtype`` is given; else nothing (the caller's
    autocast, if any, applies)."""
    return nullcontext() if dtype is None else torch.autocast(device, dtype=dtype)


def _optimizer_step(optimizer: Optimizer, scaler: Any) -> bool:
    """``optimizer.step()``, through ``scaler`` where given; whether the update was made (a
    GradScaler skips the optimizer's ``step`` on inf or NaN gradients)."""
    if scaler is None:
        optimizer.step()
        return True
    calls: list[None] = []
    handle = optimizer.register_step_post_hook(lambda *_: calls.append(None))
    try:
        scaler.step(optimizer)
    finally:
        handle.remove()
    scaler.update()
    return bool(calls)


def _cycle(data: Iterable[Any]) -> Generator[Any, None, None]:
    while True:
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise ValueError("find_lr(): data yielded no batch")
