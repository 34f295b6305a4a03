"""The framework internals the adapters rely on, checked directly (see ``docs/internals.md``).

Each test pins one private attribute, hook or behaviour of torch, transformers, Lightning or Keras
that an adapter uses, in the form the adapter uses it, so that an upgrade that removes it or
changes its meaning fails here, by name, before the integration tests fail in a harder-to-read way.
Frameworks come through ``conftest.require``: a missing one skips locally and fails in CI.
Keep these fast (no training beyond a few steps) and keep ``docs/internals.md`` in step.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import sys
import warnings
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported; see tests/anchors.py

import pytest

from conftest import require

# ------------------------------------------------------------------------------------------------
# torch: the LRScheduler base class (lrplugins.torch subclasses it)
# ------------------------------------------------------------------------------------------------


def _sgd(torch: Any, lr: float = 1.0) -> Any:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_torch_scheduler_init_makes_its_first_step_through_initial_step():
    # lrplugins.torch.LRScheduler overrides _initial_step to set schedule(0) without a step().
    torch = require("torch")
    calls = []

    class Probe(torch.optim.lr_scheduler.LRScheduler):
        def _initial_step(self) -> None:
            calls.append("_initial_step")

        def step(self, epoch: Any = None) -> None:
            calls.append("step")

        def get_lr(self) -> list[float]:
            return list(self.base_lrs)

    opt = _sgd(torch, 0.5)
    sched = Probe(opt)
    assert calls == ["_initial_step"], "LRScheduler.__init__ no longer calls _initial_step()"
    assert sched.base_lrs == [0.5] and sched.last_epoch == -1
    assert opt.param_groups[0]["initial_lr"] == 0.5


def test_torch_get_last_lr_returns_the_last_lr_attribute():
    # The Hugging Face adapter writes LambdaLR._last_lr so that get_last_lr() (what the Trainer
    # logs as learning_rate) is the LR it applied; lrplugins.torch keeps its LRs there too.
    torch = require("torch")
    sched = torch.optim.lr_scheduler.LambdaLR(_sgd(torch), lambda t: 1.0)
    sched._last_lr = [0.125]
    assert sched.get_last_lr() == [0.125]
    assert "_last_lr" in sched.state_dict()


def test_torch_jumps_use_get_closed_form_lr_when_present():
    # lrplugins.torch aliases _get_closed_form_lr = get_lr: torch's jumps (step(epoch) and
    # SequentialLR's hand-over at a milestone) then land on the closed form.
    torch = require("torch")

    class Probe(torch.optim.lr_scheduler.LRScheduler):
        def get_lr(self) -> list[float]:
            return [0.25 for _ in self.base_lrs]

        def _get_closed_form_lr(self) -> list[float]:
            return [0.75 for _ in self.base_lrs]

    opt = _sgd(torch)
    sched = Probe(opt)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the epoch argument is deprecated
        sched.step(5)
    assert opt.param_groups[0]["lr"] == 0.75 and sched.last_epoch == 5

    opt = _sgd(torch)
    first = torch.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=10)
    second = Probe(opt)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [first, second], milestones=[2])
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
    assert lrs == [0.5, 0.5, 0.75, 0.25], lrs  # the milestone is the closed form, then get_lr


def test_lrplugins_scheduler_as_a_sequential_lr_part_starts_at_s0():
    # What the alias gives users: lrplugins.torch.LRScheduler as the second part of SequentialLR.
    torch = require("torch")
    lrp = require("lrplugins")
    lrplugins_torch = require("lrplugins.torch")
    opt = _sgd(torch)
    first = torch.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3)
    ours = lrplugins_torch.LRScheduler(opt, lrp.linear(total_steps=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = torch.optim.lr_scheduler.SequentialLR(opt, [first, ours], milestones=[3])
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
    assert lrs == pytest.approx([0.5, 0.5, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_torch_epoch_deprecation_warning_is_what_step_epoch_warns():
    # lrplugins.torch re-emits torch's own EPOCH_DEPRECATION_WARNING on step(epoch).
    torch = require("torch")
    from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

    assert isinstance(EPOCH_DEPRECATION_WARNING, str) and "epoch" in EPOCH_DEPRECATION_WARNING
    opt = _sgd(torch)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    opt.step()
    with pytest.warns(UserWarning) as caught:
        sched.step(1)
    assert EPOCH_DEPRECATION_WARNING in [str(w.message) for w in caught]


def test_torch_order_check_markers_on_the_optimizer():
    # lrplugins.torch repeats torch's "scheduler stepped before the optimizer" check, which reads
    # optimizer.step._wrapped_by_lr_sched (set by the scheduler's constructor) and
    # optimizer._opt_called (set by the wrapped step), and _step_count == 1 on the first step().
    torch = require("torch")
    opt = _sgd(torch)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    assert getattr(opt.step, "_wrapped_by_lr_sched", False) is True
    assert getattr(opt, "_opt_called", False) is False
    assert sched._step_count == 1  # after the constructor's initial step
    opt.step()
    assert opt._opt_called is True
    sched.step()
    assert sched._step_count == 2


def test_lrplugins_scheduler_stepped_in_order_does_not_warn():
    # The other side of the markers above: if torch renamed _opt_called, our check would warn on
    # every correct loop (the existing test only checks that a wrong order warns).
    torch = require("torch")
    lrp = require("lrplugins")
    lrplugins_torch = require("lrplugins.torch")
    opt = _sgd(torch)
    sched = lrplugins_torch.LRScheduler(opt, lrp.linear(total_steps=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            sched.step()


# ------------------------------------------------------------------------------------------------
# torch: LambdaLR (the Hugging Face adapter puts its multiplier into the Trainer's LambdaLR)
# ------------------------------------------------------------------------------------------------


class _Record:
    """A callable object with state in its ``__dict__``, as the HF adapter's lambda."""

    def __init__(self, value: float, record: dict[str, Any] | None = None) -> None:
        self.value = value
        if record is not None:
            self.record = record

    def __call__(self, step: int) -> float:
        return self.value


