"""The contract suite's drivers for the torch-based runtimes: ``run(scenario, tmp) -> [Trace]``.

One driver per runtime (the plain torch loop, Lightning, the Hugging Face Trainer), each building
the same tiny model (two linear layers, ``body`` and ``head``, one parameter group each) and the
optimizer the scenario names, and recording what each update applied in an optimizer step
pre-hook (Lightning: a post-hook, as its training step runs inside ``optimizer.step``). The Keras driver runs in its own process per backend: ``contract_keras.py``. What a
driver must do is in ``contract_scenarios.py``.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from contract_scenarios import (
    BASE,
    MOMENTUM,
    PE,
    WEIGHT_DECAY,
    Act,
    Leg,
    Scenario,
    Trace,
    exception_record,
    monitor_name,
    start_groups,
)


class Net(torch.nn.Module):
    main_input_name = "x"  # what the Hugging Face Trainer counts as tokens (numel of a batch)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 1)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x: Any, labels: Any = None) -> Any:
        return {"loss": (self.body(x) + self.head(x)).pow(2).mean()}


def group(model: Any, name: str) -> dict[str, Any]:
    return {"params": list(getattr(model, name).parameters()), "lr": BASE[name], "name": name}


def optimizer(model: Any, groups: tuple[str, ...], kind: str) -> torch.optim.Optimizer:
    mw = kind == "sgd_mw"
    return torch.optim.SGD(
        [group(model, g) for g in groups],
        lr=BASE["body"],
        momentum=MOMENTUM if mw else 0.0,
        weight_decay=WEIGHT_DECAY if mw else 0.0,
    )


def recorder(current: list[Trace], update: Callable[[], int], kind: str) -> Callable[..., None]:
    """A step hook recording each group's LR (and momentum, weight decay) at update ``u``."""

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        groups = opt.param_groups
        record = {"lr": [float(g["lr"]) for g in groups]}
        if kind == "sgd_mw":
            record["momentum"] = [float(g["momentum"]) for g in groups]
            record["weight_decay"] = [float(g["weight_decay"]) for g in groups]
        current[0].values[int(update())] = record

    return hook


@contextmanager
def leg_trace(trace: Trace) -> Iterator[None]:
    """Record the leg's warnings, and the exception that ends it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the leg's outcome, compared by the test
            trace.error = exception_record(exc)
        finally:
            trace.warnings += list(dict.fromkeys(str(w.message) for w in caught))


def act(a: Act, adapter: Any, opt: Any, model: Any, trace: Trace) -> None:
    """Do one action; an exception from ``cooldown`` is recorded and training goes on."""
    if a.kind == "add_group":
        opt.add_param_group(group(model, "head"))
        return
    if a.kind == "write_lr":  # outside the adapter, as a user or another scheduler would
        for g in opt.param_groups:
            g["lr"] = g["lr"] * a.args[0]
        return
    try:
        adapter.cooldown(*a.args, **a.kwargs)
    except Exception as exc:  # noqa: BLE001 - compared by the test; training goes on
        trace.caught.append(exception_record(exc))


def adapter_args(runtime: str, args: Any) -> dict[str, Any]:
    """The scenario's adapter arguments with the symbolic monitor named as ``runtime`` logs it
    (the plain torch scheduler takes none: its loop feeds ``observe``)."""
    out = copy.deepcopy(dict(args))  # a Plateau object is state: one per adapter
    if "monitor" in out:
        monitor = out.pop("monitor")
        if runtime != "torch":
            out["monitor"] = monitor_name(runtime, monitor)
    return out


def on_tokens(args: Any) -> bool:
    """Whether the leg's schedule runs on the tokens clock."""
    return getattr(args.get("schedule"), "clock", "steps") == "tokens"


def tokens(batch: Any) -> int:
    """Lightning's ``count=``: the tokens of a batch, its numel (as the Hugging Face Trainer
    counts ``inputs[model.main_input_name]``)."""
    return int(batch[0].numel())


