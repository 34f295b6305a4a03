"""Lightning adapter: a callback that drives the optimizers' learning rates from a schedule.

``Trainer(callbacks=[LRSchedulerCallback(schedule)])`` is all it takes; the run state lives in the
core (:class:`lrplugins.RunState`), this module reads the step and metrics from Lightning and
writes the values back.

Modules, one job each: ``_callback`` (:class:`LRSchedulerCallback`: the ``Trainer`` hooks),
``_trainer`` (what is read off a ``Trainer``: the run length, whether and when it validates, the
training batches' progress; and the installed Lightning packages).

>>> import lrplugins as lrp
>>> from lrplugins.lightning import LRSchedulerCallback
>>> cb = LRSchedulerCallback(lrp.cosine(warmup_steps="5%", final=0.1))
>>> cb.schedule
cosine(warmup_steps='5%', final=0.1)
>>> cb.state_key
"LRSchedulerCallback{'name': None, 'monitor': None, 'optimizers': None}"
"""

from __future__ import annotations

try:  # everything the modules below take from Lightning, checked here
    import lightning.pytorch  # noqa: F401
    import torch  # noqa: F401
    from lightning.pytorch.callbacks import Callback  # noqa: F401
    from lightning.pytorch.trainer.states import TrainerFn  # noqa: F401
    from lightning.pytorch.utilities import rank_zero_warn  # noqa: F401
    from lightning.pytorch.utilities.exceptions import MisconfigurationException  # noqa: F401
    from lightning.pytorch.utilities.model_helpers import is_overridden  # noqa: F401
    from typing_extensions import override  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        f"lrplugins.lightning needs Lightning 2.x ({exc}); install it with: "
        "pip install 'lrplugins[lightning]'"
    ) from exc

from .._compat import check_framework
from .._finder_lightning import find_lr

check_framework("lrplugins.lightning")

from ._callback import LRSchedulerCallback, _rank_zero  # noqa: F401 - pickles name it here

__all__ = ["LRSchedulerCallback", "find_lr"]
