"""DDP check of the samples clock of ``lrplugins.lightning.LRSchedulerCallback``, run by
``test_lightning_clocks.py``.

``python integration/lightning_clocks_ddp.py OUT_DIR`` trains a tiny model with
``strategy="ddp", devices=2, accelerator="cpu"`` and ``accumulate_grad_batches=2``, each rank on
its own batches, whose sizes differ between the ranks. Each rank writes ``OUT_DIR/rank{r}.json``
with its batch sizes, the LR every update used (the optimizer's step post-hook) and the clock at
the end; the test checks both ranks used ``base * s(samples of all ranks before the update)``.

Lightning's DDP launcher re-runs this file for rank 1, hence the ``__main__`` guard.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from ddp_exit import write_and_exit
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

SIZES = [[3, 5, 2, 7, 4], [6, 1, 4, 2, 8]]  # samples per batch, by rank: 5 batches, 3 updates
EPOCHS, BASE = 2, 0.1
SCHEDULE = lrp.cosine(total_steps=f"{EPOCHS * sum(map(sum, SIZES))}sp", warmup_steps="12sp")


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)
        self.used: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def train_dataloader(self) -> Any:
        sizes = SIZES[self.global_rank]
        g = torch.Generator().manual_seed(self.global_rank)
        n = sum(sizes)
        ds = TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g))
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        batches = [list(range(s, s + k)) for s, k in zip(starts, sizes)]
        return DataLoader(ds, batch_sampler=batches)  # type: ignore[arg-type]

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=BASE)
        opt.register_step_post_hook(lambda o, a, k: self.used.append(o.param_groups[0]["lr"]))
        return opt


def main(out: Path) -> None:
    cb = LRSchedulerCallback(SCHEDULE)
    model = Model()
    trainer = pl.Trainer(
        strategy="ddp",
        devices=2,
        accelerator="cpu",
        max_epochs=EPOCHS,
        accumulate_grad_batches=2,
        use_distributed_sampler=False,  # each rank keeps its own batches
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)
    result = {
        "rank": trainer.global_rank,
        "sizes": SIZES[trainer.global_rank],
        "used": model.used,
        "clock": cb.run_state.clock_value,
        "schedule": SCHEDULE.to_config(),
        "base": BASE,
        "epochs": EPOCHS,
    }
    write_and_exit(trainer, out, result)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
