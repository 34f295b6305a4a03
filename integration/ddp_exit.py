"""The end of every Lightning DDP script of the integration tests: write this rank's results,
wait for the other rank, and leave.

Tearing down gloo process groups at interpreter exit aborts now and then on the CPU build of
torch ("terminate called without an active exception", SIGABRT); the results are on disk by
then, so the process leaves without running the destructors.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def write_and_exit(trainer: Any, out: Path, result: Any) -> None:
    """Write ``result`` to ``out/rank{r}.json``, wait for every rank, exit with status 0."""
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))
    trainer.strategy.barrier()  # every rank has written its results
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
