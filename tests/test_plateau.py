"""The plateau monitor: parity with torch's ReduceLROnPlateau, the cases where it does better,
validation, state and resume."""

from __future__ import annotations

import ast
import doctest
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrplugins as lrp
from conftest import require
from lrplugins import _plateau

# ------------------------------------------------------------------------------------------------
# Parity with torch.optim.lr_scheduler.ReduceLROnPlateau
# ------------------------------------------------------------------------------------------------


def torch_lrs(stream, **kw):
    """The LR torch's ReduceLROnPlateau sets after each observation, base LR 1, min_lr=min_scale."""
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    kw = dict(kw)
    if "min_scale" in kw:
        kw["min_lr"] = kw.pop("min_scale")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    out = []
    for x in stream:
        sched.step(x)
        out.append(opt.param_groups[0]["lr"])
    return out, sched


def our_scales(stream, **kw):
    p = lrp.Plateau(**kw)
    return [p.update(x) for x in stream], p


params_st = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["min", "max"]),
        "factor": st.sampled_from([0.1, 0.5, 0.3, 0.9, 0.99]),
        "patience": st.integers(0, 4),
        "threshold": st.sampled_from([0.0, 1e-4, 0.01, 0.1, 0.5]),
        "threshold_mode": st.sampled_from(["rel", "abs"]),
        "cooldown": st.integers(0, 3),
        "min_scale": st.sampled_from([0.0, 1e-3, 0.05, 0.5]),
        "eps": st.sampled_from([0.0, 1e-8, 1e-3, 0.02]),
    }
)
# Streams with many repeats and near-ties, where the threshold and patience rules matter.
value_st = st.one_of(
    st.sampled_from([0.5, 1.0, 1.0001, 0.9999, 2.0, 0.99, 1.01]),
    st.floats(min_value=1e-3, max_value=100.0),
)


@settings(max_examples=400, deadline=None)
@given(params=params_st, stream=st.lists(value_st, min_size=1, max_size=60))
def test_scales_equal_torch_lr_sequence(params, stream):
    expected, sched = torch_lrs(stream, **params)
    got, p = our_scales(stream, **params)
    assert got == expected  # exact: the same floating-point operations
    assert p.best == sched.best
    assert p.num_bad == sched.num_bad_epochs
    assert p.cooldown_left == sched.cooldown_counter


@pytest.mark.parametrize("seed", range(40))
def test_seeded_random_streams_equal_torch(seed):
    rng = random.Random(seed)
    params = {
        "mode": rng.choice(["min", "max"]),
        "factor": rng.uniform(0.05, 0.95),
        "patience": rng.randint(0, 6),
        "threshold": rng.choice([0.0, 1e-4, rng.uniform(0, 0.2)]),
        "threshold_mode": rng.choice(["rel", "abs"]),
        "cooldown": rng.randint(0, 5),
        "min_scale": rng.choice([0.0, rng.uniform(0, 0.3)]),
        "eps": rng.choice([0.0, 1e-8, rng.uniform(0, 0.05)]),
    }
    # A noisy curve that improves, then stalls: the typical validation loss (or accuracy).
    stream, x = [], 5.0
    for i in range(300):
        x = x * rng.uniform(0.97, 1.0) if i < 100 else x * rng.uniform(0.995, 1.006)
        stream.append(round(x, rng.choice([2, 3, 12])))
    if params["mode"] == "max":
        stream = [10.0 - s for s in stream]
    expected, _ = torch_lrs(stream, **params)
    got, p = our_scales(stream, **params)
    assert got == expected
    assert p.num_reductions == len({s for s in got if s != 1.0})


def test_defaults_equal_torch_defaults():
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    cfg = lrp.Plateau().to_config()
    assert (cfg["mode"], cfg["factor"], cfg["patience"], cfg["threshold"]) == (
        s.mode,
        s.factor,
        s.patience,
        s.threshold,
    )
    assert (cfg["threshold_mode"], cfg["cooldown"], cfg["min_scale"], cfg["eps"]) == (
        s.threshold_mode,
        s.cooldown,
        s.min_lrs[0],
        s.eps,
    )


# ------------------------------------------------------------------------------------------------
# The rule, case by case
# ------------------------------------------------------------------------------------------------


def test_patience_reduces_on_the_patience_plus_first_bad_observation():
    p = lrp.Plateau(factor=0.5, patience=2)
    assert [p.update(x) for x in [1.0, 1.0, 1.0]] == [1.0, 1.0, 1.0]
    assert p.num_bad == 2
    assert p.update(1.0) == 0.5  # the third bad one in a row
    assert (p.num_bad, p.num_reductions) == (0, 1)


