"""The run-state engine: everything a training run knows about its hyperparameters, kept once.

Every adapter (``lrplugins.torch``, Lightning, Keras, Hugging Face) holds one :class:`RunState` and
only wires its framework to it: it reports the update index, the run length, the parameter groups
and the metrics, and writes back the values the run state computes. The policies live here, once:

* the constructor surface: ``schedule`` (and ``momentum``, ``weight_decay``) and ``plateau`` as
  objects or config dicts, a schedule per parameter group, ``monitor`` paired with ``plateau``,
  ``strict`` and ``horizon``, checked with one set of messages;
* binding an unbound schedule from the run (a group that joins later is bound with the run length
  that remains, on its own clock), and what a resume does when the run length changed
  (``horizon="stretch"``: the rest of the schedule is stretched to the new total, continuous at the
  resume step; ``horizon="rebind"``: the schedule is bound again from the new total);
* the plateau and the "which metric, and is it missing" rule (``strict``), NaN never reaching the LR;
  where the plateau was last fed, and on resume whether it missed an evaluation the framework
  skips (:meth:`RunState.check_missed_evaluation`, one warning for every adapter);
* what a run starts from (:meth:`RunState.begin`): a new run from the configured schedules and
  plateau, a resume from the checkpoint's; a samples / tokens clock from the framework's own count;
* where every warning goes: the adapter's sink (Lightning's is ``rank_zero_warn``);
* events recorded during the run (a runtime :meth:`RunState.cooldown`, a horizon change), replayed
  on resume;
* the parameter groups (base values, names, the update each one joined at), and the one
  checkpoint format (:data:`FORMAT`), built and checked here.

The lifecycle an adapter reports to it (``begin``, each update, each evaluation, ``end``), and what
it answers, is the adapter contract, written down in ``docs/adapters.md``. The engine is split
into parts with one job each behind the :class:`RunState` facade: :mod:`.specs`, :mod:`.events`,
:mod:`.groups`, :mod:`.metric`, :mod:`.state`. Standard library only.

>>> import lrplugins as lrp
>>> run = lrp.RunState("demo", lrp.cosine(warmup_steps=2), lrp.Plateau(patience=0), "val_loss")
>>> run.begin(0, total_steps=10)
'fresh'
>>> run.active
cosine(total_steps=10, warmup_steps=2)
>>> run.multiplier(1), run.multiplier(2)
(0.5, 1.0)
>>> run.observe_metrics({"val_loss": 1.0}), run.observe_metrics({"val_loss": 2.0})
(False, True)
>>> run.multiplier(2)
0.1
"""

from .engine import HORIZONS, Profile, RunState, RunViews, UnknownClockError, adapter_run
from .metric import MissingMetricError
from .specs import HYPERPARAMETERS
from .state import FORMAT, check_state

__all__ = [
    "FORMAT",
    "HORIZONS",
    "HYPERPARAMETERS",
    "MissingMetricError",
    "Profile",
    "RunState",
    "RunViews",
    "UnknownClockError",
    "adapter_run",
    "check_state",
]
