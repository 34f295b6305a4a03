"""lrplugins: exact learning-rate schedules and a plateau monitor, with thin framework adapters.

``import lrplugins as lrp`` gives the framework-agnostic core. A schedule is an immutable value whose
``s(step)`` is the multiplier of each parameter group's base learning rate at optimizer update
``step``; the adapters (``lrplugins.torch``, ``lrplugins.lightning``, ``lrplugins.keras``,
``lrplugins.huggingface``) apply ``base_lr * schedule(step) * plateau.scale`` inside each framework.

>>> import lrplugins as lrp
>>> s = lrp.cosine(total_steps=1000, warmup_steps="5%", final=0.1)
>>> s(0), s(50), s(1000)
(0.0, 1.0, 0.1)
"""

from . import _schedules
from ._finder import LRFinder
from ._plateau import Plateau
from ._run import MissingMetricError, RunState
from ._schedules import *

__version__ = "0.1.0"

# The core API: the plateau monitor and the run-state engine, then every schedule name, read from the catalog's modules
# (a `+=` of a submodule's __all__ is what static type checkers follow).
__all__ = ["LRFinder", "MissingMetricError", "Plateau", "RunState"]
__all__ += _schedules.__all__