def test_improvement_resets_the_bad_count():
    p = lrp.Plateau(factor=0.5, patience=1)
    assert [p.update(x) for x in [1.0, 1.0, 0.5, 0.5, 0.4, 0.4, 0.4]] == [1, 1, 1, 1, 1, 1, 0.5]


def test_cooldown_ignores_bad_observations():
    p = lrp.Plateau(factor=0.5, patience=0, cooldown=2)
    scales = [p.update(x) for x in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    # reduce, then 2 cooldown observations, then the next bad one reduces again
    assert scales == [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_min_scale_floor_and_eps_skip():
    p = lrp.Plateau(factor=0.1, patience=0, min_scale=0.05)
    assert [p.update(1.0) for _ in range(4)] == [1.0, 0.1, 0.05, 0.05]
    assert p.num_reductions == 2  # the last one changed nothing and is not counted
    q = lrp.Plateau(factor=0.5, patience=0, eps=0.3)
    assert [q.update(1.0) for _ in range(4)] == [1.0, 0.5, 0.5, 0.5]  # 0.5 -> 0.25 is <= eps


@pytest.mark.parametrize(
    "mode, threshold_mode, threshold, stream, improves",
    [
        ("min", "rel", 0.1, [1.0, 0.91], False),
        ("min", "rel", 0.1, [1.0, 0.89], True),
        ("min", "abs", 0.1, [1.0, 0.91], False),
        ("min", "abs", 0.1, [1.0, 0.89], True),
        ("max", "rel", 0.1, [1.0, 1.09], False),
        ("max", "rel", 0.1, [1.0, 1.11], True),
        ("max", "abs", 0.5, [1.0, 1.4], False),
        ("max", "abs", 0.5, [1.0, 1.6], True),
        # relative thresholds are taken on abs(best): negative metrics behave the same way
        ("min", "rel", 0.1, [-1.0, -1.09], False),
        ("min", "rel", 0.1, [-1.0, -1.11], True),
        ("max", "rel", 0.1, [-1.0, -0.91], False),
        ("max", "rel", 0.1, [-1.0, -0.89], True),
    ],
)
def test_threshold_modes(mode, threshold_mode, threshold, stream, improves):
    p = lrp.Plateau(mode=mode, threshold=threshold, threshold_mode=threshold_mode, patience=5)
    for x in stream:
        p.update(x)
    assert (p.best == stream[-1]) is improves
    assert p.num_bad == (0 if improves else 1)


def test_flat_negative_metric_plateaus():
    # torch's rel threshold on a negative best (best * (1 - threshold) > best) counts a flat
    # -1.0 stream as improving forever; ours reduces as it does for a flat +1.0 stream.
    p = lrp.Plateau(patience=2)
    assert [p.update(-1.0) for _ in range(4)] == [1.0, 1.0, 1.0, 0.1]
    expected, _ = torch_lrs([-1.0] * 4, patience=2)
    assert expected == [1.0] * 4  # the torch behaviour we improve on
    q = lrp.Plateau(mode="max", patience=1)
    assert [q.update(-5.0) for _ in range(3)] == [1.0, 1.0, 0.1]


@settings(max_examples=150, deadline=None)
@given(params=params_st, stream=st.lists(value_st, min_size=1, max_size=40))
def test_negated_metric_in_the_other_mode_gives_the_same_scales(params, stream):
    # abs(best) makes the rule symmetric: min on x equals max on -x.
    flipped = dict(params, mode="max" if params["mode"] == "min" else "min")
    assert our_scales(stream, **params)[0] == our_scales([-x for x in stream], **flipped)[0]


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_count_as_bad_and_never_become_best(mode, bad):
    p = lrp.Plateau(mode=mode, factor=0.5, patience=1)
    assert p.update(bad) == 1.0
    assert p.best is None and p.num_bad == 1  # the initial "no best" is not an improvement
    assert p.update(bad) == 0.5
    assert p.update(2.0) == 0.5 and p.best == 2.0 and p.num_bad == 0
    assert [p.update(bad) for _ in range(2)] == [0.5, 0.25]
    assert p.best == 2.0
    json.dumps(p.state_dict(), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    params=params_st,
    stream=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), value_st), max_size=50
    ),
)
def test_scale_stays_a_number_in_range_for_any_stream(params, stream):
    p = lrp.Plateau(**params)
    for x in stream:
        s = p.update(x)
        assert params["min_scale"] <= s <= 1.0 or s == 1.0
        assert not math.isnan(s)
        assert p.best is None or math.isfinite(p.best)
        json.dumps(p.state_dict(), allow_nan=False)


