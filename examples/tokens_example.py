"""Plan a run in tokens: warmup-stable-decay over 64K tokens, with and without a batch-size ramp.

A tiny causal language model (an embedding and a linear head over a 64-token vocabulary, synthetic
data) is trained twice in a plain torch loop: once with a constant batch, once with the batch
ramped up from 2 to 16 sequences of 64 tokens over the first 16K tokens (as Megatron's
``--rampup-batch-size`` or GPT-3 do). The schedule is written in tokens, and the scheduler is told
how many tokens each update consumed (``scheduler.step(tokens=n)``): the LR, as a function of the
tokens consumed, is the same plan in both runs, although the runs take different numbers of
updates. A schedule written in updates would end its decay at a different point of the data.

    python examples/tokens_example.py [--plot tokens.png]
"""

from __future__ import annotations

import argparse

import torch

import lrplugins as lrp
from lrplugins.torch import LRScheduler

SEQ, VOCAB, TOTAL = 64, 64, 64_000
SCHEDULE = lrp.wsd(total_steps="64Ktok", warmup_steps="4Ktok", decay_steps="20%")


def batches(ramp: bool):
    """Sequences per update: a ramp 2 -> 16 over the first 16K tokens, or 16 throughout."""
    seen = 0
    while seen < TOTAL:
        size = min(16, 2 + 2 * (seen // 2048)) if ramp and seen < 16_000 else 16
        size = min(size, (TOTAL - seen) // SEQ) or 1
        seen += size * SEQ
        yield size


def train(ramp: bool) -> list[tuple[int, float]]:
    """(tokens consumed before the update, the LR the optimizer used) for every update."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 32), torch.nn.Linear(32, VOCAB))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sched = LRScheduler(opt, SCHEDULE)
    trace, tokens = [], 0
    for size in batches(ramp):
        x = torch.randint(0, VOCAB, (size, SEQ + 1))
        loss = torch.nn.functional.cross_entropy(
            model(x[:, :-1]).reshape(-1, VOCAB), x[:, 1:].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        trace.append((tokens, opt.param_groups[0]["lr"]))
        opt.step()
        sched.step(tokens=size * SEQ)  # all ranks together, in a distributed run
        tokens += size * SEQ
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="write the LR against tokens to this image")
    args = parser.parse_args()
    steady, ramped = train(ramp=False), train(ramp=True)
    for trace in (steady, ramped):  # each update used base * s(tokens before it)
        assert all(abs(lr - 3e-3 * SCHEDULE(t)) <= 1e-15 for t, lr in trace)
    print(f"constant batch: {len(steady)} updates; ramped batch: {len(ramped)} updates")
    print("tokens before the update -> the lr it used, in each run (the same plan in tokens)")
    for mark in range(0, TOTAL, 4096):
        lrs = [next(lr for t, lr in trace if t >= mark) for trace in (steady, ramped)]
        at = [next(t for t, _ in trace if t >= mark) for trace in (steady, ramped)]
        print(f"  {at[0]:>6} tokens: lr {lrs[0]:.6f}   |   {at[1]:>6} tokens: lr {lrs[1]:.6f}")
    print("the decay starts at 51,200 tokens and ends at 64,000 in both runs")
    if args.plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.2))
        for trace, label in ((steady, "constant batch"), (ramped, "batch ramp 2 -> 16")):
            ax.step(*zip(*trace), where="post", label=f"{label} ({len(trace)} updates)")
        ax.set(xlabel="tokens consumed (all ranks)", ylabel="learning rate")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
