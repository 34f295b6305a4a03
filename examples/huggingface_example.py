"""transformers Trainer: a warmup-stable-decay schedule plus a plateau monitor, driven by one callback.

Trains a tiny GPT-2-style language model (built from a config, nothing downloaded) on random tokens
on the CPU in a few seconds, and prints the learning rate of every update as the Trainer logged it.
Random tokens cannot be learned, so ``eval_loss`` soon stops improving and the plateau monitor
halves the LR on top of the schedule. The head gets 10x the backbone's LR (two parameter groups);
both follow the same shape.

    python examples/huggingface_example.py
"""

from __future__ import annotations

import tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PrinterCallback, Trainer, TrainingArguments

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

torch.manual_seed(0)
config = GPT2Config(
    n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=16, bos_token_id=0, eos_token_id=0
)
model = GPT2LMHeadModel(config)
tokens = torch.randint(0, 100, (80, 16))
train = [{"input_ids": t, "labels": t} for t in tokens[:64]]
val = [{"input_ids": t, "labels": t} for t in tokens[64:]]

# Two parameter groups: the final layer norm (the "head" here) at 10x the backbone's LR.
head = list(model.transformer.ln_f.parameters())
head_ids = {id(p) for p in head}
body = [p for p in model.parameters() if id(p) not in head_ids]
optimizer = torch.optim.AdamW([{"params": body, "lr": 3e-3}, {"params": head, "lr": 3e-2}])

callback = LRSchedulerCallback(
    lrp.wsd(warmup_steps="10%", decay_steps="20%"),  # unbound: bound from the Trainer's max_steps
    plateau=lrp.Plateau(factor=0.5, patience=1),
    monitor="eval_loss",
)

with tempfile.TemporaryDirectory() as out:
    args = TrainingArguments(
        output_dir=out,
        report_to="none",
        use_cpu=True,
        num_train_epochs=5,
        per_device_train_batch_size=8,  # 8 updates per epoch, 40 in all
        eval_strategy="steps",
        eval_steps=4,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        log_level="error",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val,
        optimizers=(optimizer, None),  # the Trainer builds its scheduler; the callback drives it
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # print our own table instead
    trainer.train()

print(f"schedule: {callback.bound_schedule}")
print(" step  learning_rate (group 0; group 1 is 10x)             eval_loss after it")
evals = {e["step"]: e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e}
scale = 1.0
for entry in trainer.state.log_history:
    if "learning_rate" in entry:
        step = entry["step"] - 1  # the entry for global step k+1 is update k
        lr = entry["learning_rate"]
        bar = "#" * round(40 * lr / 3e-3)
        print(f"{step:5d}  {lr:.6f} {bar:<40s}", end="")
        if entry["step"] in evals:
            print(f"  {evals[entry['step']]:.4f}", end="")
        print()
assert callback.plateau is not None
print(f"plateau: scale {callback.plateau.scale}, {callback.plateau.num_reductions} reduction(s)")