def test_accepted_value_types():
    np = require("numpy")
    torch = require("torch")
    values = [3, 2.5, np.float32(2.0), np.float64(1.5), np.int64(1), torch.tensor(0.5)]
    p = lrp.Plateau(patience=0)
    for x in values:
        p.update(x)
    assert p.best == 0.5 and type(p.best) is float
    assert p.num_reductions == 0


@pytest.mark.parametrize("value", ["1.0", b"1", None, True, [1.0], object()])
def test_non_numbers_are_refused_naming_the_value(value):
    p = lrp.Plateau()
    with pytest.raises(TypeError) as info:
        p.update(value)
    assert str(info.value) == f"Plateau.update(): value must be a number, got {value!r}"
    assert p.state_dict() == lrp.Plateau().state_dict()  # nothing changed


@pytest.mark.parametrize("kind", ["numpy bool", "0-d boolean array"])
def test_numpy_bools_are_refused_as_python_bools_are(kind):
    # float(numpy.bool_) is 1.0: a flag fed by mistake would count as a metric value of 1
    np = pytest.importorskip("numpy")
    value = np.bool_(True) if kind == "numpy bool" else np.array(True)
    p = lrp.Plateau()
    with pytest.raises(TypeError) as info:
        p.update(value)
    assert str(info.value) == f"Plateau.update(): value must be a number, got {value!r}"
    assert p.state_dict() == lrp.Plateau().state_dict()  # nothing changed


def test_multi_element_tensor_is_refused():
    torch = require("torch")
    with pytest.raises(TypeError, match="single number"):
        lrp.Plateau().update(torch.tensor([1.0, 2.0]))


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"mode": "avg"}, ValueError, "Plateau(): mode must be one of 'min', 'max', got 'avg'"),
        ({"factor": 1.5}, ValueError, "Plateau(): factor must be in (0, 1), got 1.5"),
        ({"factor": 1.0}, ValueError, "Plateau(): factor must be in (0, 1), got 1.0"),
        ({"factor": 0}, ValueError, "Plateau(): factor must be in (0, 1), got 0"),
        ({"factor": math.nan}, ValueError, "Plateau(): factor must be a finite number, got nan"),
        ({"factor": "0.5"}, TypeError, "Plateau(): factor must be a number, got '0.5'"),
        ({"patience": -1}, ValueError, "Plateau(): patience must be >= 0, got -1"),
        ({"patience": 2.0}, TypeError, "Plateau(): patience must be an int, got 2.0"),
        ({"patience": True}, TypeError, "Plateau(): patience must be an int, got True"),
        ({"threshold": -0.1}, ValueError, "Plateau(): threshold must be in [0, 1), got -0.1"),
        ({"threshold": 1.0}, ValueError, "Plateau(): threshold must be in [0, 1), got 1.0"),
        (
            {"threshold": -1, "threshold_mode": "abs"},
            ValueError,
            "Plateau(): threshold must be >= 0, got -1",
        ),
        (
            {"threshold_mode": "relative"},
            ValueError,
            "Plateau(): threshold_mode must be one of 'rel', 'abs', got 'relative'",
        ),
        ({"cooldown": -2}, ValueError, "Plateau(): cooldown must be >= 0, got -2"),
        ({"min_scale": 1.5}, ValueError, "Plateau(): min_scale must be in [0, 1], got 1.5"),
        ({"min_scale": -0.1}, ValueError, "Plateau(): min_scale must be in [0, 1], got -0.1"),
        ({"eps": -1e-8}, ValueError, "Plateau(): eps must be >= 0, got -1e-08"),
        ({"eps": math.inf}, ValueError, "Plateau(): eps must be a finite number, got inf"),
    ],
)
def test_bad_arguments_name_argument_rule_and_value(kwargs, error, message):
    with pytest.raises(error) as info:
        lrp.Plateau(**kwargs)
    assert str(info.value) == message


def test_abs_threshold_may_exceed_one():
    assert lrp.Plateau(threshold=5.0, threshold_mode="abs").to_config()["threshold"] == 5.0


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError):
        lrp.Plateau(min_lr=0.1)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------------
# Config, state, resume
# ------------------------------------------------------------------------------------------------


def test_config_round_trip_and_separate_from_state():
    p = lrp.Plateau("max", 0.5, 3, 0.01, "abs", 2, 0.01, 0.0)
    for x in [1.0, 0.5, 0.5, 0.5, 0.5]:
        p.update(x)
    cfg = p.to_config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg == {
        "mode": "max",
        "factor": 0.5,
        "patience": 3,
        "threshold": 0.01,
        "threshold_mode": "abs",
        "cooldown": 2,
        "min_scale": 0.01,
        "eps": 0.0,
    }
    q = lrp.Plateau.from_config(cfg)
    assert q.to_config() == cfg
    assert q.state_dict() == lrp.Plateau().state_dict()  # config only: a fresh monitor
    assert set(p.state_dict()) == {"scale", "best", "num_bad", "cooldown_left", "num_reductions"}


