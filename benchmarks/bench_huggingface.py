"""Seconds per optimizer step: the Trainer's default scheduler versus ``LRSchedulerCallback``.

    python benchmarks/bench_huggingface.py [--steps 300] [--repeats 5] [--threads 1]

Prints a markdown table. Each row trains the same tiny BERT-style classifier (built from a config,
synthetic data, CPU unless a GPU is present) with ``Trainer(max_steps=steps, logging_steps=1)``:

- ``default``: ``lr_scheduler_type="linear"`` (the Trainer's own ``LambdaLR``), no callback;
- ``callback``: the same, plus ``LRSchedulerCallback(lrp.linear())`` (it takes over that
  ``LambdaLR``);
- ``default + eval`` and ``callback + plateau``: the same two with an evaluation every 50 steps,
  the callback as ``LRSchedulerCallback(lrp.wsd(decay_steps="20%"), Plateau, "eval_loss")``
  (the evaluation time itself is subtracted: it is the Trainer's, the same either way).

Runs alternate between the variants, so each repeat gives a paired ratio (callback / default,
callback + plateau / default + eval); the table gives ``train_runtime / steps`` as median (min–max)
over repeats. A second table times the trained Trainers' own ``trainer.lr_scheduler.step()`` alone
(what the Trainer calls once per update: the scheduler accelerate prepared, with transformers'
``lr_lambda`` or with the one the callback put in), the variants again taking turns.

One torch thread (``--threads``): the model is tiny, and on a shared machine extra threads measure
the other load more than the step.

Target (issue 6): the callback no slower than the Trainer's default scheduler (paired ratio <= 1);
the verdict is printed from the paired ratios (``benchmarks/spread.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import torch
import transformers
from spread import ratios, summary, verdict_line
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

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


VARIANTS = ["default", "callback", "default + eval", "callback + plateau"]
PAIRS = [("callback", "default"), ("callback + plateau", "default + eval")]


def run(variant: str, steps: int, out: str) -> tuple[float, Any]:
    """Seconds per step of one training run (evaluation time excluded), and its scheduler."""
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
    return (result.metrics["train_runtime"] - eval_time) / steps, trainer.lr_scheduler


def scheduler_step_cost(schedulers: dict[str, Any], repeats: int, n: int = 10_000) -> dict:
    """Microseconds per ``step()`` of each trained Trainer's scheduler, ``repeats`` turns of ``n``."""
    out: dict[str, list[float]] = {v: [] for v in schedulers}
    for _ in range(repeats):
        for v, sched in schedulers.items():
            out[v].append(timeit.timeit(sched.step, number=n) / n * 1e6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    schedulers: dict[str, Any] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run("default", 20, str(Path(tmp) / "warmup"))  # first-run costs (imports, allocator)
        for r in range(ns.repeats):
            for v in VARIANTS:
                seconds, schedulers[v] = run(v, ns.steps, str(Path(tmp) / f"{r}-{v}"))
                times[v].append(seconds)
    step_us = scheduler_step_cost(schedulers, ns.repeats)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"transformers {transformers.__version__}, torch {torch.__version__}, {device}, "
        f"tiny BERT, {ns.steps} steps x {ns.repeats} repeats, logging_steps=1; "
        "median (min–max) over repeats\n"
    )
    against = {ours: ref for ours, ref in PAIRS}
    print("| variant | ms / step | vs its default (paired) |")
    print("| --- | ---: | ---: |")
    for v in VARIANTS:
        ref = against.get(v, v)
        print(
            f"| {v} | {summary(times[v], 1e3, 3)} | {summary(ratios(times[v], times[ref]), digits=3)}x |"
        )
    print()
    print("| `trainer.lr_scheduler.step()` alone | µs / call | vs default (paired) |")
    print("| --- | ---: | ---: |")
    for v in ("default", "callback", "callback + plateau"):
        vs = summary(ratios(step_us[v], step_us["default"]))
        print(f"| {v} | {summary(step_us[v])} | {vs}x |")
    print("\nTarget: the callback no slower than the Trainer's default scheduler (paired ratios)")
    ok = True
    for ours, ref in PAIRS:
        line, met = verdict_line(
            f"{ours} / {ref}, s per step", ratios(times[ours], times[ref]), 1.0
        )
        print(line)
        ok &= met
    print(f"\n(total {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
