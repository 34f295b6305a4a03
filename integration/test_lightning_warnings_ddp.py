"""The engine's warnings under Lightning DDP: one per run, not one per process.

Lightning warns through ``rank_zero_warn``; the callback routes every warning of its run state
(:class:`lrplugins.RunState`) the same way. This module is its own DDP script: the test runs it
with ``python test_lightning_warnings_ddp.py OUT_DIR`` (``strategy="ddp", devices=2`` on CPU),
Lightning's launcher runs it again for rank 1, and each rank writes the warnings it emitted to
``OUT_DIR/rank{r}.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COOLDOWN = 1000  # updates: longer than the run (warned when the fit begins)
EPOCHS, BATCHES = 2, 4  # 8 updates


def main(out: Path) -> None:
    import lightning.pytorch as pl
    import torch
    from ddp_exit import write_and_exit
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    import lrplugins as lrp
    from lrplugins.lightning import LRSchedulerCallback

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def train_dataloader(self) -> Any:
            g = torch.Generator().manual_seed(0)
            ds = TensorDataset(torch.randn(4 * BATCHES, 4, generator=g), torch.randn(16, 1))
            return DataLoader(ds, batch_size=4)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    cb = LRSchedulerCallback(lrp.cosine())
    cb.cooldown(COOLDOWN)  # pending: starts at the fit's first update, and warns there
    trainer = pl.Trainer(
        strategy="ddp",
        devices=2,
        accelerator="cpu",
        max_epochs=EPOCHS,
        use_distributed_sampler=False,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Model())
    ours = [str(w.message) for w in caught if "LRSchedulerCallback" in str(w.message)]
    write_and_exit(trainer, out, ours)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
else:
    import pytest

    from conftest import require

    require("lightning.pytorch")
    pytestmark = pytest.mark.slow

    def test_an_engine_warning_is_emitted_once_under_ddp(tmp_path: Path) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
        }
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(tmp_path)],
            check=False, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
        total = EPOCHS * BATCHES
        message = (
            f"LRSchedulerCallback.cooldown(): steps={COOLDOWN!r} ({COOLDOWN} updates) from update "
            f"0 ends at update {COOLDOWN}, after the run's last update ({total - 1}, "
            f"total_steps={total}): the run ends before the LR reaches final."
        )
        assert ranks[0] == [message]
        assert ranks[1] == []  # rank 1 decided the same, and said nothing