def test_from_config_refuses_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['patiense'\]"):
        lrp.Plateau.from_config({"patiense": 3})
    with pytest.raises(ValueError, match="factor must be in"):
        lrp.Plateau.from_config({"factor": 2.0})
    with pytest.raises(TypeError, match="config must be a dict"):
        lrp.Plateau.from_config([("factor", 0.5)])  # type: ignore[arg-type]


def test_state_dict_before_any_observation_is_strict_json():
    sd = lrp.Plateau().state_dict()
    assert json.loads(json.dumps(sd, allow_nan=False)) == {
        "scale": 1.0,
        "best": None,
        "num_bad": 0,
        "cooldown_left": 0,
        "num_reductions": 0,
    }


@settings(max_examples=200, deadline=None)
@given(
    params=params_st,
    stream=st.lists(st.one_of(value_st, st.just(math.nan), st.just(-1.5)), min_size=1, max_size=50),
    data=st.data(),
)
def test_resume_from_json_continues_identically(params, stream, data):
    cut = data.draw(st.integers(0, len(stream)))
    whole, _ = our_scales(stream, **params)

    first = lrp.Plateau(**params)
    before = [first.update(x) for x in stream[:cut]]
    saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    config = json.loads(json.dumps(first.to_config()))

    resumed = lrp.Plateau.from_config(config)
    resumed.load_state_dict(saved)
    after = [resumed.update(x) for x in stream[cut:]]
    assert before + after == whole


def test_fresh_monitor_without_the_saved_state_diverges():
    # guards the resume test: the state really matters for what comes next
    stream = [1.0, 1.0, 1.0, 1.0]
    whole, _ = our_scales(stream, patience=2)
    fresh = lrp.Plateau(patience=2)
    fresh.update(1.0)
    assert [fresh.update(x) for x in stream[2:]] != whole[2:]


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"scale": math.nan}, ValueError, "scale must be a finite number"),
        ({"scale": 1.5}, ValueError, "scale must be in [0, 1], got 1.5"),
        ({"best": math.inf}, ValueError, "best must be a finite number, got inf"),
        ({"best": "0.3"}, TypeError, "best must be a number, got '0.3'"),
        ({"num_bad": -1}, ValueError, "num_bad must be >= 0, got -1"),
        ({"cooldown_left": 1.0}, TypeError, "cooldown_left must be an int, got 1.0"),
        ({"num_reductions": None}, TypeError, "num_reductions must be an int, got None"),
        ({"extra": 1}, ValueError, "unknown ['extra']"),
        ({"best": ...}, ValueError, "missing ['best']"),
    ],
)
def test_load_state_dict_validates(change, error, message):
    p = lrp.Plateau()
    sd = p.state_dict()
    for k, val in change.items():
        if val is ...:
            del sd[k]
        else:
            sd[k] = val
    with pytest.raises(error) as info:
        p.load_state_dict(sd)
    assert message in str(info.value)
    assert str(info.value).startswith("Plateau.load_state_dict(): ")
    assert p.state_dict() == lrp.Plateau().state_dict()  # unchanged


def test_repr_shows_non_default_arguments_and_state():
    p = lrp.Plateau(factor=0.5, patience=0)
    p.update(2.0)
    p.update(2.0)
    assert repr(p) == (
        "Plateau(factor=0.5, patience=0) "
        "<scale=0.5, best=2.0, num_bad=0, cooldown_left=0, num_reductions=1>"
    )


def test_read_only_attributes():
    p = lrp.Plateau()
    for name in ["scale", "best", "num_bad", "cooldown_left", "num_reductions"]:
        with pytest.raises(AttributeError):
            setattr(p, name, 0.5)


# ------------------------------------------------------------------------------------------------
# Module hygiene
# ------------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(_plateau, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_module_imports_only_the_standard_library():
    pkg = Path(_plateau.__file__).parent
    for name in ["_plateau.py", "_validate.py"]:
        tree = ast.parse((pkg / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: only the stdlib-only validation helpers
                    assert node.module in {"_validate", None}, (name, node.module)
                    continue
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in sys.stdlib_module_names or root == "__future__", (name, root)


def test_plateau_is_usable_without_any_framework_loaded():
    code = (
        "import sys, lrplugins as lrp; p = lrp.Plateau(patience=0); p.update(1); p.update(1);"
        "bad = [m for m in ('torch', 'numpy', 'keras', 'tensorflow', 'jax') if m in sys.modules];"
        "print(p.scale, bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.1 []"
