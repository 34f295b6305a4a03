"""Seconds per optimizer step: the Trainer's default scheduler versus ``LRSchedulerCallback``.

    python benchmarks/bench_huggingface.py [--steps 300] [--repeats 5]

Prints a markdown table. Each row trains the same tiny BERT-style classifier (built from a config,
synthetic data, CPU unless a GPU is present) with ``Trainer(max_steps=steps, logging_steps=1)``:

- ``default``: ``lr_scheduler_type="linear"`` (the Trainer's own ``LambdaLR``), no callback;
- ``callback``: the same, plus ``LRSchedulerCallback(lrp.linear())`` (it takes over that
  ``LambdaLR``);
- ``default + eval`` and ``callback + plateau``: the same two with an evaluation every 50 steps,
  the callback as ``LRSchedulerCallback(lrp.wsd(decay_steps="20%"), Plateau, "eval_loss")``
  (the evaluation time itself is subtracted: it is the Trainer's, the same either way).

Runs alternate between the variants, and the table gives the median over repeats of
``train_runtime / steps``. A second table times ``lr_scheduler.step()`` alone (the only work the
callback adds per step), with transformers' linear ``lr_lambda`` versus the lrplugins multiplier.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)
from transformers.optimization import get_linear_schedule_with_warmup

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback, _Multiplier

transformers.logging.set_verbosity_error()


def model() -> Any:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=2,
    )
    return BertForSequenceClassification(cfg)


def dataset(n: int, seed: int) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 100, (n, 8), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    return [{"input_ids": ids[i], "labels": labels[i]} for i in range(n)]


def run(variant: str, steps: int, out: str) -> float:
    """Seconds per step of one training run (evaluation time excluded)."""
    callbacks: list[Any] = []
    extra: dict[str, Any] = {}
    if variant == "callback":
        callbacks = [LRSchedulerCallback(lrp.linear())]
    elif variant == "callback + plateau":
        callbacks = [
            LRSchedulerCallback(
                lrp.wsd(decay_steps="20%"), plateau=lrp.Plateau(patience=3), monitor="eval_loss"
            )
        ]
    if variant in ("default + eval", "callback + plateau"):
        extra = {"eval_strategy": "steps", "eval_steps": 50}
    args = TrainingArguments(
        output_dir=out,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        max_steps=steps,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        **extra,
    )
    trainer = Trainer(
        model=model(),
        args=args,
        train_dataset=dataset(64, 1),
        eval_dataset=dataset(16, 2),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # no per-step printing in the timings
    result = trainer.train()
    eval_time = sum(e.get("eval_runtime", 0.0) for e in trainer.state.log_history)
    return (result.metrics["train_runtime"] - eval_time) / steps


def scheduler_step_cost(n: int = 100_000) -> dict[str, float]:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    opt._opt_called = True  # type: ignore[attr-defined] # as if stepped: no order warning
    default = get_linear_schedule_with_warmup(opt, 10, 10 * n)
    ours = get_linear_schedule_with_warmup(opt, 10, 10 * n)
    ours.lr_lambdas = [_Multiplier(lrp.linear(warmup_steps=10).bind(total_steps=10 * n), None)]
    with_plateau = get_linear_schedule_with_warmup(opt, 10, 10 * n)
    with_plateau.lr_lambdas = [
        _Multiplier(lrp.wsd(decay_steps="20%").bind(total_steps=10 * n), lrp.Plateau())
    ]
    out = {}
    for name, sched in (
        ("transformers linear lr_lambda", default),
        ("lrplugins linear", ours),
        ("lrplugins wsd + plateau", with_plateau),
    ):
        out[name] = min(timeit.repeat(sched.step, number=n // 10, repeat=5)) / (n // 10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    ns = parser.parse_args()
    variants = ["default", "callback", "default + eval", "callback + plateau"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run("default", 20, str(Path(tmp) / "warmup"))  # first-run costs (imports, allocator)
        for r in range(ns.repeats):
            for v in variants:
                times[v].append(run(v, ns.steps, str(Path(tmp) / f"{r}-{v}")))
    base = statistics.median(times["default"])
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"transformers {transformers.__version__}, torch {torch.__version__}, {device}, "
        f"tiny BERT, {ns.steps} steps x {ns.repeats} repeats, logging_steps=1\n"
    )
    print("| scheduler | s / step (median) | min | max | vs default |")
    print("| --- | --- | --- | --- | --- |")
    for v in variants:
        ts = times[v]
        med = statistics.median(ts)
        print(f"| {v} | {med:.5f} | {min(ts):.5f} | {max(ts):.5f} | {med / base:.3f}x |")
    print()
    print("| `lr_scheduler.step()` alone | µs / call |")
    print("| --- | --- |")
    for name, sec in scheduler_step_cost().items():
        print(f"| {name} | {sec * 1e6:.2f} |")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
