"""The schedule catalog: immutable, closed-form multipliers of the optimizer's base learning rate.

Layout (as optax splits leaves from combinators):

- :mod:`.base`: the :class:`Schedule` base class, :class:`Phase`, :class:`UnboundScheduleError` and
  the registry of kinds;
- :mod:`.durations`: ``int | "N%" | "Nep" | "Nsp" | "Ntok"`` durations and their resolution to
  whole counts on the schedule's clock (optimizer steps, samples or tokens: ``Schedule.clock``);
- :mod:`.formulas`: the pieces of formulas several shapes share (warmup ramp, half cosine, ...);
- :mod:`.leaves`: the leaf shapes of the catalog (``cosine``, ``wsd``, ...);
- :mod:`.momentum`: their momentum counterparts (``one_cycle_momentum``, ``cyclic_momentum``);
- :mod:`.combinators`: schedules made of schedules (``sequence``, ``scaled``, ``product``, and
  ``Cooldown``/``Stretch``, which ``s.cooldown()``/``s.stretch()`` build) and ``custom``;
- :mod:`.io`: :func:`from_config` and :func:`load`;
- :mod:`.scalar`: the fast path of ``s(step)``, a function generated from the formula.

Every public name is re-exported here, so ``from lrplugins._schedules import cosine`` keeps working.
"""

# leaves before combinators: the registry (and so the spec catalog) lists kinds in this order
from . import base, leaves, momentum, combinators, io  # noqa: I001
from .base import *
from .leaves import *
from .momentum import *
from .combinators import *
from .io import *

# statically analyzable (type checkers follow `+=` of a submodule's __all__)
__all__ = []
__all__ += base.__all__
__all__ += leaves.__all__
__all__ += momentum.__all__
__all__ += combinators.__all__
__all__ += io.__all__