def test_lambdalr_reads_lr_lambdas_at_every_step():
    # The adapter replaces sched.lr_lambdas after the Trainer built the scheduler.
    torch = require("torch")
    opt = _sgd(torch, 0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)
    sched.lr_lambdas = [_Record(0.2)]
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    assert sched.get_last_lr() == [pytest.approx(0.1)]


def _ours_and_partial() -> tuple[Any, Any]:
    """A plain function and a functools.partial (what transformers' get_*_schedule builds)."""

    def plain(step: int) -> float:
        return 1.0

    def shaped(step: int, *, k: float) -> float:
        return k

    return plain, functools.partial(shaped, k=1.0)


def test_lambdalr_state_dict_saves_callable_objects_dict_and_loads_it_into_the_new_lambdas():
    # The HF adapter's run state travels as the __dict__ of its lambda: LambdaLR.state_dict()
    # saves a copy of a callable object's __dict__ (None for a plain function), the Trainer saves
    # it with torch.save and loads it with weights_only=True, and load_state_dict() writes it into
    # the __dict__ of whatever lambdas the new scheduler has (transformers' partials, functions).
    torch = require("torch")
    record = {"format": "probe", "step": 3, "values": [0.5, 1.0], "name": None}
    opt = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)], lr=0.5
    )
    plain, _ = _ours_and_partial()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, [_Record(1.0, record), plain])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"value": 1.0, "record": record}, None]

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)

    plain2, partial2 = _ours_and_partial()
    fresh = torch.optim.lr_scheduler.LambdaLR(opt, [partial2, plain2])
    fresh.load_state_dict(loaded)
    assert fresh.lr_lambdas[0] is partial2 and partial2.__dict__["record"] == record
    assert "record" not in plain2.__dict__  # a None entry writes nothing


# ------------------------------------------------------------------------------------------------
# transformers: the Trainer's scheduler and logging
# ------------------------------------------------------------------------------------------------

HF_LAMBDALR_TYPES = {
    "linear": {},
    "cosine": {},
    "cosine_with_restarts": {},
    "polynomial": {},
    "constant": {},
    "constant_with_warmup": {},
    "inverse_sqrt": {},
    "cosine_with_min_lr": {"min_lr_rate": 0.1},
    "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1},
    "warmup_stable_decay": {"num_decay_steps": 2},
}
"""``lr_scheduler_type`` values the HF adapter can take over (their scheduler is a ``LambdaLR``)."""


@pytest.mark.parametrize("name", sorted(HF_LAMBDALR_TYPES))
def test_hf_scheduler_types_build_a_lambdalr(name):
    torch = require("torch")
    transformers = require("transformers")
    sched = transformers.get_scheduler(
        name,
        _sgd(torch),
        num_warmup_steps=1,
        num_training_steps=10,
        scheduler_specific_kwargs=HF_LAMBDALR_TYPES[name],
    )
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR), type(sched)


@pytest.mark.parametrize("name", ["reduce_lr_on_plateau", "greedy"])
def test_hf_scheduler_types_the_adapter_refuses_are_not_lambdalr(name):
    torch = require("torch")
    transformers = require("transformers")
    sched = transformers.get_scheduler(name, _sgd(torch), num_warmup_steps=1, num_training_steps=10)
    assert not isinstance(sched, torch.optim.lr_scheduler.LambdaLR), type(sched)


def test_hf_log_appends_a_copy_to_log_history_before_on_log(tmp_path):
    # The HF adapter's on_log adds keys to `logs` and to state.log_history[-1], the copy the Trainer
    # appended just before calling on_log.
    torch = require("torch")
    transformers = require("transformers")
    require("accelerate")
    seen = []

    class Probe(transformers.TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            seen.append((logs, state.log_history[-1]))

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to="none", use_cpu=True, disable_tqdm=True
    )
    trainer = transformers.Trainer(model=torch.nn.Linear(2, 1), args=args, callbacks=[Probe()])
    trainer.log({"learning_rate": 0.5})
    ((logs, last),) = seen
    assert last is not logs and last["learning_rate"] == 0.5 and "step" in last
    assert {k: v for k, v in last.items() if k != "step"} == logs


