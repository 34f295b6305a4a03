"""The Hugging Face adapter against a real ``transformers.Trainer``.

Tiny BERT-style classifiers and GPT-2-style LMs, built from configs (nothing from the hub), train on
synthetic data. A ``Recorder`` callback wraps the raw torch optimizer's ``step`` (the call that
performs the update, inside accelerate's wrapper) and records every group's ``lr`` at that moment;
with plain SGD it also measures the LR the update really used, ``-(p_after - p_before) / grad``.
The record is compared with ``base_lr * schedule(step) * plateau.scale`` computed independently
(the test binds the schedule by hand) and with the ``learning_rate`` the Trainer logged
(``logging_steps=1``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
transformers = require("transformers")
require("accelerate")

from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback
from lrplugins.torch import LRScheduler

HERE = Path(__file__).resolve().parent
# transformers < 4.51 logs get_last_lr() after lr_scheduler.step(), for every scheduler
OLD_LOGGING = tuple(int(x) for x in transformers.__version__.split(".")[:2]) < (4, 51)
N, BATCH, SEQ = 16, 4, 8  # 4 batches per epoch
LR = 1e-3
REL = 1e-12

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------
# Models, data, and the recorder
# ------------------------------------------------------------------------------------------------


def bert() -> Any:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForSequenceClassification(cfg)


def gpt2() -> Any:
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_embd=32,
        n_layer=2,
        n_head=2,
        vocab_size=100,
        n_positions=SEQ,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(cfg)


MODELS = {"bert": bert, "gpt2": gpt2}


def data(kind: str, n: int = N, seed: int = 1) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (n, SEQ), generator=g)
    if kind == "bert":
        labels = torch.randint(0, 2, (n,), generator=g)
        return [{"input_ids": ids[i], "labels": labels[i]} for i in range(n)]
    return [{"input_ids": ids[i], "labels": ids[i]} for i in range(n)]


class Recorder(TrainerCallback):
    """Wraps the raw optimizer's ``step``: records each group's LR (and, for SGD, the LR used)."""

    def __init__(self, measure: bool = False) -> None:
        self.lrs: dict[int, list[float]] = {}  # global step -> LR of each group at the update
        self.measured: dict[int, list[float]] = {}
        self.measure = measure
        self.state: Any = None
        self.wrapped: Any = None

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any
    ) -> None:
        raw = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer
        if self.wrapped is raw:
            return
        self.state, self.wrapped, inner = state, raw, raw.step

        def step(*a: Any, **k: Any) -> Any:
            step_no = self.state.global_step
            self.lrs[step_no] = [float(g["lr"]) for g in raw.param_groups]
            probes = []
            if self.measure:
                for g in raw.param_groups:
                    p = next(p for p in g["params"] if p.grad is not None)
                    probes.append(
                        (p, p.detach().clone().double(), p.grad.detach().clone().double())
                    )
            out = inner(*a, **k)
            if self.measure:
                used = []
                for p, before, grad in probes:
                    mask = grad.abs() > grad.abs().max() * 0.5
                    used.append(float(((before - p.detach().double()) / grad)[mask].median()))
                self.measured[step_no] = used
            return out

        if hasattr(inner, "_wrapped_by_lr_sched"):  # keep torch's "stepped in order" check quiet
            step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
        raw.step = step


def targs(tmp_path: Path, **kw: Any) -> TrainingArguments:
    base: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "report_to": "none",
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": 1,
        "per_device_train_batch_size": BATCH,
        "per_device_eval_batch_size": BATCH,
        "learning_rate": LR,
        "num_train_epochs": 3,
        "save_strategy": "no",
        "eval_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        "data_seed": 0,
    }
    base.update(kw)
    return TrainingArguments(**base)


def logged_lrs(trainer: Any) -> dict[int, float]:
    """Logged ``learning_rate`` by update index (the entry for global step k+1 is update k)."""
    return {
        e["step"] - 1: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e
    }


def assert_close(got: list[float], want: list[float], rel: float = REL) -> None:
    assert len(got) == len(want), (got, want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a == pytest.approx(b, rel=rel, abs=1e-15), f"update {k}: got {a}, want {b}"


def train(
    tmp_path: Path,
    model: str = "bert",
    callback: Any = None,
    measure: bool = False,
    optimizers: Any = (None, None),
    eval_dataset: Any = None,
    resume: Any = None,
    extra_callbacks: tuple[Any, ...] = (),
    **kw: Any,
) -> tuple[Any, Recorder]:
    rec = Recorder(measure)
    cbs = [rec, *extra_callbacks] + ([callback] if callback is not None else [])
    m = MODELS[model]() if optimizers[0] is None else optimizers[0].model_ref
    trainer = Trainer(
        model=m,
        args=targs(tmp_path, **kw),
        train_dataset=data(model),
        eval_dataset=eval_dataset,
        callbacks=cbs,
        optimizers=optimizers,
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer, rec


def two_group_sgd(model: str) -> Any:
    """A backbone group at LR and a head group at 10 * LR, plain SGD (its update is ``lr * grad``)."""
    m = MODELS[model]()
    head_names = ("classifier", "pooler", "transformer.ln_f")  # GPT-2's lm_head is tied to wte
    head = [p for n, p in m.named_parameters() if n.startswith(head_names)]
    ids = {id(p) for p in head}
    body = [p for p in m.named_parameters() if id(p[1]) not in ids]
    opt = torch.optim.SGD(
        [{"params": [p for _, p in body], "lr": LR}, {"params": head, "lr": 10 * LR}], lr=LR
    )
    opt.model_ref = m  # type: ignore[attr-defined]
    return opt


# ------------------------------------------------------------------------------------------------
# The LR each update used == base * schedule(step) == the logged learning_rate
# ------------------------------------------------------------------------------------------------

WSD = lrp.wsd(warmup_steps=2, decay_steps="20%")

CASES: dict[str, dict[str, Any]] = {
    # name: model, schedule, trainer kwargs, expected bind (total, steps per epoch)
    "bert-default": {"model": "bert", "schedule": WSD, "kw": {}, "bind": (12, 4)},
    "gpt2-default": {"model": "gpt2", "schedule": WSD, "kw": {}, "bind": (12, 4)},
    "bert-gas2": {
        "model": "bert",
        "schedule": WSD,
        "kw": {"gradient_accumulation_steps": 2},
        "bind": (6, 2),
    },
    "gpt2-gas2": {
        "model": "gpt2",
        "schedule": WSD,
        "kw": {"gradient_accumulation_steps": 2},
        "bind": (6, 2),
    },
    "bert-epochs": {
        "model": "bert",
        "schedule": lrp.cosine(warmup_steps="1ep", final=0.1),
        "kw": {},
        "bind": (12, 4),
    },
    "gpt2-epochs-gas2": {
        "model": "gpt2",
        "schedule": lrp.linear(warmup_steps="1ep"),
        "kw": {"gradient_accumulation_steps": 2, "num_train_epochs": 4},
        "bind": (8, 2),
    },
    "bert-cosine-type": {
        "model": "bert",
        "schedule": lrp.constant(warmup_steps=3),
        "kw": {"lr_scheduler_type": "cosine", "warmup_steps": 5},
        "bind": (12, 4),
    },
    "gpt2-constant-type": {
        "model": "gpt2",
        "schedule": lrp.one_cycle(),
        "kw": {"lr_scheduler_type": "constant"},
        "bind": (12, 4),
    },
    "bert-max-steps": {"model": "bert", "schedule": WSD, "kw": {"max_steps": 7}, "bind": (7, 4)},
}


@pytest.mark.parametrize("case", list(CASES))
def test_applied_lr_is_base_times_schedule_and_is_logged(tmp_path: Path, case: str) -> None:
    c = CASES[case]
    cb = LRSchedulerCallback(c["schedule"])
    trainer, rec = train(tmp_path, c["model"], cb, **c["kw"])
    total, spe = c["bind"]
    expected = c["schedule"].bind(total_steps=total, steps_per_epoch=spe)
    assert cb.bound_schedule == expected
    assert sorted(rec.lrs) == list(range(total))  # one update per optimizer step, none skipped
    applied = [rec.lrs[k][0] for k in range(total)]
    assert_close(applied, [LR * expected(k) for k in range(total)])
    logged = logged_lrs(trainer)
    assert sorted(logged) == list(range(total))
    assert_close([logged[k] for k in range(total)], applied)


@pytest.mark.parametrize("model", ["bert", "gpt2"])
def test_two_param_groups_keep_their_base_lrs_and_updates_use_them(
    tmp_path: Path, model: str
) -> None:
    """optimizers=(opt, None): the Trainer still builds its linear LambdaLR; the callback owns it."""
    opt = two_group_sgd(model)
    schedule = lrp.cosine(warmup_steps=3, final=0.2)
    trainer, rec = train(
        tmp_path,
        model,
        LRSchedulerCallback(schedule),
        measure=True,
        optimizers=(opt, None),
        gradient_accumulation_steps=2,
        max_grad_norm=0.0,
    )
    expected = schedule.bind(total_steps=6, steps_per_epoch=2)
    for g, base in enumerate((LR, 10 * LR)):
        want = [base * expected(k) for k in range(6)]
        assert_close([rec.lrs[k][g] for k in range(6)], want)
        # what the SGD update really did: -(delta p) / grad, float32 parameters
        for k in range(1, 6):  # update 0 has LR 0 under warmup: nothing to measure
            assert rec.measured[k][g] == pytest.approx(want[k], rel=2e-3)
    logged = logged_lrs(trainer)
    assert_close([logged[k] for k in range(6)], [LR * expected(k) for k in range(6)])  # group 0


# ------------------------------------------------------------------------------------------------
# Plateau
# ------------------------------------------------------------------------------------------------


def frozen_sgd(model: str) -> Any:
    """SGD over a dummy parameter only: the model never changes, so its eval loss stalls exactly."""
    m = MODELS[model]()
    dummy = torch.nn.Parameter(torch.zeros(1))
    dummy.grad = torch.zeros(1)
    opt = torch.optim.SGD([dummy], lr=LR)
    opt.model_ref = m  # type: ignore[attr-defined]
    return opt


@pytest.mark.parametrize("monitor", ["eval_loss", "loss"])
def test_stalling_eval_loss_cuts_lr_at_the_right_evaluation(tmp_path: Path, monitor: str) -> None:
    schedule = lrp.constant()
    plateau = lrp.Plateau(factor=0.5, patience=1)
    cb = LRSchedulerCallback(schedule, plateau=plateau, monitor=monitor)
    trainer, rec = train(
        tmp_path,
        "bert",
        cb,
        optimizers=(frozen_sgd("bert"), None),
        eval_dataset=data("bert", 8, 2),
        eval_strategy="steps",
        eval_steps=2,
        eval_on_start=True,
    )
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in evals] == [0, 2, 4, 6, 8, 10, 12]  # eval_on_start is not fed
    assert len({e["eval_loss"] for e in evals}) == 1  # a true stall
    # fed at steps 2 (best), 4 (bad 1), 6 (bad 2 > patience: x0.5), 8 (bad 1), 10 (x0.5), 12 (bad 1)
    scale = {k: 1.0 if k < 6 else 0.5 if k < 10 else 0.25 for k in range(12)}
    assert_close([rec.lrs[k][0] for k in range(12)], [LR * scale[k] for k in range(12)])
    logged = logged_lrs(trainer)
    assert_close([logged[k] for k in range(12)], [LR * scale[k] for k in range(12)])
    assert plateau.scale == 0.25 and plateau.num_reductions == 2 and plateau.num_bad == 1
    trainer.evaluate()  # outside train(): not fed
    assert plateau.num_bad == 1


def test_plateau_follows_the_real_eval_loss(tmp_path: Path) -> None:
    """AdamW on GPT-2: the LR follows a Plateau fed (here, independently) the logged eval losses."""
    schedule = lrp.cosine(warmup_steps=2, final=0.1)
    cfg = {"mode": "min", "factor": 0.5, "patience": 0}  # random tokens: the eval loss soon rises
    cb = LRSchedulerCallback(schedule, plateau=lrp.Plateau(**cfg), monitor="eval_loss")
    trainer, rec = train(
        tmp_path, "gpt2", cb, eval_dataset=data("gpt2", 8, 2), eval_strategy="steps", eval_steps=3
    )
    losses = {e["step"]: e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e}
    assert sorted(losses) == [3, 6, 9, 12]
    replay, scale, want = lrp.Plateau(**cfg), 1.0, []
    bound = schedule.bind(total_steps=12)
    for k in range(12):
        if k in losses:
            scale = replay.update(losses[k])
        want.append(LR * bound(k) * scale)
    assert replay.num_reductions >= 1
    assert_close([rec.lrs[k][0] for k in range(12)], want)
    logged = logged_lrs(trainer)
    assert_close([logged[k] for k in range(12)], want)


def test_missing_metric_lists_available_ones(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau(), monitor="accuracy")
    with pytest.raises(
        RuntimeError, match=r"monitor='accuracy'.*available metrics: \['epoch', 'eval_loss'"
    ):
        train(
            tmp_path,
            "bert",
            cb,
            eval_dataset=data("bert", 8, 2),
            eval_strategy="steps",
            eval_steps=2,
        )


def test_several_eval_datasets_monitor_one_by_full_key(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(
        lrp.constant(), plateau=lrp.Plateau(factor=0.5, patience=0), monitor="eval_b_loss"
    )
    evals = {"a": data("bert", 8, 2), "b": data("bert", 8, 3)}
    train(
        tmp_path,
        "bert",
        cb,
        optimizers=(frozen_sgd("bert"), None),
        eval_dataset=evals,
        eval_strategy="steps",
        eval_steps=4,
    )
    # fed once per evaluation (steps 4, 8, 12), from dataset b only: best, x0.5, x0.5
    assert cb.plateau is not None and cb.plateau.num_reductions == 2
    with pytest.raises(
        RuntimeError, match=r"name the one to monitor by its full key, e.g. 'eval_a_loss'"
    ):
        train(
            tmp_path / "2",
            "bert",
            LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau(), monitor="loss"),
            eval_dataset=evals,
            eval_strategy="steps",
            eval_steps=4,
        )


# ------------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("restore_flag", [False, True], ids=["restore_false", "restore_true"])
def test_resume_mid_run_equals_uninterrupted(tmp_path: Path, restore_flag: bool) -> None:
    def callback() -> LRSchedulerCallback:
        return LRSchedulerCallback(
            lrp.wsd(warmup_steps=2, decay_steps="30%"),
            plateau=lrp.Plateau(mode="max", factor=0.5, patience=1),
            monitor="loss",
        )

    kw: dict[str, Any] = {
        "eval_dataset": data("bert", 8, 2),
        "eval_strategy": "steps",
        "eval_steps": 2,
        "save_strategy": "steps",
        "save_steps": 5,
        "restore_callback_states_from_checkpoint": restore_flag,
    }
    full_cb = callback()
    full, full_rec = train(tmp_path / "full", "bert", full_cb, **kw)
    ckpt = tmp_path / "full" / "checkpoint-5"
    # the checkpoint holds a plateau in the middle of a decision (a bad evaluation at step 4)
    sched_state = torch.load(ckpt / "scheduler.pt", weights_only=True)
    record = sched_state["lr_lambdas"][0]["lrplugins"]
    json.dumps(record)  # JSON-compatible
    assert record["plateau"]["state"]["num_bad"] + record["plateau"]["state"]["num_reductions"] >= 1

    shutil.copytree(ckpt, tmp_path / "resumed" / "checkpoint-5")
    res_cb = callback()
    resumed, res_rec = train(
        tmp_path / "resumed",
        "bert",
        res_cb,
        resume=str(tmp_path / "resumed" / "checkpoint-5"),
        **kw,
    )
    assert sorted(res_rec.lrs) == list(range(5, 12))
    assert [res_rec.lrs[k] for k in range(5, 12)] == [full_rec.lrs[k] for k in range(5, 12)]
    full_logged, res_logged = logged_lrs(full), logged_lrs(resumed)
    assert [res_logged[k] for k in range(5, 12)] == [full_logged[k] for k in range(5, 12)]
    assert res_cb.plateau is not None and full_cb.plateau is not None
    assert res_cb.plateau.state_dict() == full_cb.plateau.state_dict()
    assert full_cb.plateau.num_reductions >= 1
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------
# The scheduler path: Trainer(optimizers=(opt, lrplugins.torch.LRScheduler(opt, schedule)))
# ------------------------------------------------------------------------------------------------


def test_torch_scheduler_path_applied_logged_and_resumed(tmp_path: Path) -> None:
    schedule = lrp.cosine(total_steps=12, warmup_steps=3, final=0.1)

    def optimizers() -> tuple[Any, Any]:
        opt = two_group_sgd("gpt2")
        return opt, LRScheduler(opt, schedule)

    kw: dict[str, Any] = {"save_strategy": "steps", "save_steps": 5}
    full, rec = train(tmp_path / "full", "gpt2", optimizers=optimizers(), **kw)
    for g, base in enumerate((LR, 10 * LR)):
        assert_close([rec.lrs[k][g] for k in range(12)], [base * schedule(k) for k in range(12)])
    logged = logged_lrs(full)
    if OLD_LOGGING:  # the Trainer logs every scheduler's next LR there (see docs/versions.md)
        assert_close([logged[k] for k in range(11)], [LR * schedule(k + 1) for k in range(11)])
    else:
        assert_close([logged[k] for k in range(12)], [LR * schedule(k) for k in range(12)])

    _resumed, res_rec = train(
        tmp_path / "res",
        "gpt2",
        optimizers=optimizers(),
        resume=str(tmp_path / "full" / "checkpoint-5"),
        **kw,
    )
    assert [res_rec.lrs[k] for k in range(5, 12)] == [rec.lrs[k] for k in range(5, 12)]


def test_callback_refuses_a_second_lr_owner(tmp_path: Path) -> None:
    opt = two_group_sgd("bert")
    with pytest.raises(ValueError, match=r"lrplugins.torch.LRScheduler as its scheduler"):
        train(
            tmp_path,
            "bert",
            LRSchedulerCallback(lrp.constant()),
            optimizers=(opt, LRScheduler(opt, lrp.constant())),
        )
    with pytest.raises(
        ValueError, match=r"scheduler is a ReduceLROnPlateau.*plateau=lrplugins.Plateau"
    ):
        train(
            tmp_path,
            "bert",
            LRSchedulerCallback(lrp.constant()),
            lr_scheduler_type="reduce_lr_on_plateau",
            eval_dataset=data("bert", 8, 2),
            eval_strategy="steps",
            metric_for_best_model="loss",
        )


# ------------------------------------------------------------------------------------------------
# Errors, docs, import
# ------------------------------------------------------------------------------------------------


def test_unbound_epoch_schedule_without_length_says_what_to_set(tmp_path: Path) -> None:
    class Stream(torch.utils.data.IterableDataset):  # no __len__
        def __iter__(self) -> Any:
            return iter(data("bert"))

    cb = LRSchedulerCallback(lrp.linear(warmup_steps="1ep"))
    trainer = Trainer(
        model=bert(), args=targs(tmp_path, max_steps=4), train_dataset=Stream(), callbacks=[cb]
    )
    with pytest.raises(
        lrp.UnboundScheduleError, match=r"'Nep' duration needs the number of batches"
    ):
        trainer.train()


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"schedule must be .*got 0.1"):
        LRSchedulerCallback(0.1)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"plateau must be an lrplugins.Plateau, its config dict or None, got 3"
    ):
        LRSchedulerCallback(WSD, plateau=3, monitor="loss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"plateau needs monitor.*monitor=None"):
        LRSchedulerCallback(WSD, plateau=lrp.Plateau())
    with pytest.raises(ValueError, match=r"monitor='eval_loss' is only read with a plateau"):
        LRSchedulerCallback(WSD, monitor="eval_loss")
    with pytest.raises(
        TypeError, match=r"monitor must be a metric name \(a non-empty str\) or None, got 1"
    ):
        LRSchedulerCallback(WSD, plateau=lrp.Plateau(), monitor=1)  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    import doctest

    import lrplugins.huggingface as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------------------------------
# Two processes (torchrun, gloo): the same LR on both ranks
# ------------------------------------------------------------------------------------------------


def test_two_processes_apply_the_same_lr(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(HERE / "hf_ddp_script.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["lrs"] == ranks[1]["lrs"]  # the same LR at every update on both ranks
    assert ranks[0]["scales"] == ranks[1]["scales"]
    assert ranks[0]["eval_loss"] == ranks[1]["eval_loss"]  # the Trainer gathered the eval losses
    for r in ranks:  # a list-valued metric: the engine's refusal on each rank, never a hang
        assert "monitor='eval_per_class'" in r["not_a_number"], r["not_a_number"]
        assert "single number, got [0.5, 0.25]" in r["not_a_number"]
    # and they follow base * schedule(step) * the scale of a Plateau fed those losses here
    r = ranks[0]
    schedule = lrp.from_config(r["bound"])
    replay, scale, want = lrp.Plateau(**r["plateau_args"]), 1.0, []
    for k in range(len(r["lrs"])):
        if str(k) in r["eval_loss"]:
            scale = replay.update(r["eval_loss"][str(k)])
        want.append(LR * schedule(k) * scale)
    assert replay.num_reductions >= 1
    assert_close(r["lrs"], want)
