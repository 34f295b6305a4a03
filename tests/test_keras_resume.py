"""Where a Keras ``fit`` enters its run (``lrplugins/keras/_resume.py``), without Keras.

``import lrplugins.keras`` imports Keras, so the module (standard library only) is loaded from its
file. The Keras scenarios (``integration/keras_scenarios.py``: ``reuse``, ``backup_restore``,
``save_load``, ``horizon``, ``accumulation``) check the same decisions inside real fits.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "lrplugins" / "keras" / "_resume.py"
_spec = importlib.util.spec_from_file_location("lrplugins_keras_resume", _PATH)
assert _spec is not None and _spec.loader is not None
resume = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = resume  # dataclasses look their module up while building the class
_spec.loader.exec_module(resume)


def point(**kw):
    args = {"steps": 6, "epochs": 5, "accumulation": 1, "iterations": 0, **kw}
    return resume.resume_point(**args)


def test_loading_needs_no_framework():
    code = (
        "import sys, importlib.util\n"
        "for m in ('keras', 'tensorflow', 'jax', 'torch', 'numpy'):\n"
        "    sys.modules[m] = None\n"
        f"spec = importlib.util.spec_from_file_location('r', {str(_PATH)!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['r'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "print(mod.resume_point(epoch=1, steps=4, epochs=2, accumulation=1, iterations=4).update)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "4", proc.stderr


def test_epoch_zero_is_a_new_run_whatever_the_optimizer_has_done():
    p = point(epoch=0, iterations=40)
    assert (p.update, p.offset, p.epochs_done, p.warning) == (0, 40, 0, None)
    assert (p.total_steps, p.steps_per_epoch) == (30, 6)


def test_initial_epoch_continues_at_its_first_update():
    p = point(epoch=2, iterations=12)
    assert (p.update, p.offset, p.epochs_done, p.warning) == (12, 0, 2, None)
    # an optimizer that trained 40 updates in an earlier run: the offset keeps them apart
    p = point(epoch=2, iterations=52)
    assert (p.update, p.offset) == (12, 40)


def test_an_optimizer_behind_the_resumed_update_warns():
    p = point(epoch=1, iterations=0)  # load_weights: weights only, the counter starts at 0
    assert (p.update, p.offset) == (6, -6)
    assert p.warning == (
        "fit() resumes at update 6 (epoch 1) but the optimizer is at update 0: its state was not "
        "restored (load_weights restores weights only). The schedule continues at update 6."
    )


def test_a_loaded_state_wins_over_the_epoch():
    # BackupAndRestore resumes at epoch 3; the state says 2 epochs and 12 updates were taken
    p = point(epoch=3, iterations=12, loaded={"step": 12, "epoch": 2})
    assert (p.update, p.offset, p.epochs_done, p.warning) == (12, 0, 2, None)
    p = point(epoch=0, iterations=0, loaded={"step": 12, "epoch": 2})
    assert p.update == 12 and p.warning is not None and "update 12" in p.warning


@pytest.mark.parametrize(
    ("steps", "epochs", "k", "total", "per_epoch", "update"),
    [
        (8, 2, 2, 8, 4, 8),  # 8 micro-batches per epoch, 2 per update: epoch 2 starts at update 8
        (7, 3, 2, 10, 3, 7),  # 21 micro-batches = 10 whole updates; epoch 2 at 14 // 2
        (1, 3, 4, 1, 1, 0),  # fewer micro-batches than one update: at least 1
        (None, 3, 1, None, None, 9),  # unknown length: where the optimizer is, minus the offset
        (6, None, 1, None, 6, 12),
    ],
)
def test_run_length_and_gradient_accumulation(steps, epochs, k, total, per_epoch, update):
    p = point(epoch=2, steps=steps, epochs=epochs, accumulation=k, iterations=12, previous_offset=3)
    assert (p.total_steps, p.steps_per_epoch, p.update) == (total, per_epoch, update)
    assert p.offset == 12 - update


def test_the_point_is_an_immutable_value():
    p = point(epoch=1, iterations=6)
    assert p == point(epoch=1, iterations=6)
    with pytest.raises(AttributeError):
        p.update = 3  # type: ignore[misc]
