"""Layer-wise LR decay under every adapter: the LR each group really trained with.

A tiny timm-style ViT (timm's parameter names and ``group_matcher``, built from a plain
``nn.Module``, nothing downloaded) trains 8 updates under the torch adapter in a plain loop, the
Lightning callback and the Hugging Face callback, with AdamW on

* ``layer_decay_groups(...)`` groups (the layer's factor baked into ``lr``, recorded as
  ``layer_scale``), and
* timm-style groups ``{"params": ..., "lr": LR, "lr_scale": f}`` (every group at the same ``lr``,
  the factor in timm's ``lr_scale`` key, as ``timm.optim.param_groups_layer_decay`` builds them).

The LR of every group at every update is read from the optimizer at its ``step()``: a step
pre-hook registered after the adapter's own (torch, Hugging Face); in Lightning, where the
training closure (backward, ``on_before_optimizer_step``) runs inside ``step()``, after that
closure (``RecordingAdamW``). It must equal ``LR * scale * s(u)`` with ``s`` the schedule bound
by the test, also with a per-group schedule on top (a glob key: ``{"layer_3_*": constant(), "*":
cosine}``), with a block unfrozen at update 3 whose ``layer_decay_groups`` group joins with
``add_param_group`` (its own scale, its schedule on its own clock over the 5 updates left), and
with a runtime cooldown asked for when the next update is 5.

Keras: a ``keras.optimizers.MultiOptimizer`` under ``lrplugins.keras.LRSchedulerCallback`` is
refused with a message that names the way that works (a subprocess, as Keras fixes its backend at
import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
nn = torch.nn

import lrplugins as lrp
from lrplugins.torch import LRScheduler, layer_decay_groups

ROOT = Path(__file__).resolve().parent.parent
LR, DECAY, WD = 1e-3, 0.5, 0.05
N, BATCH, EPOCHS = 16, 4, 2  # 4 updates per epoch, 8 in all
TOTAL, JOIN, COOL_AT, COOL_STEPS = 8, 3, 5, 3
SCHEDULE = lrp.cosine(warmup_steps=2, final=0.1)
REL = 1e-12

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------
# The model, its groups, and what each group should train with
# ------------------------------------------------------------------------------------------------


class TinyViT(nn.Module):
    """timm's VisionTransformer names, ``group_matcher`` and ``no_weight_decay``: depth 2, so the
    layer ids are stem 0, blocks 1 and 2 (the final norm with the last block), head 3."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, dim) * 0.02)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, 2, 2)
        self.blocks = nn.Sequential(
            *(
                nn.ModuleDict(
                    {
                        "norm1": nn.LayerNorm(dim),
                        "attn": nn.Linear(dim, dim),
                        "mlp": nn.Linear(dim, dim),
                    }
                )
                for _ in range(2)
            )
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:  # timm vision_transformer.py
        return {
            "stem": r"^cls_token|pos_embed|patch_embed",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}

    def forward(self, x: Any, labels: Any = None) -> Any:
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, 4, dim)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        h = torch.cat([cls, tokens], 1) + self.pos_embed
        for block in self.blocks:
            h = h + block["mlp"](torch.tanh(block["attn"](block["norm1"](h))))
        out = self.head(self.norm(h)[:, 0]).squeeze(-1)
        if labels is None:
            return out
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def dataset() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, 3, 4, 4, generator=g), torch.randn(N, generator=g)


def groups_of(model: TinyViT, kind: str) -> list[dict[str, Any]]:
    """The groups for AdamW: ``layer_decay_groups``'s, or the same parameters timm-style."""
    built = layer_decay_groups(model, LR, DECAY, weight_decay=WD, no_decay="timm")
    if kind == "layer_decay":
        return built
    return [
        {
            "params": g["params"],
            "lr": LR,
            "lr_scale": g["layer_scale"],
            "weight_decay": g["weight_decay"],
        }
        for g in built
    ]


