"""DDP check for ``lrplugins.lightning.LRSchedulerCallback``, run by ``test_lightning.py``.

``python integration/lightning_ddp_script.py OUT_DIR`` trains a tiny model with
``strategy="ddp", devices=2, accelerator="cpu"``. Each rank logs its *own* ``val_loss`` (no
``sync_dist``): rank 0's keeps improving, rank 1's grows, so the mean stalls. Each rank writes
``OUT_DIR/rank{r}.json`` with the LR applied at every update, the values it logged and the plateau
scale after each validation; the test checks both ranks agree and follow the mean.

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
from ddp_exit import write_and_exit
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

PLATEAU = {"factor": 0.5, "patience": 0}
# val_loss per epoch and rank: the mean (0.75, 0.75, 0.80, 0.75) never improves after epoch 0,
# while rank 0 alone improves every epoch.
VAL = [[1.0, 0.9, 0.8, 0.7], [0.5, 0.6, 0.8, 0.8]]


class Recorder(torch.optim.SGD):
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
    def __init__(self, rank0_only: bool = False) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)
        self.logged: list[float] = []
        self.rank0_only = rank0_only

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.trainer.sanity_checking:
            value = 0.0
        else:
            value = VAL[self.global_rank][self.current_epoch]
        if self.global_rank == 0 or not self.rank0_only:
            self.log("val_loss", value)  # rank-dependent, deliberately without sync_dist

    def on_validation_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.logged.append(VAL[self.global_rank][self.current_epoch])

    def configure_optimizers(self) -> Any:
        return Recorder(self.parameters(), lr=0.1)


class Scales(pl.Callback):
    """Reads the plateau scale after the adapter's validation-end hook has fed it."""

    def __init__(self, plateau: Any) -> None:
        self.plateau, self.scales = plateau, []

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.scales.append(self.plateau.scale)


def main(out: Path, mode: str) -> None:
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(64, 4, generator=g), torch.randn(64, 1, generator=g))
    plateau = lrp.Plateau(**PLATEAU)
    schedule = lrp.cosine(warmup_steps="1ep", final=0.1)
    cb = LRSchedulerCallback(schedule, plateau=plateau, monitor="val_loss")
    scales = Scales(plateau)
    model = Model(rank0_only=mode == "rank0_only")
    trainer = pl.Trainer(
        strategy="ddp",
        devices=2,
        accelerator="cpu",
        max_epochs=4,
        callbacks=[cb, scales],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    try:
        trainer.fit(model, DataLoader(ds, batch_size=8), DataLoader(ds, batch_size=32))
    except RuntimeError as exc:  # mode rank0_only: every rank must stop with the same error
        (out / f"rank{trainer.global_rank}.json").write_text(json.dumps({"error": str(exc)}))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    bound = cb.bound_schedule
    result = {
        "rank": trainer.global_rank,
        "lrs": trainer.optimizers[0].trace,
        "val_loss": model.logged,
        "scales": scales.scales,
        "plateau_args": PLATEAU,
        "schedule": bound.to_config() if bound is not None else None,
        "total_steps": bound.total_steps if bound is not None else None,
        "steps_per_epoch": bound.steps_per_epoch if bound is not None else None,
    }
    write_and_exit(trainer, out, result)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "mean")