def rival(opt: torch.optim.Optimizer) -> Any:
    """torch's own scheduler on the adapter's optimizer (``Scenario.rival``)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda u: 0.5)


def data() -> torch.Tensor:
    return torch.randn(PE * 8, 4, generator=torch.Generator().manual_seed(0))


# -- the plain torch loop ----------------------------------------------------------------------
def run_torch(sc: Scenario, tmp: Path) -> list[Trace]:
    from lrplugins.torch import LRScheduler

    traces: list[Trace] = []
    current: list[Trace] = [Trace()]
    state = {"u": 0}
    ckpts: dict[int, bytes] = {}
    x = data()
    model: Any = None
    opt: Any = None
    sched: Any = None
    other: Any = None
    for i, leg in enumerate(sc.legs):
        trace = current[0] = Trace()
        traces.append(trace)
        with leg_trace(trace):
            if not leg.same:
                model = Net()
                opt = optimizer(model, start_groups(sc, i), sc.optimizer)
            saved = None
            if leg.resume_at is not None:
                saved = torch.load(io.BytesIO(ckpts[leg.resume_at]), weights_only=True)
                opt.load_state_dict(saved["opt"])
            if not leg.same:
                sched = LRScheduler(opt, **adapter_args("torch", leg.args))
                opt.register_step_pre_hook(recorder(current, lambda: state["u"], sc.optimizer))
                other = rival(opt) if sc.rival else None
            for a in leg.acts:
                if a.at == "before":
                    act(a, sched, opt, model, trace)
            start = sc.legs[i - 1].epochs * PE if leg.more else 0
            if saved is not None:
                sched.load_state_dict(saved["sched"])
                start = (leg.resume_at or 0) * PE
            total = leg.epochs * PE
            sched.bind(total_steps=total, steps_per_epoch=PE)
            for u in range(start, total):
                state["u"] = u
                for a in leg.acts:
                    if a.at == u:
                        act(a, sched, opt, model, trace)
                opt.zero_grad()
                batch = x[(u % PE) * 8 : (u % PE + 1) * 8]
                model(batch)["loss"].backward()
                opt.step()
                if on_tokens(leg.args):
                    sched.step(tokens=batch.numel())
                else:
                    sched.step()
                if other is not None:
                    other.step()
                if sc.evaluates_after(u + 1) and leg.args.get("plateau") is not None:
                    sched.observe(sc.metric_at(u + 1))
                if (u + 1) % PE == 0:
                    epoch = (u + 1) // PE - 1
                    if i == 0 and sc.needs_checkpoints():
                        buf = io.BytesIO()
                        torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
                        ckpts[epoch + 1] = buf.getvalue()
            for a in leg.acts:
                if a.at == "after":
                    act(a, sched, opt, model, trace)
        if trace.error is not None:
            break
    return traces


# -- Lightning ---------------------------------------------------------------------------------
def run_lightning(sc: Scenario, tmp: Path) -> list[Trace]:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lrplugins.lightning import LRSchedulerCallback

    current: list[Trace] = [Trace()]

    class Module(pl.LightningModule):
        def __init__(self, groups: tuple[str, ...]) -> None:
            super().__init__()
            net = Net()
            self.body, self.head, self.groups = net.body, net.head, groups

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return (self.body(batch[0]) + self.head(batch[0])).pow(2).mean()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            value = sc.metric_at(self.trainer.global_step)
            if not isinstance(value, list):
                self.log("val_score", float(value))

        def on_validation_epoch_end(self) -> None:
            value = sc.metric_at(self.trainer.global_step)
            if isinstance(value, list):  # self.log refuses it; a callback_metrics entry does not
                self.trainer.callback_metrics["val_score"] = torch.tensor(value)

        def configure_optimizers(self) -> Any:
            opt = optimizer(self, self.groups, sc.optimizer)
            # a post-hook: Lightning runs the training step (and on_before_optimizer_step, where
            # the callback sets the LR) inside optimizer.step(closure), after the pre-hooks
            opt.register_step_post_hook(
                recorder(current, lambda: self.trainer.global_step, sc.optimizer)
            )
            return {"optimizer": opt, "lr_scheduler": rival(opt)} if sc.rival else opt

    class Acts(pl.Callback):
        def __init__(self, leg: Leg, cb: Any, trace: Trace) -> None:
            self.leg, self.cb, self.trace = leg, cb, trace
            self.done: set[int] = set()

        def on_train_batch_start(self, trainer: Any, module: Any, *args: Any) -> None:
            for j, a in enumerate(self.leg.acts):
                if a.at == trainer.global_step and j not in self.done:
                    self.done.add(j)
                    act(a, self.cb, trainer.optimizers[0], module, self.trace)

    class Saver(pl.Callback):
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            trainer.save_checkpoint(tmp / f"e{trainer.current_epoch + 1}.ckpt")

    x = data()
    train = DataLoader(TensorDataset(x), batch_size=8)
    val = DataLoader(TensorDataset(x[:8]), batch_size=8)
    traces: list[Trace] = []
    cb: Any = None
    trainer: Any = None
    module: Any = None
    for i, leg in enumerate(sc.legs):
        trace = current[0] = Trace()
        traces.append(trace)
        with leg_trace(trace):
            if not leg.same:
                kwargs = adapter_args("lightning", leg.args)
                if on_tokens(leg.args):
                    kwargs["count"] = tokens
                cb = LRSchedulerCallback(**kwargs)
            for a in leg.acts:
                if a.at == "before":
                    act(a, cb, None, None, trace)
            if leg.more:  # the same Trainer, fit again with a higher max_epochs
                trainer.fit_loop.max_epochs = leg.epochs
                trainer.fit(module, train, val if sc.validates() else None)
                continue
            callbacks = [Acts(leg, cb, trace), cb]
            if i == 0 and sc.needs_checkpoints():
                callbacks.append(Saver())
            trainer = pl.Trainer(
                max_epochs=leg.epochs,
                callbacks=callbacks,
                logger=False,
                accelerator="cpu",
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                check_val_every_n_epoch=sc.eval_every or 1,
                val_check_interval=sc.eval_steps,
                default_root_dir=tmp,
            )
            ckpt = None if leg.resume_at is None else tmp / f"e{leg.resume_at}.ckpt"
            module = Module(start_groups(sc, i))
            trainer.fit(module, train, val if sc.validates() else None, ckpt_path=ckpt)
            for a in leg.acts:
                if a.at == "after":
                    act(a, cb, None, None, trace)
        if trace.error is not None:
            break
    return traces


# -- Hugging Face ------------------------------------------------------------------------------
def run_huggingface(sc: Scenario, tmp: Path) -> list[Trace]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lrplugins.huggingface import LRSchedulerCallback

    current: list[Trace] = [Trace()]

    class Acts(TrainerCallback):
        def __init__(self, leg: Leg, cb: Any, opt: Any, model: Any, trace: Trace) -> None:
            self.leg, self.cb, self.opt, self.model, self.trace = leg, cb, opt, model, trace
            self.done: set[int] = set()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            for j, a in enumerate(self.leg.acts):
                if a.at == state.global_step and j not in self.done:
                    self.done.add(j)
                    act(a, self.cb, self.opt, self.model, self.trace)

    class Metric(TrainerCallback):
        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any
        ) -> None:
            metrics["eval_score"] = sc.metric_at(state.global_step)

    x = data()
    rows = [{"x": row, "labels": torch.zeros(1)} for row in x]
    traces: list[Trace] = []
    cb: Any = None
    out = tmp / "hf"
    for i, leg in enumerate(sc.legs):
        trace = current[0] = Trace()
        traces.append(trace)
        with leg_trace(trace):
            if not leg.same:
                cb = LRSchedulerCallback(**adapter_args("huggingface", leg.args))
            model = Net()
            opt = optimizer(model, start_groups(sc, i), sc.optimizer)
            holder: list[Any] = []
            opt.register_step_pre_hook(
                recorder(current, lambda h=holder: h[0].state.global_step, sc.optimizer)
            )
            for a in leg.acts:
                if a.at == "before":
                    act(a, cb, opt, model, trace)
            evaluates = sc.validates()
            args = TrainingArguments(
                output_dir=str(out),
                num_train_epochs=leg.epochs,
                per_device_train_batch_size=8,
                per_device_eval_batch_size=8,
                learning_rate=BASE["body"],
                report_to="none",
                use_cpu=True,
                disable_tqdm=True,
                logging_strategy="no",
                seed=0,
                save_strategy="epoch" if i == 0 and sc.needs_checkpoints() else "no",
                eval_strategy="steps" if evaluates else "no",
                eval_steps=sc.eval_steps or (sc.eval_every or 1) * PE,
                include_num_input_tokens_seen=on_tokens(leg.args),
            )
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=rows,
                eval_dataset=rows[:8] if evaluates else None,
                optimizers=(opt, rival(opt) if sc.rival else None),
                callbacks=[Acts(leg, cb, opt, model, trace), Metric(), cb],
            )
            holder.append(trainer)
            ckpt = None if leg.resume_at is None else str(out / f"checkpoint-{leg.resume_at * PE}")
            trainer.train(resume_from_checkpoint=ckpt)
            for a in leg.acts:
                if a.at == "after":
                    act(a, cb, opt, model, trace)
        if trace.error is not None:
            break
    return traces


DRIVERS: dict[str, Callable[[Scenario, Path], list[Trace]]] = {
    "torch": run_torch,
    "lightning": run_lightning,
    "huggingface": run_huggingface,
}