def unfrozen_block(model: TinyViT, kind: str) -> list[dict[str, Any]]:
    """Unfreeze ``blocks.0`` and return its groups (layer id 1) as built now: the late joiners."""
    model.blocks[0].requires_grad_(True)
    block = {id(p) for p in model.blocks[0].parameters()}
    return [g for g in groups_of(model, kind) if all(id(p) in block for p in g["params"])]


def scale_of(group: dict[str, Any]) -> float:
    return float(group["layer_scale"] if "layer_scale" in group else group["lr_scale"])


SCENARIOS: dict[str, dict[str, Any]] = {
    # name: group kind, the adapter's schedule argument, what happens during the run
    "layer_decay": {"kind": "layer_decay", "spec": SCHEDULE},
    "lr_scale": {"kind": "timm", "spec": SCHEDULE},
    "glob": {"kind": "layer_decay", "spec": {"layer_3_*": lrp.constant(), "*": SCHEDULE}},
    "late_layer_decay": {"kind": "layer_decay", "spec": SCHEDULE, "join": JOIN},
    "late_lr_scale": {"kind": "timm", "spec": SCHEDULE, "join": JOIN},
    "cooldown_layer_decay": {"kind": "layer_decay", "spec": SCHEDULE, "cooldown": COOL_AT},
    "cooldown_lr_scale": {"kind": "timm", "spec": SCHEDULE, "cooldown": COOL_AT},
}


def expected(name: str, seen: list[list[dict[str, Any]]]) -> list[list[float]]:
    """``LR * scale * s(u)`` for every group the optimizer held at update ``u``, from schedules
    the test binds itself (the core's formulas, checked against the anchors elsewhere)."""
    scenario = SCENARIOS[name]
    whole = SCHEDULE.bind(total_steps=TOTAL)
    if "cooldown" in scenario:
        whole = whole.cooldown(at=COOL_AT, steps=COOL_STEPS, shape="linear")
    late = SCHEDULE.bind(total_steps=TOTAL - JOIN)  # a group that joined at JOIN: the rest
    first = len(seen[0])
    out = []
    for u, groups in enumerate(seen):
        row = []
        for i, g in enumerate(groups):
            if i >= first:  # joined at JOIN
                s = late(u - JOIN)
            elif name == "glob" and str(g.get("name", "")).startswith("layer_3_"):
                s = 1.0
            else:
                s = whole(u)
            row.append(LR * scale_of(g) * s)
        out.append(row)
    return out


def check(name: str, seen: list[list[dict[str, Any]]]) -> None:
    assert len(seen) == TOTAL, f"{len(seen)} updates recorded"
    scenario = SCENARIOS[name]
    first = len(seen[0])
    if "join" in scenario:
        assert [len(gs) for gs in seen] == [first] * JOIN + [first + 2] * (TOTAL - JOIN)
        assert {scale_of(g) for g in seen[-1][first:]} == {DECAY**2}  # layer 1 of 3
    else:
        assert first == 8 and {scale_of(g) for g in seen[0]} == {0.125, 0.25, 0.5, 1.0}
    want = expected(name, seen)
    for u, (groups, row) in enumerate(zip(seen, want)):
        got = [float(g["lr"]) for g in groups]
        assert got == pytest.approx(row, rel=REL, abs=0.0), f"update {u}: {got} != {row}"


def snapshot(optimizer: Any) -> list[dict[str, Any]]:
    """Each group's ``lr``, scale keys and name, as the optimizer holds them now."""
    keys = ("lr", "layer_scale", "lr_scale", "name")
    return [{k: g[k] for k in keys if k in g} for g in optimizer.param_groups]


def start_model(name: str) -> TinyViT:
    model = TinyViT()
    if "join" in SCENARIOS[name]:
        model.blocks[0].requires_grad_(False)  # left out of the groups, counted for the depth
    return model


