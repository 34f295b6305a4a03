"""lrplugins.torch.LRScheduler as ``transformers.Trainer(optimizers=(opt, sched))``.

A tiny ``nn.Module`` that returns ``{"loss": ...}``, trained by the real Trainer. A step pre-hook on
the optimizer records each group's LR when the update runs; that record is compared with
``base_lr * schedule(step) * scale`` and with the ``learning_rate`` the Trainer logs at each step.
"""

from __future__ import annotations

import pytest

import lrplugins as lrp
from conftest import require

pytestmark = pytest.mark.slow

_transformers = require("transformers")
if tuple(int(x) for x in _transformers.__version__.split(".")[:2]) < (4, 51):
    pytest.skip(
        "transformers < 4.51 logs every scheduler's next LR (get_last_lr() after step()); the "
        "scheduler form has nothing to correct it with (the callback does), see docs/versions.md",
        allow_module_level=True,
    )

N, BATCH = 32, 8  # 4 updates per epoch
BASE_LRS = (0.05, 0.01)
PLATEAU = {"factor": 0.5, "patience": 1}


def _stall(global_step):
    """The metric seen at each evaluation (every 4 updates): improves twice, then stalls."""
    return {4: 1.0, 8: 0.5}.get(global_step, 0.5)


def setup(device, schedule, plateau_args=None):
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(4, 8)
            self.b = torch.nn.Linear(8, 1)

        def forward(self, x, labels=None):
            out = self.b(torch.tanh(self.a(x)))
            loss = torch.nn.functional.mse_loss(out, labels)
            return {"loss": loss, "logits": out}

    class Data(torch.utils.data.Dataset):
        def __init__(self) -> None:
            g = torch.Generator().manual_seed(1)
            self.x = torch.randn(N, 4, generator=g)
            self.y = self.x.sum(-1, keepdim=True).sin()

        def __len__(self) -> int:
            return N

        def __getitem__(self, i):
            return {"x": self.x[i], "labels": self.y[i]}

    torch.manual_seed(0)
    model = Tiny().to(device)
    opt = torch.optim.SGD(
        [
            {"params": model.a.parameters(), "lr": BASE_LRS[0]},
            {"params": model.b.parameters(), "lr": BASE_LRS[1]},
        ]
    )
    held: list[list[float]] = []
    opt.register_step_pre_hook(
        lambda o, a, k: held.append([float(g["lr"]) for g in o.param_groups])
    )
    plateau = None if plateau_args is None else lrp.Plateau(**plateau_args)
    return model, Data(), opt, LRScheduler(opt, schedule, plateau), held


def make_trainer(tmp_path, device, model, data, opt, sched, callbacks=(), **kw):
    transformers = require("transformers")
    require("accelerate")

    class Observe(transformers.TrainerCallback):
        """Feeds the metric to the scheduler's plateau at every evaluation."""

        def on_evaluate(self, args, state, control, lr_scheduler=None, **kwargs):
            lr_scheduler.observe(_stall(state.global_step))

    args = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": BATCH,
        "per_device_eval_batch_size": BATCH,
        "max_steps": 24,
        "logging_steps": 1,
        "report_to": "none",
        "use_cpu": device == "cpu",
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        "data_seed": 0,
    }
    args.update(kw)
    if sched.plateau is not None:
        callbacks = (*callbacks, Observe())
    return transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(**args),
        train_dataset=data,
        eval_dataset=data,
        optimizers=(opt, sched),
        callbacks=list(callbacks),
    )


def logged_lrs(trainer):
    return {
        e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e
    }


def expected(schedule, scales, start=0):
    return [[b * (schedule(t) * scales[t]) for b in BASE_LRS] for t in range(start, len(scales))]


def assert_lrs(got, want, rel=1e-12):
    assert len(got) == len(want)
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == pytest.approx(w, rel=rel, abs=1e-15), t


@pytest.mark.parametrize("accumulate", [1, 2])
def test_applied_and_logged_lr_follow_the_schedule(tmp_path, device, accumulate):
    schedule = lrp.cosine(total_steps=24, warmup_steps=3, final=0.1)
    model, data, opt, sched, held = setup(device, schedule)
    trainer = make_trainer(
        tmp_path, device, model, data, opt, sched, gradient_accumulation_steps=accumulate
    )
    trainer.train()
    assert trainer.state.global_step == 24 and sched.last_epoch == 24
    assert_lrs(held, expected(schedule, [1.0] * 24))
    logged = logged_lrs(trainer)
    assert sorted(logged) == list(range(1, 25))
    for step, lr in logged.items():  # the entry at step g is the LR of update g - 1
        assert lr == held[step - 1][0]


def test_unbound_schedule_bound_from_the_trainer_at_train_begin(tmp_path, device):
    transformers = require("transformers")

    class Bind(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
            lr_scheduler.bind(total_steps=state.max_steps)

    model, data, opt, sched, held = setup(device, lrp.linear(warmup_steps="25%"))
    trainer = make_trainer(
        tmp_path,
        device,
        model,
        data,
        opt,
        sched,
        callbacks=[Bind()],
        max_steps=-1,
        num_train_epochs=3,
    )
    trainer.train()
    schedule = lrp.linear(total_steps=12, warmup_steps=3)
    assert_lrs(held, expected(schedule, [1.0] * 12))
    logged = logged_lrs(trainer)
    assert [logged[g] for g in range(1, 13)] == [lrs[0] for lrs in held]


def test_plateau_fed_at_evaluation_cuts_the_next_update(tmp_path, device):
    schedule = lrp.constant(warmup_steps=2)
    model, data, opt, sched, held = setup(device, schedule, PLATEAU)
    trainer = make_trainer(
        tmp_path, device, model, data, opt, sched, eval_strategy="steps", eval_steps=4
    )
    trainer.train()
    # evaluations after updates 12 and 16 are bad -> cut from update 16; 20, 24 bad -> cut at the end
    scales = [1.0] * 16 + [0.5] * 8
    assert_lrs(held, expected(schedule, scales))
    logged = logged_lrs(trainer)
    assert [logged[g] for g in range(1, 25)] == [lrs[0] for lrs in held]
    assert sched.plateau.num_reductions == 2


def test_resume_from_checkpoint_continues_identically(tmp_path, device):
    torch = require("torch")
    schedule = lrp.cosine(total_steps=24, warmup_steps=4)
    common = {"eval_strategy": "steps", "eval_steps": 4, "save_strategy": "steps", "save_steps": 12}

    model, data, opt, sched, whole = setup(device, schedule, PLATEAU)
    trainer = make_trainer(tmp_path, device, model, data, opt, sched, **common)
    trainer.train()
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = tmp_path / "out" / "checkpoint-12"
    assert (ckpt / "scheduler.pt").exists()

    model2, data2, opt2, sched2, resumed = setup(device, schedule, PLATEAU)
    trainer2 = make_trainer(tmp_path / "again", device, model2, data2, opt2, sched2, **common)
    trainer2.train(resume_from_checkpoint=str(ckpt))

    assert resumed == whole[12:]  # exactly the same LRs from update 12 on, plateau cut included
    assert sched2.plateau.num_reductions == sched.plateau.num_reductions == 2
    logged = logged_lrs(trainer2)
    assert [logged[g] for g in range(13, 25)] == [lrs[0] for lrs in resumed]
    for k, v in model2.state_dict().items():
        assert torch.equal(v, final[k]), k
