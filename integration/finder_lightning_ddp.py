"""DDP check for ``lrplugins.lightning.find_lr``, run by ``test_finder_lightning.py``.

``python integration/finder_lightning_ddp.py OUT_DIR`` starts two CPU ranks
(``strategy="ddp", devices=2``). Each rank runs ``find_lr(trainer, model)`` then
``trainer.fit(model)``, then a fresh, identical model and trainer run ``fit`` alone; it writes
``OUT_DIR/rank{r}.json`` with the range test's record, its own (un-averaged) sweep losses, and
whether the two fits ended with the same weights and the same LR at every update.

Lightning's DDP launcher re-runs this file for rank 1, hence the ``__main__`` guard.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lrplugins.lightning import find_lr


class Recording(torch.optim.SGD):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace: list[float] = []

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.trace.append(float(self.param_groups[0]["lr"]))
        super().step()
        return loss


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.losses: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> Any:
        return Recording(self.parameters(), lr=0.05, momentum=0.9)


def data() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)


def trainer(out: Path) -> pl.Trainer:
    return pl.Trainer(
        strategy="ddp",
        devices=2,
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out,
    )


def main(out: Path) -> None:
    torch.manual_seed(7)
    model, t = Model(), trainer(out)
    finder = find_lr(t, model, data(), min_lr=1e-4, max_lr=10.0, steps=40)
    local = list(model.losses)
    t.fit(model, data())
    torch.manual_seed(7)
    plain, t2 = Model(), trainer(out)
    t2.fit(plain, data())
    same_weights = all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values())
    )
    result = {
        "record": finder.to_dict(),
        "local_losses": local[: len(finder.losses)],
        "same_weights": same_weights,
        "same_trace": t.optimizers[0].trace == t2.optimizers[0].trace,
        "steps": t.global_step,
    }
    rank = t.global_rank
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    t.strategy.barrier()
    sys.stdout.flush()
    os._exit(0)  # gloo's teardown aborts now and then; the results are written


if __name__ == "__main__":
    main(Path(sys.argv[1]))