# ------------------------------------------------------------------------------------------------
# torch: a plain loop
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_torch_loop(name: str) -> None:
    scenario = SCENARIOS[name]
    model = start_model(name)
    opt = torch.optim.AdamW(groups_of(model, scenario["kind"]))
    sched = LRScheduler(opt, scenario["spec"]).bind(total_steps=TOTAL)
    seen: list[list[dict[str, Any]]] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(snapshot(o)))  # after the adapter's
    x, y = dataset()
    for u in range(TOTAL):
        if u == scenario.get("join"):
            for g in unfrozen_block(model, scenario["kind"]):
                opt.add_param_group(g)
        if u == scenario.get("cooldown"):
            sched.cooldown(COOL_STEPS, shape="linear")
        batch = slice(u % 4 * BATCH, u % 4 * BATCH + BATCH)
        opt.zero_grad()
        model(x[batch], y[batch])["loss"].backward()
        opt.step()
        sched.step()
    check(name, seen)


# ------------------------------------------------------------------------------------------------
# Lightning
# ------------------------------------------------------------------------------------------------


def lightning_run(name: str) -> list[list[dict[str, Any]]]:
    pl = require("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    from lrplugins.lightning import LRSchedulerCallback

    scenario = SCENARIOS[name]
    seen: list[list[dict[str, Any]]] = []

    class RecordingAdamW(torch.optim.AdamW):
        """AdamW that records its groups after Lightning's closure, right before the update."""

        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()  # forward, backward, on_before_optimizer_step
            seen.append(snapshot(self))
            super().step()
            return loss

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = start_model(name)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.net(*batch)["loss"]

        def configure_optimizers(self) -> Any:
            return RecordingAdamW(groups_of(self.net, scenario["kind"]))

    class Events(pl.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, i: int) -> None:
            if trainer.global_step == scenario.get("join"):
                for g in unfrozen_block(module.net, scenario["kind"]):
                    trainer.optimizers[0].add_param_group(g)

        def on_train_batch_end(self, trainer: Any, module: Any, out: Any, b: Any, i: int) -> None:
            if trainer.global_step == scenario.get("cooldown"):
                scheduler.cooldown(COOL_STEPS, shape="linear")

    scheduler = LRSchedulerCallback(scenario["spec"])
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        callbacks=[scheduler, Events()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    x, y = dataset()
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=BATCH))
    return seen


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_lightning(name: str) -> None:
    check(name, lightning_run(name))


# ------------------------------------------------------------------------------------------------
# Hugging Face
# ------------------------------------------------------------------------------------------------


