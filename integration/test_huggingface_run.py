"""The Hugging Face adapter under real use: monitors that can't be fed, missing metrics,
runtime cooldowns and resumes with a new run length.

Same method as ``test_huggingface.py``: a tiny BERT trained by a real ``Trainer``; the LR of each
update is recorded at the raw optimizer's ``step`` and compared with numbers computed here, and
with the ``learning_rate`` the Trainer logged.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_huggingface import LR, assert_close, data, logged_lrs, train

from conftest import require

torch = require("torch")
require("transformers")
require("accelerate")

from transformers import TrainerCallback

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

pytestmark = pytest.mark.slow

EVAL = {"eval_dataset": data("bert", 8, 2), "eval_strategy": "steps", "eval_steps": 2}


def test_a_monitor_in_a_run_that_never_evaluates_is_never_silent(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "eval_loss")
    with pytest.raises(ValueError, match=r"monitor='eval_loss'.*eval_strategy='no'"):
        train(tmp_path, "bert", cb)
    lenient = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "eval_loss", strict=False)
    with pytest.warns(UserWarning, match=r"monitor='eval_loss'.*eval_strategy='no'"):
        _, rec = train(tmp_path / "2", "bert", lenient)
    assert len(rec.lrs) == 12


def test_strict_false_warns_once_and_skips_a_missing_metric(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=0), "accuracy", strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, rec = train(tmp_path, "bert", cb, **EVAL)
    missing = [w for w in caught if "no such metric" in str(w.message)]
    assert len(missing) == 1 and "'eval_loss'" in str(missing[0].message)
    assert [rec.lrs[k][0] for k in range(12)] == [LR] * 12


class CoolAt(TrainerCallback):
    """Calls ``cb.cooldown(...)`` from another callback after update ``at`` (mid-epoch)."""

    def __init__(self, cb: LRSchedulerCallback, at: int, **kwargs: Any) -> None:
        self.cb, self.at, self.kwargs = cb, at, kwargs

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step == self.at:
            self.cb.cooldown(**self.kwargs)


def test_cooldown_applies_at_the_next_update_is_logged_and_resumes(tmp_path: Path) -> None:
    def run(path: Path, resume: str | None = None) -> Any:
        cb = LRSchedulerCallback(lrp.constant(warmup_steps=2))
        return train(
            path,
            "bert",
            cb,
            resume=resume,
            extra_callbacks=(CoolAt(cb, 5, steps=4, shape="linear", final=0.25),),
            save_strategy="steps",
            save_steps=7,
        )

    full, rec = run(tmp_path / "full")
    want = [0.0, 0.5, 1, 1, 1, 1, 0.8125, 0.625, 0.4375, 0.25, 0.25, 0.25]
    assert_close([rec.lrs[k][0] for k in range(12)], [LR * m for m in want])
    logged = logged_lrs(full)
    assert_close([logged[k] for k in range(12)], [rec.lrs[k][0] for k in range(12)])

    shutil.copytree(tmp_path / "full/checkpoint-7", tmp_path / "resumed/checkpoint-7")
    _, res_rec = run(tmp_path / "resumed", str(tmp_path / "resumed/checkpoint-7"))
    assert [res_rec.lrs[k] for k in range(7, 12)] == [rec.lrs[k] for k in range(7, 12)]


def test_resume_with_more_steps_stretches_the_rest(tmp_path: Path) -> None:
    schedule = lrp.cosine(warmup_steps=2, final=0.1)
    _, rec = train(
        tmp_path / "a", "bert", LRSchedulerCallback(schedule), save_strategy="steps", save_steps=6
    )
    shutil.copytree(tmp_path / "a/checkpoint-6", tmp_path / "b/checkpoint-6")
    with pytest.warns(UserWarning, match=r"from 12 to 20 updates"):
        longer, rec2 = train(
            tmp_path / "b",
            "bert",
            LRSchedulerCallback(schedule),
            resume=str(tmp_path / "b/checkpoint-6"),
            max_steps=20,
        )
    stretched = schedule.bind(total_steps=12).stretch(at=6, total_steps=20)
    assert_close([rec2.lrs[k][0] for k in range(6, 20)], [LR * stretched(k) for k in range(6, 20)])
    assert rec2.lrs[6] == rec.lrs[6]  # continuous at the resume step
    logged = logged_lrs(longer)
    assert_close([logged[k] for k in range(6, 20)], [rec2.lrs[k][0] for k in range(6, 20)])


def named_groups_sgd(**kw: Any) -> Any:
    from test_huggingface import bert

    m = bert()
    head = [p for n, p in m.named_parameters() if n.startswith(("classifier", "pooler"))]
    ids = {id(p) for p in head}
    body = [p for p in m.parameters() if id(p) not in ids]
    opt = torch.optim.SGD(
        [
            {"params": body, "lr": LR, "name": "body"},
            {"params": head, "lr": 10 * LR, "name": "head"},
        ],
        lr=LR,
        **kw,
    )
    opt.model_ref = m  # type: ignore[attr-defined]
    return opt


def test_two_named_groups_with_their_own_schedules_are_applied_and_logged(tmp_path: Path) -> None:
    schedules = {"body": lrp.linear(warmup_steps=4), "head": lrp.cosine(final=0.1)}
    trainer, rec = train(
        tmp_path, "bert", LRSchedulerCallback(schedules), optimizers=(named_groups_sgd(), None)
    )
    body, head = (s.bind(total_steps=12, steps_per_epoch=4) for s in schedules.values())
    assert_close([rec.lrs[k][0] for k in range(12)], [LR * body(k) for k in range(12)])
    assert_close([rec.lrs[k][1] for k in range(12)], [10 * LR * head(k) for k in range(12)])
    logs = {e["step"] - 1: e for e in trainer.state.log_history if "learning_rate" in e}
    assert_close(
        [logs[k]["learning_rate/body"] for k in range(12)], [rec.lrs[k][0] for k in range(12)]
    )
    assert_close(
        [logs[k]["learning_rate/head"] for k in range(12)], [rec.lrs[k][1] for k in range(12)]
    )


def test_momentum_and_weight_decay_are_applied_and_logged_next_to_the_lr(tmp_path: Path) -> None:
    m, wd = lrp.linear(final=0.5), lrp.constant(warmup_steps=4)
    seen: dict[int, tuple[float, float]] = {}

    class Watch(TrainerCallback):
        def on_optimizer_step(
            self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any
        ) -> None:
            g = optimizer.param_groups[0]  # written before the update, still there after it
            seen[state.global_step] = (float(g["betas"][0]), float(g["weight_decay"]))

    trainer, _ = train(
        tmp_path,
        "bert",
        LRSchedulerCallback(lrp.constant(), momentum=m, weight_decay=wd),
        extra_callbacks=(Watch(),),
        weight_decay=0.01,
    )
    bm, bwd = m.bind(total_steps=12), wd.bind(total_steps=12)
    assert_close([seen[k][0] for k in range(12)], [0.9 * bm(k) for k in range(12)])
    assert_close([seen[k][1] for k in range(12)], [0.01 * bwd(k) for k in range(12)])
    logs = {e["step"] - 1: e for e in trainer.state.log_history if "learning_rate" in e}
    assert [logs[k]["momentum"] for k in range(12)] == [seen[k][0] for k in range(12)]
    # the Trainer's two groups (decay, no decay) differ: one entry per group
    assert [logs[k]["weight_decay/pg0"] for k in range(12)] == [seen[k][1] for k in range(12)]
    assert {logs[k]["weight_decay/pg1"] for k in range(12)} == {0.0}


def test_unrelated_evaluations_are_skipped_and_similar_dataset_names_do_not_match(
    tmp_path: Path,
) -> None:
    class ExtraEval(TrainerCallback):
        """Runs an extra evaluation on the training data from a callback, as users do."""

        trainer: Any = None

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.trainer.evaluate(data("bert", 8, 5), metric_key_prefix="train")

    extra = ExtraEval()
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=0), "eval_val_loss")
    evals = {"val": data("bert", 8, 2), "val_hard": data("bert", 8, 3)}
    from test_huggingface import MODELS, targs
    from transformers import Trainer

    trainer = Trainer(
        model=MODELS["bert"](),
        args=targs(tmp_path, eval_strategy="steps", eval_steps=4),
        train_dataset=data("bert"),
        eval_dataset=evals,
        callbacks=[extra, cb],
    )
    extra.trainer = trainer
    trainer.train()
    # fed once per evaluation of "val" only (steps 4, 8, 12); the others were skipped
    fed = [e["eval_val_loss"] for e in trainer.state.log_history if "eval_val_loss" in e]
    assert len(fed) == 3 and any("train_loss" in e for e in trainer.state.log_history)
    plateau = lrp.Plateau(factor=0.5, patience=0)
    assert [plateau.update(v) for v in fed][-1] == cb.plateau.scale


def test_the_trainers_own_scheduler_settings_are_reported_once(tmp_path: Path) -> None:
    with pytest.warns(
        UserWarning, match=r"lr_scheduler_type='cosine', warmup_steps=3 are not used"
    ):
        train(
            tmp_path,
            "bert",
            LRSchedulerCallback(lrp.constant()),
            lr_scheduler_type="cosine",
            warmup_steps=3,
        )


def test_an_interrupted_train_leaves_the_callback_inert(tmp_path: Path) -> None:
    from test_huggingface import MODELS, targs
    from transformers import Trainer

    items = data("bert")

    class Breaks(torch.utils.data.Dataset):
        """Raises while loading the 15th sample: an exception in the middle of a step."""

        def __init__(self) -> None:
            self.seen = 0

        def __len__(self) -> int:
            return len(items)

        def __getitem__(self, i: int) -> Any:
            self.seen += 1
            if self.seen == 15:
                raise RuntimeError("broken sample")
            return items[i]

    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=0), "eval_loss")
    trainer = Trainer(
        model=MODELS["bert"](),
        args=targs(tmp_path, eval_strategy="steps", eval_steps=1),
        train_dataset=Breaks(),
        eval_dataset=data("bert", 8, 2),
        callbacks=[cb],
    )
    with pytest.raises(RuntimeError, match="broken sample"):
        trainer.train()
    fed = cb.plateau.state_dict()
    lr = trainer.optimizer.param_groups[0]["lr"]
    trainer.evaluate()
    assert cb.plateau.state_dict() == fed
    assert trainer.optimizer.param_groups[0]["lr"] == lr