# ------------------------------------------------------------------------------------------------
# Lightning
# ------------------------------------------------------------------------------------------------


def test_lightning_generate_state_key_format():
    # LRSchedulerCallback.state_key comes from Callback._generate_state_key (as EarlyStopping's).
    require("lightning.pytorch")
    from lightning.pytorch.callbacks import Callback

    class Probe(Callback):
        pass

    key = Probe()._generate_state_key(name=None, monitor="val_loss")
    assert key == Probe.__qualname__ + "{'name': None, 'monitor': 'val_loss'}"


def test_lightning_is_overridden_tells_a_module_without_validation_step():
    # The Lightning adapter refuses a val_* monitor when the module has no validation_step,
    # asked through lightning.pytorch.utilities.model_helpers.is_overridden.
    pl = require("lightning.pytorch")
    from lightning.pytorch.utilities.model_helpers import is_overridden

    class Plain(pl.LightningModule):
        pass

    class Validating(pl.LightningModule):
        def validation_step(self, batch, batch_idx):
            return None

    assert not is_overridden("validation_step", Plain())
    assert is_overridden("validation_step", Validating())


def test_lightning_fit_loop_keeps_the_val_dataloader_source(tmp_path):
    # The Lightning adapter tells "no validation loader" from
    # trainer.fit_loop.epoch_loop.val_loop._data_source (.instance, .is_defined()) at train start.
    torch = require("torch")
    pl = require("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    seen = {}

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.net(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            return None

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def on_train_start(self) -> None:
            source = self.trainer.fit_loop.epoch_loop.val_loop._data_source
            seen[self.tag] = source.instance is not None and source.is_defined()

    loader = DataLoader(TensorDataset(torch.zeros(4, 2)), batch_size=2)
    for tag, val in (("without", None), ("with", loader)):
        model = Model()
        model.tag = tag
        trainer = pl.Trainer(
            default_root_dir=str(tmp_path),
            accelerator="cpu",
            max_steps=1,
            limit_val_batches=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, loader, val)
    assert seen == {"without": False, "with": True}


# ------------------------------------------------------------------------------------------------
# Keras
# ------------------------------------------------------------------------------------------------


def test_keras_optimizer_keeps_its_lr_in_learning_rate_attribute():
    # The Keras adapter reads optimizer._learning_rate to tell a float LR (a Variable) from a
    # schedule without evaluating it.
    keras = require("keras")
    assert isinstance(keras.optimizers.SGD(0.1)._learning_rate, keras.Variable)
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert keras.optimizers.SGD(sched)._learning_rate is sched


def test_keras_schedule_is_called_with_the_micro_batch_counter():
    # With gradient_accumulation_steps=k, the optimizer calls its schedule with _iterations (the
    # micro-batch counter), while `iterations` counts real updates: the adapter's
    # LearningRateSchedule(gradient_accumulation_steps=k) divides by k itself.
    keras = require("keras")
    calls = []

    class Probe(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            calls.append(int(keras.ops.convert_to_numpy(step)))
            return 0.1

    opt = keras.optimizers.SGD(Probe(), gradient_accumulation_steps=2)
    var = keras.Variable([1.0])
    opt.build([var])
    for _ in range(3):
        opt.apply_gradients([(keras.ops.ones((1,)), var)])
    calls.clear()
    _ = opt.learning_rate
    assert calls == [3] and int(keras.ops.convert_to_numpy(opt.iterations)) == 1


def test_keras_make_train_function_takes_force():
    # The Keras callback recompiles the train step after a change with make_train_function(force=True).
    keras = require("keras")
    assert "force" in inspect.signature(keras.Model.make_train_function).parameters


def test_keras_callback_model_syncs_jax_state():
    # On jax, Callback.model syncs the trainer's state into the variables; the adapter reads
    # optimizer.iterations through it, in hooks only.
    keras = require("keras")
    source = inspect.getsource(keras.callbacks.Callback.model.fget)
    assert "jax_state_sync" in source


def test_keras_fit_frame_holds_validation_data_and_callbacks():
    # The Keras callback reads model.fit's `validation_data` (after validation_split) and
    # `callbacks` (by then a CallbackList: its .callbacks) from fit's frame at train begin, as a
    # callback has no public view of them.
    keras = require("keras")
    np = require("numpy")
    found = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            frame = sys._getframe(1)
            while frame is not None:
                local = frame.f_locals if frame.f_code.co_name == "fit" else {}
                if local.get("self") is self.model and "validation_data" in local:
                    found["validation_data"] = local["validation_data"] is not None
                    found["callbacks"] = local.get("callbacks")
                    return
                frame = frame.f_back

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    for split, expected in ((0.0, False), (0.25, True)):
        probe = Probe()
        found.clear()
        model.fit(
            x, y, epochs=1, batch_size=4, validation_split=split, verbose=0, callbacks=[probe]
        )
        assert found.get("validation_data") is expected, found
        assert probe in found["callbacks"].callbacks, found