def huggingface_run(
    name: str, tmp_path: Path, make_optimizer: Callable[[TinyViT], Any] | None = None
) -> list[list[dict[str, Any]]]:
    require("transformers")
    require("accelerate")
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lrplugins.huggingface import LRSchedulerCallback

    scenario = SCENARIOS[name]
    seen: list[list[dict[str, Any]]] = []

    class Events(TrainerCallback):
        """Records at the raw optimizer's step (a pre-hook registered after the adapter's), adds
        the unfrozen block's groups before update JOIN, asks for the cooldown before COOL_AT."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            raw = getattr(kw["optimizer"], "optimizer", kw["optimizer"])  # accelerate's wrapper
            self.raw = raw
            raw.register_step_pre_hook(lambda o, a, k: seen.append(snapshot(o)))

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == scenario.get("join"):
                for g in unfrozen_block(model, scenario["kind"]):
                    self.raw.add_param_group(g)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == scenario.get("cooldown"):
                scheduler.cooldown(COOL_STEPS, shape="linear")

    model = start_model(name)
    scheduler = LRSchedulerCallback(scenario["spec"])
    args = TrainingArguments(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=BATCH,
        num_train_epochs=EPOCHS,
        learning_rate=LR,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        max_grad_norm=0.0,
        seed=0,
    )
    x, y = dataset()
    data = [{"x": x[i], "labels": y[i]} for i in range(N)]
    callbacks = [scheduler, Events()]  # ours after the adapter: its pre-hook sees the joins
    if make_optimizer is None:
        optimizers = (torch.optim.AdamW(groups_of(model, scenario["kind"])), None)
        trainer = Trainer(
            model=model, args=args, train_dataset=data, callbacks=callbacks, optimizers=optimizers
        )
    else:

        class LLRDTrainer(Trainer):  # the create_optimizer override
            def create_optimizer(self, model: Any = None) -> Any:
                if self.optimizer is None:
                    self.optimizer = make_optimizer(self.model)
                return self.optimizer

        trainer = LLRDTrainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
    trainer.train()
    return seen


# The Hugging Face adapter keeps the Trainer's LambdaLR, whose base_lrs are the groups' initial
# lr: the adapter gives it the engine's bases, so timm-style lr_scale groups keep their factor at
# every update (timm issue 2532's "layer_decay has no effect" under other schedulers).
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_huggingface(name: str, tmp_path: Path) -> None:
    check(name, huggingface_run(name, tmp_path))


@pytest.mark.parametrize("name", ["layer_decay", "lr_scale"])
def test_huggingface_create_optimizer_override(name: str, tmp_path: Path) -> None:
    kind = SCENARIOS[name]["kind"]
    seen = huggingface_run(name, tmp_path, lambda m: torch.optim.AdamW(groups_of(m, kind)))
    check(name, seen)


# ------------------------------------------------------------------------------------------------
# Keras: MultiOptimizer
# ------------------------------------------------------------------------------------------------

KERAS_MULTI = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import lrplugins as lrp
    from lrplugins.keras import LearningRateSchedule, LRSchedulerCallback

    out = {"has_multi": hasattr(keras.optimizers, "MultiOptimizer")}
    if out["has_multi"]:
        def model_with(optimizer):
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((4,)),
                keras.layers.Dense(3, name="body"),
                keras.layers.Dense(1, name="head"),
            ])
            model.compile(optimizer=optimizer, loss="mse")
            return model

        def multi(body_lr, head_lr):
            body = keras.optimizers.SGD(learning_rate=body_lr)
            head = keras.optimizers.SGD(learning_rate=head_lr)
            mapping = keras.optimizers.OptimizerMap(
                default_optimizer=head, optimizer_map={".*body.*": body}
            )
            return keras.optimizers.MultiOptimizer(mapping), body, head

        x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
        opt, _, _ = multi(0.01, 0.1)
        model = model_with(opt)
        try:
            model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                      callbacks=[LRSchedulerCallback(lrp.cosine())])
            out["refused"] = None
        except Exception as exc:  # what the user sees
            out["refused"] = f"{type(exc).__name__}: {exc}"
        # the way the message names: one LearningRateSchedule per sub-optimizer
        s = lrp.linear(total_steps=4)
        opt, body, head = multi(
            LearningRateSchedule(s, base_lr=0.01), LearningRateSchedule(s, base_lr=0.1)
        )
        model = model_with(opt)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        out["after_2_updates"] = [
            float(keras.ops.convert_to_numpy(o.learning_rate)) for o in (body, head)
        ]
    print(json.dumps(out))
    """
)


def test_keras_multi_optimizer_is_refused_naming_the_way_that_works() -> None:
    require("keras")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_MULTI],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["has_multi"]:
        pytest.skip("this Keras has no keras.optimizers.MultiOptimizer (Keras 3.15+)")
    refused = out["refused"]
    assert refused is not None and refused.startswith("TypeError: LRSchedulerCallback:"), refused
    assert "MultiOptimizer" in refused and "LearningRateSchedule" in refused, refused
    # linear over 4 updates: after 2 updates each sub-optimizer is at half its own base LR
    assert out["after_2_updates"] == pytest.approx([0.005, 0.05], rel=1e-6)
