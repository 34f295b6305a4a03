"""Which peak LR does each range-test rule suggest, and how good is it on tasks it was not tuned on?

Run by hand in a separate virtual environment (fastai is not needed: its ``valley`` rule is
computed from its definition)::

    python -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -c .ci/constraints.txt torch==2.13.0
    /tmp/benchvenv/bin/pip install -e . torch-lr-finder scikit-learn lightning prodigyopt \\
        dadaptation schedulefree matplotlib numpy
    /tmp/benchvenv/bin/python benchmarks/bench_lr_finder.py --cache cache.json \\
        [--seeds 2] [--json out.json] [--md out.md] [--plot docs/lr_finder.png]

Sixteen small tasks that train in a few seconds on one CPU thread, each with its real schedule
(an lrplugins schedule through ``lrplugins.torch.LRScheduler``), in four sets of four ("halves").
The rules and the confirmation recipe were chosen on the *tuning* half; the *held-out* half (the
four kinds of task of issue 22), the *fresh* half and the *fresh-2* half are reported apart and
played no part in those choices (fresh-2 tests a rule read off the other twelve).

tuning:

- ``digits-mlp``: scikit-learn's handwritten digits, an MLP, AdamW, cosine with 10% warmup,
  batch 32.
- ``digits-cnn``: the digits as 8x8 images, a small CNN (no normalization), SGD with Nesterov
  momentum, one-cycle, batch 64.
- ``diabetes-mlp``: scikit-learn's diabetes regression, a tanh MLP, MSE, Adam, linear decay with
  5% warmup, batch 16.
- ``digits-rows-transformer``: the digits as 8 tokens of 8 pixels, a 2-layer transformer
  encoder with dropout 0.1, Adam, cosine with 5% warmup, batch 64.

held-out:

- ``tabular-mlp``: a synthetic 5-class tabular problem (``make_classification``, 30 features),
  an MLP with dropout 0.2, AdamW, cosine with 10% warmup, batch 64.
- ``friedman-mlp``: the Friedman #1 regression (``make_friedman1``, noise 1), a ReLU MLP, MSE,
  SGD with momentum 0.9, linear decay with 5% warmup, batch 32.
- ``digits-bn-cnn``: the digits, a CNN with BatchNorm, SGD with Nesterov momentum, one-cycle,
  batch 128.
- ``char-transformer``: a 2-layer causal transformer, a character-level language model of the
  dataset descriptions that ship inside scikit-learn; AdamW, cosine with 10% warmup, batch 16.

fresh (added once the two halves above had been measured and the rules fixed; see the
results file): one pass over fresh data, so the final validation loss measures the optimization
and not how much a small data set was overfitted:

- ``teacher-regression``: a random tanh teacher's 4 outputs from 32 Gaussian inputs plus noise,
  a GELU MLP, MSE, Adam, cosine with 5% warmup, batch 64.
- ``teacher-bn-classes``: 10 classes of a random teacher (5% of labels flipped), an MLP with
  BatchNorm, SGD with Nesterov momentum, warmup-stable-decay, batch 128.
- ``markov-transformer``: sequences of a sparse random Markov chain, a 2-layer causal
  transformer, AdamW, linear decay with 10% warmup, batch 32.
- ``signals-cnn``: 8 frequency bands of noisy sine waves, a 1-D CNN with GroupNorm, SGD with
  momentum 0.9, step drops at 50% and 75%, batch 32.

fresh-2 (added once every figure above was known, with the ``knee|edge`` rule read off the twelve
tasks above: the edge for SGD, the knee for Adam and AdamW; written and committed before any of
them was trained):

- ``breast-cancer-mlp``: scikit-learn's breast cancer data, 15 epochs, a ReLU MLP, SGD with
  Nesterov momentum, cosine with 5% warmup, batch 32.
- ``teacher-resmlp``: a random teacher of 16 Gaussian inputs, one pass, a residual MLP with
  LayerNorm, MSE, SGD with momentum 0.9, linear decay with 10% warmup, batch 64.
- ``gru-memory``: a fading sum over 16 steps of Gaussian inputs, one pass, a GRU, MSE, Adam,
  cosine with 5% warmup, batch 64.
- ``sinusoid-mlp``: a damped sine of one input plus noise, 800 samples, 24 epochs, a tanh MLP,
  MSE, AdamW, warmup-stable-decay, batch 32.

Nothing is downloaded. For each task and seed the best peak LR comes from a grid of full
trainings a third of a decade apart (refined by a parabola in log10 LR through the best grid
point and its neighbours). Every approach is scored by ``|log10(suggested / best)|`` (decades
off) and by the final validation loss of a full training at its LR divided by the grid's best
("div": a NaN/inf loss or a final validation loss above the untrained model's). Costs are in
runs (one full training of the task) and epochs; the full training that follows is not counted.

The approaches:

- our range test (``lrplugins.torch.find_lr``, 1e-7 to 10 in 100 steps), scored by every rule of
  its record (``knee``, ``valley``, ``steepest``, ``minimum/10``) and by derived candidates;
- the *confirmation* recipe: after the range test, three short trials (each a compressed copy of
  the task's schedule, a fraction of a run) at LRs around the candidate, the best by final
  training loss (see ``confirm``);
- fastai's ``valley`` (from its definition: its stop at 4x the lowest smoothed loss, its
  trimming, its rule), Lightning ``Tuner.lr_find().suggestion()`` and torch-lr-finder
  ``range_test`` + ``plot(suggest_lr=True)`` as shipped (their own sweeps);
- no search at all: the optimizer's default LR under the task's schedule, Prodigy and
  D-Adaptation under the task's schedule with ``lr=1``, schedule-free AdamW at its defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins._finder import LRFinder
from lrplugins.torch import LRScheduler, find_lr

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
logging.getLogger("lightning").setLevel(logging.ERROR)

MIN_LR, MAX_LR, SWEEP = 1e-7, 10.0, 100


# ----------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------


@dataclass
class Task:
    name: str
    half: str  # "tuning", "held-out", "fresh" or "fresh-2"
    train: TensorDataset
    val: TensorDataset
    model: Callable[[], nn.Module]
    family: str  # "adamw", "adam", "sgd" (momentum 0.9) or "nesterov"
    weight_decay: float
    schedule: Callable[[int], lrp.Schedule]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch: int
    epochs: int
    grid: list[float]
    betas: tuple[float, float] = (0.9, 0.999)
    about: str = ""

    def optimizer(self, params: Any, lr: float) -> torch.optim.Optimizer:
        if self.family == "adamw":
            return torch.optim.AdamW(
                params, lr=lr, betas=self.betas, weight_decay=self.weight_decay
            )
        if self.family == "adam":
            return torch.optim.Adam(params, lr=lr, betas=self.betas, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=0.9,
            nesterov=self.family == "nesterov",
            weight_decay=self.weight_decay,
        )

    @property
    def default_lr(self) -> float:
        """The optimizer's own default LR (torch 2.x: 1e-3 for Adam, AdamW and SGD)."""
        probe = self.optimizer([nn.Parameter(torch.zeros(1))], 1.0)
        return float(type(probe).__init__.__defaults__[0])  # type: ignore[index]

    def loader(self, seed: int) -> DataLoader:
        g = torch.Generator().manual_seed(seed)
        return DataLoader(self.train, batch_size=self.batch, shuffle=True, generator=g)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train) / self.batch)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def _grid(lo: float, hi: float) -> list[float]:
    """LRs a third of a decade apart from 10**lo to 10**hi."""
    return [10 ** (k / 3) for k in range(round(lo * 3), round(hi * 3) + 1)]


def _split(n: int, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(0).permutation(n)
    return perm[n_val:], perm[:n_val]


def _digits(shape: tuple[int, ...]) -> tuple[TensorDataset, TensorDataset]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0 - 0.5).astype(np.float32) / 0.5
    y = d.target.astype(np.int64)
    tr, va = _split(len(x), 360)
    xt = torch.from_numpy(x).reshape(shape)
    yt = torch.from_numpy(y)
    return TensorDataset(xt[tr], yt[tr]), TensorDataset(xt[va], yt[va])


def digits_mlp() -> Task:
    train, val = _digits((-1, 64))
    return Task(
        "digits-mlp",
        "tuning",
        train,
        val,
        model=lambda: nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)),
        family="adamw",
        weight_decay=0.01,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="10%"),
        loss=nn.functional.cross_entropy,
        batch=32,
        epochs=5,
        grid=_grid(-4, -0.33),
        about="digits, MLP, AdamW, cosine 10% warmup, batch 32",
    )


def digits_cnn() -> Task:
    train, val = _digits((-1, 1, 8, 8))
    return Task(
        "digits-cnn",
        "tuning",
        train,
        val,
        model=lambda: nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 16, 10),
        ),
        family="nesterov",
        weight_decay=5e-4,
        schedule=lambda n: lrp.one_cycle(total_steps=n),
        loss=nn.functional.cross_entropy,
        batch=64,
        epochs=10,
        grid=_grid(-3, 0.67),
        about="digits, CNN, SGD Nesterov, one-cycle, batch 64",
    )


def diabetes_mlp() -> Task:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    x = d.data.astype(np.float32)
    y = d.target.astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    tr, va = _split(len(x), 88)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).unsqueeze(1)
    return Task(
        "diabetes-mlp",
        "tuning",
        TensorDataset(xt[tr], yt[tr]),
        TensorDataset(xt[va], yt[va]),
        model=lambda: nn.Sequential(
            nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
        ),
        family="adam",
        weight_decay=0.0,
        schedule=lambda n: lrp.linear(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.mse_loss,
        batch=16,
        epochs=12,
        grid=_grid(-4.33, -0.33),
        about="diabetes regression, tanh MLP, MSE, Adam, linear 5% warmup, batch 16",
    )


class RowsTransformer(nn.Module):
    """An 8x8 digit as 8 tokens (its rows), a 2-layer transformer encoder, mean-pooled."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.inp = nn.Linear(8, d)
        self.pos = nn.Parameter(torch.randn(8, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, 4, 2 * d, dropout=0.1, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.inp(x) + self.pos)
        return self.head(self.norm(h).mean(1))


def digits_rows_transformer() -> Task:
    train, val = _digits((-1, 8, 8))
    return Task(
        "digits-rows-transformer",
        "tuning",
        train,
        val,
        model=RowsTransformer,
        family="adam",
        weight_decay=0.0,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.cross_entropy,
        batch=64,
        epochs=10,
        grid=_grid(-4, -0.33),
        about="digits as 8 row tokens, 2-layer transformer, dropout 0.1, Adam, cosine 5% "
        "warmup, batch 64",
    )


def tabular_mlp() -> Task:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=4000,
        n_features=30,
        n_informative=12,
        n_redundant=6,
        n_classes=5,
        n_clusters_per_class=2,
        class_sep=1.0,
        flip_y=0.03,
        random_state=0,
    )
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    tr, va = _split(len(x), 800)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    return Task(
        "tabular-mlp",
        "held-out",
        TensorDataset(xt[tr], yt[tr]),
        TensorDataset(xt[va], yt[va]),
        model=lambda: nn.Sequential(
            nn.Linear(30, 256),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(256, 5),
        ),
        family="adamw",
        weight_decay=0.05,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="10%"),
        loss=nn.functional.cross_entropy,
        batch=64,
        epochs=5,
        grid=_grid(-4.33, -0.33),
        about="synthetic 5-class tabular, MLP with dropout 0.2, AdamW, cosine 10% warmup, batch 64",
    )


def friedman_mlp() -> Task:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=3000, noise=1.0, random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    y = ((y - y.mean()) / y.std()).astype(np.float32)
    tr, va = _split(len(x), 600)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).unsqueeze(1)
    return Task(
        "friedman-mlp",
        "held-out",
        TensorDataset(xt[tr], yt[tr]),
        TensorDataset(xt[va], yt[va]),
        model=lambda: nn.Sequential(
            nn.Linear(10, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)
        ),
        family="sgd",
        weight_decay=0.0,
        schedule=lambda n: lrp.linear(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.mse_loss,
        batch=32,
        epochs=4,
        grid=_grid(-3.67, 0.33),
        about="Friedman #1 regression, ReLU MLP, MSE, SGD momentum 0.9, linear 5% warmup, batch 32",
    )


def digits_bn_cnn() -> Task:
    train, val = _digits((-1, 1, 8, 8))
    return Task(
        "digits-bn-cnn",
        "held-out",
        train,
        val,
        model=lambda: nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 16, 10),
        ),
        family="nesterov",
        weight_decay=5e-4,
        schedule=lambda n: lrp.one_cycle(total_steps=n),
        loss=nn.functional.cross_entropy,
        batch=128,
        epochs=20,
        grid=_grid(-3, 1),
        about="digits, CNN with BatchNorm, SGD Nesterov, one-cycle, batch 128",
    )


class CharTransformer(nn.Module):
    def __init__(self, vocab: int, ctx: int, d: int = 48, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(ctx, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, 4, 4 * d, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(ctx))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.tok(x) + self.pos[:t]
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def _seq_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def char_transformer() -> Task:
    import glob

    import sklearn

    folder = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")
    files = sorted(glob.glob(f"{folder}/*.rst"))
    text = "".join(Path(f).read_text(encoding="utf-8") for f in files)
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text], dtype=torch.int64)
    ctx, stride = 32, 16
    cut = int(0.9 * len(ids))

    def windows(a: torch.Tensor) -> TensorDataset:
        starts = range(0, len(a) - ctx - 1, stride)
        w = torch.stack([a[s : s + ctx + 1] for s in starts])
        return TensorDataset(w[:, :-1], w[:, 1:])

    vocab = len(chars)
    return Task(
        "char-transformer",
        "held-out",
        windows(ids[:cut]),
        windows(ids[cut:]),
        model=lambda: CharTransformer(vocab, ctx),
        family="adamw",
        weight_decay=0.1,
        betas=(0.9, 0.95),
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="10%"),
        loss=_seq_loss,
        batch=16,
        epochs=2,
        grid=_grid(-3.67, -0.67),
        about="character LM on scikit-learn's dataset descriptions, 2-layer causal "
        "transformer, AdamW, cosine 10% warmup, batch 16",
    )


# ----------------------------------------------------------------------------------------------
# The fresh half: one pass over fresh data (added after the other two halves were measured)
# ----------------------------------------------------------------------------------------------
#
# Every training sample is seen once (epochs=1 over exactly total_steps * batch samples) and the
# validation set is fresh draws from the same generator, so the final validation loss measures
# how far the optimization got, not how much a small data set was overfitted. Defined, and
# committed, before any of them was trained; no rule or setting was changed after.


def _teacher(seed: int, d_in: int, d_out: int, width: int = 64) -> Callable[[torch.Tensor], Any]:
    """A fixed random two-layer tanh network: the function the students learn."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(d_in, width, generator=g) / math.sqrt(d_in)
    w2 = torch.randn(width, d_out, generator=g) / math.sqrt(width)
    return lambda x: torch.tanh(x @ w1) @ w2


def _one_pass(updates: int, batch: int, n_val: int = 4000) -> tuple[int, int]:
    return updates * batch, updates * batch + n_val


def teacher_regression() -> Task:
    n, total = _one_pass(500, 64)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(total, 32, generator=g)
    y = _teacher(2, 32, 4)(x) + 0.1 * torch.randn(total, 4, generator=g)
    return Task(
        "teacher-regression",
        "fresh",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: nn.Sequential(
            nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 4)
        ),
        family="adam",
        weight_decay=0.0,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.mse_loss,
        batch=64,
        epochs=1,
        grid=_grid(-4.33, -0.33),
        about="a random tanh teacher's 4 outputs from 32 Gaussian inputs plus noise, one pass, "
        "GELU MLP, MSE, Adam, cosine 5% warmup, batch 64",
    )


def teacher_bn_classes() -> Task:
    n, total = _one_pass(400, 128)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(total, 24, generator=g)
    y = _teacher(4, 24, 10)(x).argmax(1)
    flip = torch.rand(total, generator=g) < 0.05
    y = torch.where(flip, torch.randint(0, 10, (total,), generator=g), y)
    return Task(
        "teacher-bn-classes",
        "fresh",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: nn.Sequential(
            nn.Linear(24, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, 10),
        ),
        family="nesterov",
        weight_decay=5e-4,
        schedule=lambda n: lrp.wsd(total_steps=n, warmup_steps="5%", decay_steps="20%"),
        loss=nn.functional.cross_entropy,
        batch=128,
        epochs=1,
        grid=_grid(-3.0, 1.0),
        about="10 classes of a random teacher (5% labels flipped), one pass, MLP with BatchNorm, "
        "SGD + Nesterov, warmup-stable-decay, batch 128",
    )


def markov_transformer() -> Task:
    updates, batch, ctx, vocab = 400, 32, 32, 16
    n, total = _one_pass(updates, batch, 512)
    g = torch.Generator().manual_seed(5)
    # a sparse random Markov chain: each token has a few likely successors
    logits = torch.randn(vocab, vocab, generator=g) * 2.5
    probs = torch.softmax(logits, 1)
    seq = torch.empty(total, ctx + 1, dtype=torch.int64)
    seq[:, 0] = torch.randint(0, vocab, (total,), generator=g)
    for i in range(ctx):
        seq[:, i + 1] = torch.multinomial(probs[seq[:, i]], 1, generator=g)[:, 0]
    x, y = seq[:, :-1], seq[:, 1:]
    return Task(
        "markov-transformer",
        "fresh",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: CharTransformer(vocab, ctx, d=32),
        family="adamw",
        weight_decay=0.1,
        betas=(0.9, 0.95),
        schedule=lambda n: lrp.linear(total_steps=n, warmup_steps="10%"),
        loss=_seq_loss,
        batch=batch,
        epochs=1,
        grid=_grid(-4.0, 0.0),
        about="sequences of a sparse random Markov chain (16 tokens, context 32), one pass, "
        "2-layer causal transformer, AdamW, linear decay 10% warmup, batch 32",
    )


def signals_cnn() -> Task:
    updates, batch, length = 500, 32, 64
    n, total = _one_pass(updates, batch)
    g = torch.Generator().manual_seed(7)
    y = torch.randint(0, 8, (total,), generator=g)
    t = torch.arange(length, dtype=torch.float32)
    freq = 0.04 + 0.03 * y[:, None].float() + 0.01 * torch.randn(total, 1, generator=g)
    phase = 2 * math.pi * torch.rand(total, 1, generator=g)
    x = torch.sin(2 * math.pi * freq * t + phase) + 0.8 * torch.randn(total, length, generator=g)
    x = x[:, None, :]
    return Task(
        "signals-cnn",
        "fresh",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2),
            nn.GroupNorm(4, 16),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2),
            nn.GroupNorm(4, 32),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(32, 8),
        ),
        family="sgd",
        weight_decay=1e-4,
        schedule=lambda n: lrp.multistep(milestones=("50%", "75%"), gamma=0.1, total_steps=n),
        loss=nn.functional.cross_entropy,
        batch=batch,
        epochs=1,
        grid=_grid(-3.0, 1.0),
        about="8 frequency bands of noisy sine waves (length 64), one pass, 1-D CNN with "
        "GroupNorm, SGD momentum 0.9, step drops at 50% and 75%, batch 32",
    )


# ----------------------------------------------------------------------------------------------
# The second fresh half: a prospective test of the "knee|edge" rule (added after every figure of
# the three halves above was known)
# ----------------------------------------------------------------------------------------------
#
# The rule "knee|edge" (the edge, i.e. the lag-free curve's lowest point, for SGD with or without
# momentum; the knee for Adam and AdamW) was read off all twelve tasks above, against each task's
# reference over its seeds. These four tasks, two of each kind of optimizer, two small data sets
# trained for many epochs and two one-pass tasks, were written and committed, with the rule,
# before any of them was trained; nothing was changed after.


def breast_cancer_mlp() -> Task:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    x = d.data.astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    tr, va = _split(len(x), 114)
    xt, yt = torch.from_numpy(x), torch.from_numpy(d.target.astype(np.int64))
    return Task(
        "breast-cancer-mlp",
        "fresh-2",
        TensorDataset(xt[tr], yt[tr]),
        TensorDataset(xt[va], yt[va]),
        model=lambda: nn.Sequential(
            nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
        ),
        family="nesterov",
        weight_decay=5e-4,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.cross_entropy,
        batch=32,
        epochs=15,
        grid=_grid(-3.33, 1.0),
        about="scikit-learn's breast cancer data (455 training samples), 15 epochs, ReLU MLP, "
        "SGD + Nesterov, cosine 5% warmup, batch 32",
    )


class ResMLP(nn.Module):
    """Pre-norm residual MLP blocks (LayerNorm, Linear, GELU, Linear) between two linear maps."""

    def __init__(self, d_in: int, d: int = 64, blocks: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def teacher_resmlp() -> Task:
    n, total = _one_pass(400, 64)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(total, 16, generator=g)
    y = _teacher(10, 16, 1)(x) + 0.05 * torch.randn(total, 1, generator=g)
    return Task(
        "teacher-resmlp",
        "fresh-2",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: ResMLP(16),
        family="sgd",
        weight_decay=0.0,
        schedule=lambda n: lrp.linear(total_steps=n, warmup_steps="10%"),
        loss=nn.functional.mse_loss,
        batch=64,
        epochs=1,
        grid=_grid(-3.33, 1.0),
        about="a random tanh teacher of 16 Gaussian inputs plus noise, one pass, residual MLP "
        "with LayerNorm, MSE, SGD momentum 0.9, linear decay 10% warmup, batch 64",
    )


class GRURegressor(nn.Module):
    def __init__(self, d_in: int, d: int = 48) -> None:
        super().__init__()
        self.gru = nn.GRU(d_in, d, batch_first=True)
        self.head = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][:, -1])


def gru_memory() -> Task:
    n, total = _one_pass(300, 64)
    length, d_in = 16, 4
    g = torch.Generator().manual_seed(11)
    x = torch.randn(total, length, d_in, generator=g)
    w = torch.randn(d_in, generator=g)
    fade = 0.8 ** torch.arange(length - 1, -1, -1, dtype=torch.float32)
    y = (torch.tanh(x @ w) * fade).sum(1, keepdim=True)  # a fading memory of the sequence
    return Task(
        "gru-memory",
        "fresh-2",
        TensorDataset(x[:n], y[:n]),
        TensorDataset(x[n:], y[n:]),
        model=lambda: GRURegressor(d_in),
        family="adam",
        weight_decay=0.0,
        schedule=lambda n: lrp.cosine(total_steps=n, warmup_steps="5%"),
        loss=nn.functional.mse_loss,
        batch=64,
        epochs=1,
        grid=_grid(-4.33, 0.0),
        about="a fading sum over 16 steps of 4 Gaussian inputs, one pass, GRU, MSE, Adam, "
        "cosine 5% warmup, batch 64",
    )


def sinusoid_mlp() -> Task:
    g = torch.Generator().manual_seed(13)
    x = 8 * torch.rand(1200, 1, generator=g) - 4
    y = torch.sin(2 * x) * torch.exp(-(x**2) / 8) + 0.1 * torch.randn(1200, 1, generator=g)
    return Task(
        "sinusoid-mlp",
        "fresh-2",
        TensorDataset(x[:800], y[:800]),
        TensorDataset(x[800:], y[800:]),
        model=lambda: nn.Sequential(
            nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
        ),
        family="adamw",
        weight_decay=0.01,
        schedule=lambda n: lrp.wsd(total_steps=n, warmup_steps="10%", decay_steps="20%"),
        loss=nn.functional.mse_loss,
        batch=32,
        epochs=24,
        grid=_grid(-4.33, 0.0),
        about="a damped sine of one input plus noise (800 training samples), 24 epochs, tanh "
        "MLP, MSE, AdamW, warmup-stable-decay, batch 32",
    )


TASKS: dict[str, Callable[[], Task]] = {
    "digits-mlp": digits_mlp,
    "digits-cnn": digits_cnn,
    "diabetes-mlp": diabetes_mlp,
    "digits-rows-transformer": digits_rows_transformer,
    "tabular-mlp": tabular_mlp,
    "friedman-mlp": friedman_mlp,
    "digits-bn-cnn": digits_bn_cnn,
    "char-transformer": char_transformer,
    "teacher-regression": teacher_regression,
    "teacher-bn-classes": teacher_bn_classes,
    "markov-transformer": markov_transformer,
    "signals-cnn": signals_cnn,
    "breast-cancer-mlp": breast_cancer_mlp,
    "teacher-resmlp": teacher_resmlp,
    "gru-memory": gru_memory,
    "sinusoid-mlp": sinusoid_mlp,
}


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def _model(task: Task, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return task.model()


@torch.no_grad()
def evaluate(task: Task, model: nn.Module) -> float:
    was = model.training
    model.eval()
    x, y = task.val.tensors
    total, n = 0.0, 0
    for i in range(0, len(x), 256):
        out = model(x[i : i + 256])
        total += float(task.loss(out, y[i : i + 256])) * len(x[i : i + 256])
        n += len(x[i : i + 256])
    model.train(was)
    return total / n


def _batches(task: Task, seed: int):  # type: ignore[no-untyped-def]
    loader = task.loader(seed)  # one generator: a new shuffle every epoch
    while True:
        yield from loader


CACHE: dict[str, list[float]] = {}


def train(
    task: Task, seed: int, lr: float, *, steps: int | None = None, opt: str = "task"
) -> float:
    """Final validation loss of a training at peak LR ``lr`` (inf when it diverged).

    ``steps=None`` is the full run; otherwise a short trial of ``steps`` updates with the task's
    schedule compressed to them. ``opt`` is ``"task"`` or one of the learning-rate-free
    optimizers (``lr`` is then their ``lr``).
    """
    return run(task, seed, lr, steps=steps, opt=opt)[0]


def run(
    task: Task, seed: int, lr: float, *, steps: int | None = None, opt: str = "task"
) -> list[float]:
    """``[final validation loss, mean training loss of the last 10% of updates]``, cached."""
    key = f"{task.name}/{seed}/{opt}/{steps}/{lr!r}"
    if key not in CACHE:
        CACHE[key] = _run(task, seed, lr, steps or task.total_steps, opt)
    return CACHE[key]


def _lr_free(task: Task, opt: str, params: Any) -> torch.optim.Optimizer:
    if opt == "prodigy":
        from prodigyopt import Prodigy

        return Prodigy(
            params,
            lr=1.0,
            betas=task.betas,
            weight_decay=task.weight_decay,
            decouple=task.family != "adam",
        )
    if opt == "dadapt":
        import dadaptation

        if task.family in ("adam", "adamw"):
            return dadaptation.DAdaptAdam(
                params,
                lr=1.0,
                betas=task.betas,
                weight_decay=task.weight_decay,
                decouple=task.family == "adamw",
            )
        return dadaptation.DAdaptSGD(params, lr=1.0, momentum=0.9, weight_decay=task.weight_decay)
    if opt == "schedulefree":
        import schedulefree

        return schedulefree.AdamWScheduleFree(params)  # its defaults: lr 0.0025, no warmup
    raise ValueError(opt)


def _run(task: Task, seed: int, lr: float, steps: int, opt: str) -> list[float]:
    model = _model(task, seed)
    start = evaluate(task, model)
    params = list(model.parameters())
    optimizer = task.optimizer(params, lr) if opt == "task" else _lr_free(task, opt, params)
    sched = None if opt == "schedulefree" else LRScheduler(optimizer, task.schedule(steps))
    if opt == "schedulefree":
        optimizer.train()  # type: ignore[attr-defined]
    tail_from = steps - max(1, steps // 10)
    tail: list[float] = []
    batches = _batches(task, seed)
    for step in range(steps):
        x, y = next(batches)
        loss = task.loss(model(x), y)
        if not torch.isfinite(loss):
            return [math.inf, math.inf]
        if step >= tail_from:
            tail.append(float(loss))
        optimizer.zero_grad()
        loss.backward()
        try:
            optimizer.step()
        except ZeroDivisionError:  # DAdaptSGD when its first step has LR 0 (a warmup from 0)
            return [math.nan, math.nan]
        if sched is not None:
            sched.step()
    if opt == "schedulefree":
        optimizer.eval()  # type: ignore[attr-defined]
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            with torch.no_grad():  # BatchNorm statistics for the averaged weights (its README)
                for _ in range(20):
                    model(next(batches)[0])
    final = evaluate(task, model)
    ok = math.isfinite(final) and final < start
    return [final if ok else math.inf, statistics.fmean(tail) if ok else math.inf]


def best_lr(
    task: Task, seed: int, steps: int | None = None
) -> tuple[float, float, dict[float, float]]:
    """The grid's best peak LR (parabola-refined in log10 LR), its loss, and the grid; ``steps``:
    of short trials (the schedule compressed to them) instead of full runs."""
    grid = {lr: train(task, seed, lr, steps=steps) for lr in task.grid}
    lrs = list(grid)
    k = min(range(len(lrs)), key=lambda i: grid[lrs[i]])
    best = lrs[k]
    if 0 < k < len(lrs) - 1 and all(math.isfinite(grid[lrs[i]]) for i in (k - 1, k, k + 1)):
        x = [math.log10(lrs[i]) for i in (k - 1, k, k + 1)]
        y = [grid[lrs[i]] for i in (k - 1, k, k + 1)]
        a, b, _ = np.polyfit(x, y, 2)
        if a > 0:
            best = 10 ** float(np.clip(-b / (2 * a), x[0], x[2]))
    return best, grid[lrs[k]], grid


# ----------------------------------------------------------------------------------------------
# Range tests: ours, fastai's valley from its definition, Lightning and torch-lr-finder
# ----------------------------------------------------------------------------------------------


def full_sweep(task: Task, seed: int) -> dict[str, Any]:
    """Our range test without its divergence stop (all 100 steps or a NaN), as a record.

    Training is deterministic, so the record our default stop would have made is this one cut
    where that stop fires (``LRFinder.from_dict`` replays it), and fastai's is this one cut
    where fastai's stop fires: one sweep serves both, each charged its own steps.
    """
    key = f"sweep/{task.name}/{seed}"
    if key not in CACHE:
        model = _model(task, seed)
        opt = task.optimizer(model.parameters(), 1.0)
        finder = find_lr(
            model,
            opt,
            task.loader(seed),
            task.loss,
            min_lr=MIN_LR,
            max_lr=MAX_LR,
            steps=SWEEP,
            diverge=None,
        )
        CACHE[key] = finder.to_dict()  # type: ignore[assignment]
    return CACHE[key]  # type: ignore[return-value]


def ours(task: Task, seed: int) -> LRFinder:
    """Our range test as shipped (``diverge=0.5``): the full sweep replayed up to its stop."""
    record = dict(full_sweep(task, seed))
    record["config"] = {**record["config"], "diverge": 0.5}
    return LRFinder.from_dict(record)


def fastai_valley(task: Task, seed: int) -> tuple[float | None, int]:
    """fastai's ``lr_find`` suggestion ``valley``, from its definition, and its steps.

    fastai stops once the smoothed loss (the same bias-corrected moving average, beta 0.98)
    exceeds 4 times its lowest, drops the first ``num_it // 10`` and the last 5 points, and
    takes 2/3 along the middle third of the longest decreasing subsequence (our ``valley``
    rule, which the unit tests check against fastai's loop).
    """
    from lrplugins._finder import _valley_index

    record = full_sweep(task, seed)
    lrs, sm = record["lrs"], record["smoothed"]
    best, n = math.inf, len(lrs)
    for i, s in enumerate(sm):
        if s is None or not math.isfinite(s):
            n = i + 1
            break
        if i == 0 or s < best:
            best = s
        if s > 4 * best:
            n = i + 1
            break
    lo, hi = SWEEP // 10, n - 5
    pts = [(lr, s) for lr, s in zip(lrs[lo:hi], sm[lo:hi]) if s is not None]
    if len(pts) < 2:
        return None, n
    return pts[_valley_index([s for _, s in pts])][0], n


def lightning_lr_find(task: Task, seed: int) -> tuple[float | None, int]:
    import lightning.pytorch as pl
    from lightning.pytorch.tuner import Tuner

    class Lit(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _model(task, seed)
            self.lr = 1.0

        def training_step(self, batch: Any, idx: int) -> torch.Tensor:
            x, y = batch
            return task.loss(self.net(x), y)

        def configure_optimizers(self) -> Any:
            return task.optimizer(self.parameters(), self.lr)

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        trainer = pl.Trainer(
            max_epochs=1000,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
            default_root_dir=tmp,
        )
        res = Tuner(trainer).lr_find(
            Lit(),
            train_dataloaders=task.loader(seed),
            min_lr=MIN_LR,
            max_lr=MAX_LR,
            num_training=SWEEP,
        )
    if res is None:
        return None, SWEEP
    return res.suggestion(), len(res.results["lr"])


def torch_lr_finder(task: Task, seed: int) -> tuple[float | None, int]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder as TLF

    model = _model(task, seed)
    opt = task.optimizer(model.parameters(), MIN_LR)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        tlf = TLF(model, opt, task.loss, device="cpu")
        tlf.range_test(task.loader(seed), start_lr=MIN_LR, end_lr=MAX_LR, num_iter=SWEEP)
        steps = len(tlf.history["lr"])
        fig, ax = plt.subplots()
        try:
            _, lr = tlf.plot(ax=ax, suggest_lr=True)
        except (RuntimeError, ValueError):  # too few points to suggest
            lr = None
        plt.close(fig)
        tlf.reset()
    return (None if lr is None else float(lr)), steps


def shipped(task: Task, seed: int, name: str) -> tuple[float | None, int]:
    key = f"shipped/{name}/{task.name}/{seed}"
    if key not in CACHE:
        fn = lightning_lr_find if name == "lightning" else torch_lr_finder
        CACHE[key] = list(fn(task, seed))  # type: ignore[arg-type]
    lr, steps = CACHE[key]
    return lr, int(steps)


# ----------------------------------------------------------------------------------------------
# Confirmation: a few short trials around the range test's candidate
# ----------------------------------------------------------------------------------------------

# Chosen on the tuning half (see RESULTS_lr_finder.md): which candidate, how far apart the
# trials are (decades), how long each is (a fraction of the full run), how they are scored, and
# the correction for short trials preferring larger LRs than the full run (decades).
CONFIRM = {
    "anchor": "knee",
    "spread": 1 / 3,
    "fraction": 0.1,
    "points": 3,
    "score": "train",
    "shift": -1 / 6,
}


def confirm(
    task: Task,
    seed: int,
    anchor_lr: float,
    *,
    spread: float,
    fraction: float,
    points: int,
    score: str,
    shift: float,
) -> tuple[float, int]:
    """The measured best of ``points`` short trials around ``anchor_lr``, and their updates.

    Trial ``k`` trains from the same initial weights for ``fraction`` of the run's updates with
    the task's schedule compressed to them, at ``anchor_lr * 10 ** (spread * (k - (points -
    1) / 2))``, and is scored by its mean training loss over its last 10% of updates
    (``score="train"``, what any training loop has) or by its final validation loss
    (``score="val"``). A diverged trial scores inf. The best trial's LR is refined by a
    parabola in log10 LR through it and its neighbours (clamped to them); when the best is at
    either end, it is that end. The result is that LR times ``10 ** shift``: a trial of a tenth
    of the run reaches its lowest loss at a larger LR than the full run does (on the tuning
    half, 0.2 decades larger on average), and a full run at some LRs the trials still liked
    diverged.
    """
    steps = max(10, round(fraction * task.total_steps))
    offsets = [spread * (k - (points - 1) / 2) for k in range(points)]
    lrs = [anchor_lr * 10**o for o in offsets]
    scores = [run(task, seed, lr, steps=steps)[0 if score == "val" else 1] for lr in lrs]
    k = min(range(points), key=scores.__getitem__)
    best = lrs[k]
    if 0 < k < points - 1 and all(math.isfinite(scores[i]) for i in (k - 1, k, k + 1)):
        x = [math.log10(lrs[i]) for i in (k - 1, k, k + 1)]
        a, b, _ = np.polyfit(x, [scores[i] for i in (k - 1, k, k + 1)], 2)
        if a > 0:
            best = 10 ** float(np.clip(-b / (2 * a), x[0], x[2]))
    return best * 10**shift, steps * points


# ----------------------------------------------------------------------------------------------
# Short trainings (--horizons): does the best LR of a compressed run predict the full run's?
# ----------------------------------------------------------------------------------------------

HORIZONS = (1 / 16, 1 / 8, 1 / 4)


def horizons(tasks: list[Task], seeds: list[int]) -> str:
    """The best peak LR of the task's whole grid trained with its schedule compressed to a
    fraction ``f`` of the run's updates, against the full runs' best: per task, and as a rule
    (the best at ``f`` times the tuning half's mean ratio) scored on every half. Each grid at
    ``f`` costs ``len(grid) * f`` runs: more than issue 22's 1.1 runs from ``f = 1/8`` on, and
    more points than a search within that budget could train, so its error is what such a search
    could reach at best, not by chance."""
    rows = []
    for task in tasks:
        for seed in seeds:
            full = math.log10(best_lr(task, seed)[0])
            d = {}
            for f in HORIZONS:
                steps = max(10, round(f * task.total_steps))
                d[f] = full - math.log10(best_lr(task, seed, steps)[0])
            rows.append((task, d))
    head = " | ".join(f"f = 1/{round(1 / f)}" for f in HORIZONS)
    lines = [
        (
            "log10(full runs' best / best at f), mean over seeds (positive: the full run wants "
            "a larger LR):"
        ),
        "",
        f"| task | half | {head} | grid cost at each f (runs) |",
        "| --- | --- |" + " --- |" * len(HORIZONS) + " --- |",
    ]
    for task in tasks:
        ds = [d for t, d in rows if t is task]
        cells = " | ".join(f"{statistics.fmean(d[f] for d in ds):+.2f}" for f in HORIZONS)
        cost = ", ".join(f"{len(task.grid) * f:.2g}" for f in HORIZONS)
        lines.append(f"| {task.name} | {task.half} | {cells} | {cost} |")
    halves = list(dict.fromkeys(t.half for t, _ in rows))
    lines += [
        "",
        (
            "The rule `best at f, times the tuning half's mean ratio`, per half: mean / worst "
            "|log10(lr / best)| over its task-seeds; and the ratio's spread over all task-seeds:"
        ),
        "",
        "| f | shift (tuning) | " + " | ".join(halves) + " | sd over all |",
        "| --- | --- |" + " --- |" * len(halves) + " --- |",
    ]
    for f in HORIZONS:
        tuning = [d[f] for t, d in rows if t.half == "tuning"]
        shift = statistics.fmean(tuning) if tuning else 0.0
        cells = []
        for half in halves:
            errs = [abs(d[f] - shift) for t, d in rows if t.half == half]
            cells.append(f"{statistics.fmean(errs):.2f} / {max(errs):.2f}")
        spread = statistics.pstdev([d[f] for _, d in rows])
        lines.append(
            f"| 1/{round(1 / f)} | {shift:+.2f} | " + " | ".join(cells) + f" | {spread:.2f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The search on the tuning half (--search): rule variants and confirmation settings
# ----------------------------------------------------------------------------------------------


def variants(finder: LRFinder) -> dict[str, float]:
    """Candidate suggestions read from one record (the lag-free curve's knee at other
    fractions, its edge divided by 1..10, its steepest point, geometric means of two rules)."""
    out = {k: v for k, v in finder.suggestions.items() if v is not None}
    curve = finder.lag_free()
    lrs = finder.lrs[: len(curve)]
    start = min(finder._skip(), len(curve) - 3)
    low = min(range(start, len(curve)), key=curve.__getitem__)
    ref = finder._ref if finder._ref is not None else curve[start]
    for frac in (0.05, 0.2, 0.3, 0.5):
        i, threshold = low, curve[low] + frac * max(ref - curve[low], 0.0)
        while i > start and curve[i - 1] <= threshold:
            i -= 1
        out[f"knee at {frac:.0%}"] = lrs[i]
    for k in (1, 3, 10):
        out["edge" if k == 1 else f"edge/{k}"] = lrs[low] / k
    if low - start >= 2:
        xs = np.log(np.array(lrs[start : low + 1]))
        g = np.gradient(np.array(curve[start : low + 1]), xs)
        out["steepest of lag-free"] = lrs[start + int(np.argmin(g))]
    if "steepest" in out and "minimum/10" in out:
        out["sqrt(steepest * minimum/10)"] = math.sqrt(out["steepest"] * out["minimum/10"])
    out["sqrt(knee * edge)"] = math.sqrt(out["knee"] * lrs[low])
    return out


def _grid_ratio(task: Task, seed: int, lr: float, best_loss: float) -> float:
    """The validation loss at ``lr`` read off the grid (linear in log10 LR), over the best."""
    grid = {g: train(task, seed, g) for g in task.grid}
    x = math.log10(lr)
    xs = [math.log10(g) for g in grid]
    if not xs[0] <= x <= xs[-1]:
        return math.inf
    ys = [v if math.isfinite(v) else 1e9 for v in grid.values()]
    return float(np.interp(x, xs, ys)) / best_loss


def search(tasks: list[Task], seeds: list[int]) -> str:
    """Rule variants and confirmation settings on the given (tuning) tasks; a markdown report.

    Confirmation trials run on a ladder a sixth of a decade apart (every setting reads its
    trials from it, the candidate rounded to the ladder), so their validation loss is read
    off the grid (``_grid_ratio``), not trained: a screening figure.
    """
    cases = []
    for task in tasks:
        for seed in seeds:
            best, best_loss, _ = best_lr(task, seed)
            finder = ours(task, seed)
            cases.append((task, seed, best, best_loss, finder, variants(finder)))
    lines = [
        "Rule variants on the range test's record (cost: the sweep, 0.30-0.39 runs):",
        "",
        "| variant | mean \\|log10(lr/best)\\| | worst | mean signed | val/best worst (from grid) |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = []
    for name in cases[0][5]:
        errs = [math.log10(c[5][name] / c[2]) for c in cases if name in c[5]]
        ratios = [_grid_ratio(c[0], c[1], c[5][name], c[3]) for c in cases if name in c[5]]
        rows.append((statistics.fmean(map(abs, errs)), name, errs, ratios))
    for mean, name, errs, ratios in sorted(rows):
        lines.append(
            f"| {name} | {mean:.2f} | {max(map(abs, errs)):.2f} | {statistics.fmean(errs):+.2f} "
            f"| {_fmt_ratio(max(ratios))} |"
        )

    def trial(task: Task, seed: int, x6: int, fraction: float, score: str) -> float:
        steps = max(10, round(fraction * task.total_steps))
        return run(task, seed, 10 ** (x6 / 6), steps=steps)[0 if score == "val" else 1]

    settings = []
    for anchor in ("knee", "edge"):
        for spread6 in (2, 3):
            for points in (3, 5):
                for fraction in (0.05, 0.1, 0.2):
                    for score in ("train", "val"):
                        for shift6 in (-2, -1, 0):
                            for expand in (False, True):
                                settings.append(
                                    (anchor, spread6, points, fraction, score, shift6, expand)
                                )
    found = []
    for anchor, spread6, points, fraction, score, shift6, expand in settings:
        errs, ratios, costs = [], [], []
        for task, seed, best, best_loss, finder, cand in cases:
            a6 = round(math.log10(cand[anchor]) * 6)
            x6s = [a6 + spread6 * (k - (points - 1) // 2) for k in range(points)]
            scores = [trial(task, seed, x, fraction, score) for x in x6s]
            k = min(range(points), key=scores.__getitem__)
            if expand and k in (0, points - 1):
                x6s.insert(0, x6s[0] - spread6) if k == 0 else x6s.append(x6s[-1] + spread6)
                scores = [trial(task, seed, x, fraction, score) for x in x6s]
                k = min(range(len(x6s)), key=scores.__getitem__)
            lr = 10 ** (x6s[k] / 6)
            if 0 < k < len(x6s) - 1 and all(math.isfinite(scores[i]) for i in (k - 1, k, k + 1)):
                x = [x6s[i] / 6 for i in (k - 1, k, k + 1)]
                a, b, _ = np.polyfit(x, [scores[i] for i in (k - 1, k, k + 1)], 2)
                if a > 0:
                    lr = 10 ** float(np.clip(-b / (2 * a), x[0], x[2]))
            lr *= 10 ** (shift6 / 6)
            errs.append(math.log10(lr / best))
            ratios.append(_grid_ratio(task, seed, lr, best_loss))
            steps = max(10, round(fraction * task.total_steps))
            costs.append((len(finder.lrs) + len(x6s) * steps) / task.total_steps)
        found.append(
            (
                max(ratios),
                statistics.fmean(map(abs, errs)),
                max(map(abs, errs)),
                statistics.fmean(errs),
                max(costs),
                (anchor, spread6, points, fraction, score, shift6, expand),
            )
        )
    header = (
        "| candidate | spread | trials | each (runs) | scored by | shift | one more trial "
        "outward | val/best worst (from grid) | mean error | worst | mean signed | cost "
        "(runs) |"
    )
    lines += [
        "",
        "Confirmation settings: the 15 best by worst val/best, then mean error, of those "
        + "costing <= 1.1 runs; then the chosen one, and it without its shift:",
        "",
        header,
        "|" + " --- |" * 12,
    ]
    chosen = (
        CONFIRM["anchor"],
        round(6 * CONFIRM["spread"]),
        CONFIRM["points"],
        CONFIRM["fraction"],
        CONFIRM["score"],
        round(6 * CONFIRM["shift"]),
        False,
    )
    unshifted = chosen[:5] + (0, False)
    ok = sorted((f for f in found if f[4] <= 1.1), key=lambda f: (f[0], f[1]))
    shown = ok[:15] + [f for f in found if f[5] in (chosen, unshifted)]
    for ratio, mean, worst, signed, cost, cfg in shown:
        anchor, spread6, points, fraction, score, shift6, expand = cfg
        mark = " (chosen)" if cfg == chosen else ""
        lines.append(
            f"| {anchor}{mark} | {spread6}/6 | {points} | {fraction} | {score} | {shift6}/6 | "
            f"{'yes' if expand else 'no'} | {_fmt_ratio(ratio)} | {mean:.2f} | {worst:.2f} | "
            f"{signed:+.2f} | {cost:.2f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------

RULES = ["knee", "valley", "steepest", "minimum/10"]


def approaches(task: Task, seed: int) -> dict[str, tuple[float | None, float, str]]:
    """Every approach's LR (or None), its search cost in updates, and which optimizer trains.

    ``"task"`` trains with the task's optimizer at the LR; the learning-rate-free rows train
    with their own optimizer (the LR column is then theirs, not comparable).
    """
    finder = ours(task, seed)
    n = len(finder.lrs)
    out: dict[str, tuple[float | None, float, str]] = {}
    for rule in RULES:
        out[f"ours:{rule}"] = (finder.suggestions[rule], n, "task")
    # the prospective rule of the second fresh half: the edge for SGD, the knee for Adam(W)
    sgd = task.family in ("sgd", "nesterov")
    out["ours:knee|edge"] = (finder.edge() if sgd else finder.knee(), n, "task")
    c = dict(CONFIRM)
    anchor = finder.suggestions[str(c.pop("anchor"))]
    if anchor is not None:
        lr, trial_steps = confirm(task, seed, anchor, **c)  # type: ignore[arg-type]
        out["ours:knee+confirm"] = (lr, n + trial_steps, "task")
    out["fastai-valley"] = (*fastai_valley(task, seed), "task")
    for name in ("lightning", "torch-lr-finder"):
        lr, steps = shipped(task, seed, name)
        out[name] = (lr, steps, "task")
    out["default-lr"] = (task.default_lr, 0, "task")
    for opt in ("prodigy", "dadapt", "schedulefree"):
        out[opt] = (1.0 if opt != "schedulefree" else 0.0025, 0, opt)
    return out


ROWS = [
    ("grid of full trainings (reference)", "grid"),
    ("ours: knee + confirmation (recipe)", "ours:knee+confirm"),
    ("ours: knee (the default rule)", "ours:knee"),
    ("ours: knee or edge (edge for SGD, knee for Adam)", "ours:knee|edge"),
    ("ours: valley", "ours:valley"),
    ("ours: steepest", "ours:steepest"),
    ("ours: minimum/10", "ours:minimum/10"),
    ("fastai valley (its definition)", "fastai-valley"),
    ("Lightning Tuner.lr_find (shipped)", "lightning"),
    ("torch-lr-finder (shipped)", "torch-lr-finder"),
    ("optimizer's default LR", "default-lr"),
    ("Prodigy, lr=1 + schedule", "prodigy"),
    ("D-Adaptation, lr=1 + schedule", "dadapt"),
    ("schedule-free AdamW, defaults", "schedulefree"),
]
LR_FREE = {"prodigy", "dadapt", "schedulefree"}


def prepare(task: Task, seed: int) -> None:
    """What no choice depends on: the grid, the sweeps, the shipped tools, the no-search rows."""
    best_lr(task, seed)
    full_sweep(task, seed)
    for name in ("lightning", "torch-lr-finder"):
        shipped(task, seed, name)
    train(task, seed, task.default_lr)
    for opt in ("prodigy", "dadapt"):
        train(task, seed, 1.0, opt=opt)
    train(task, seed, 0.0025, opt="schedulefree")


def run_one(task: Task, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.time()
    best, best_loss, grid = best_lr(task, seed)
    found = approaches(task, seed)
    # the reference: the grid's own answer, trained again at its parabola-refined LR (how
    # close to the grid's best loss the best LR itself gets: the noise floor of "within 5%")
    found["grid"] = (best, len(task.grid) * task.total_steps, "task")
    sugg, loss, cost = {}, {}, {}
    for key, (lr, steps, opt) in found.items():
        sugg[key] = lr
        cost[key] = steps / task.total_steps
        loss[key] = None if lr is None else train(task, seed, lr, opt=opt)
    log(
        f"  {task.name} seed {seed}: best {best:.3g} (val {best_loss:.4f}) "
        f"in {time.time() - t0:.0f}s; "
        + ", ".join(f"{k} {v:.2g}" for k, v in sugg.items() if v is not None and k not in LR_FREE)
    )
    return {
        "task": task.name,
        "half": task.half,
        "seed": seed,
        "best": best,
        "best_loss": best_loss,
        "epochs": task.epochs,
        "steps_per_epoch": task.steps_per_epoch,
        "grid": {repr(k): v for k, v in grid.items()},
        "suggestions": sugg,
        "losses": loss,
        "cost_runs": cost,
        "record": ours(task, seed).to_dict(),
    }


def _err(r: dict[str, Any], key: str) -> float | None:
    lr = r["suggestions"].get(key)
    if lr is None or key in LR_FREE:
        return None
    return abs(math.log10(lr / r["best"]))


def _ratio(r: dict[str, Any], key: str) -> float:
    loss = r["losses"].get(key)
    if loss is None or math.isnan(loss):
        return math.nan  # no suggestion, or the optimizer raised
    if not math.isfinite(loss):
        return math.inf
    return loss / r["best_loss"]


def _worst(xs: list[float]) -> float:
    """The largest, NaN (an optimizer that raised) first."""
    return math.nan if any(math.isnan(x) for x in xs) else max(xs)


def _fmt_ratio(x: float) -> str:
    if math.isnan(x):
        return "err"
    return "div" if not math.isfinite(x) else f"{x:.2f}"


def table(results: list[dict[str, Any]], half: str) -> str:
    rs = [r for r in results if r["half"] == half]
    tasks = list(dict.fromkeys(r["task"] for r in rs))
    head = (
        "| approach | search cost: runs (epochs) | mean \\|log10(lr/best)\\| | worst | "
        + " | ".join(f"{t}: decades, val/best" for t in tasks)
        + " | val/best worst | within 5% | diverged |"
    )
    lines = [head, "|" + " --- |" * (len(tasks) + 7)]
    for label, key in ROWS:
        errs = [e for r in rs if (e := _err(r, key)) is not None]
        ratios = [_ratio(r, key) for r in rs]
        runs = [r["cost_runs"][key] for r in rs]
        epochs = [r["cost_runs"][key] * r["epochs"] for r in rs]
        cells = []
        for t in tasks:
            tr = [r for r in rs if r["task"] == t]
            te = [e for r in tr if (e := _err(r, key)) is not None]
            tq = [_ratio(r, key) for r in tr]
            e_txt = "-" if key in LR_FREE else (f"{statistics.fmean(te):.2f}" if te else "n/a")
            cells.append(f"{e_txt}, {_fmt_ratio(_worst(tq))}")
        within = sum(1 for x in ratios if x <= 1.05)
        div = sum(1 for x in ratios if math.isinf(x))
        mean_e = f"**{statistics.fmean(errs):.2f}**" if errs else "-"
        worst_e = f"{max(errs):.2f}" if errs else "-"
        cost = (
            "0 (the training itself)"
            if max(runs) == 0
            else f"{min(runs):.2f}-{max(runs):.2f} ({min(epochs):.1f}-{max(epochs):.1f})"
        )
        lines.append(
            f"| {label} | {cost} | {mean_e} | {worst_e} | "
            + " | ".join(cells)
            + f" | {_fmt_ratio(_worst(ratios))} | {within} of {len(ratios)} | {div} |"
        )
    return "\n".join(lines)


def noise(results: list[dict[str, Any]], half: str) -> str:
    """How well a half's reference is determined: each task's best peak LR per seed, how far
    apart the seeds put it, and the grid's own answer trained again (val/best)."""
    rs = [r for r in results if r["half"] == half]
    head = "| task | best peak LR per seed | seeds apart (decades) | knee per seed | grid's best "
    lines = [head + "trained again: val/best |", "| --- | --- | --- | --- | --- |"]
    for t in dict.fromkeys(r["task"] for r in rs):
        tr = [r for r in rs if r["task"] == t]
        logs = [math.log10(r["best"]) for r in tr]
        lines.append(
            f"| {t} | "
            + ", ".join(f"{r['best']:.3g}" for r in tr)
            + f" | {max(logs) - min(logs):.2f} | "
            + ", ".join(f"{r['suggestions']['ours:knee']:.3g}" for r in tr)
            + " | "
            + ", ".join(_fmt_ratio(_ratio(r, "grid")) for r in tr)
            + " |"
        )
    return "\n".join(lines)


def _task_reference(tr: list[dict[str, Any]]) -> tuple[float, float]:
    """One task's reference from all its seeds: the peak LR where the seeds' mean final
    validation loss is lowest (parabola-refined in log10 LR, as per seed) and that lowest mean.
    A grid point where any seed diverged counts as diverged."""
    grids = [{float(k): v for k, v in r["grid"].items()} for r in tr]
    lrs = sorted(set(grids[0]).intersection(*grids[1:]))
    mean = [
        statistics.fmean(g[lr] if math.isfinite(g[lr]) else math.inf for g in grids) for lr in lrs
    ]
    k = min(range(len(lrs)), key=mean.__getitem__)
    best = lrs[k]
    if 0 < k < len(lrs) - 1 and all(math.isfinite(mean[i]) for i in (k - 1, k, k + 1)):
        x = [math.log10(lrs[i]) for i in (k - 1, k, k + 1)]
        a, b, _ = np.polyfit(x, mean[k - 1 : k + 2], 2)
        if a > 0:
            best = 10 ** float(np.clip(-b / (2 * a), x[0], x[2]))
    return best, mean[k]


def per_task(results: list[dict[str, Any]], half: str) -> tuple[str, dict[str, str]]:
    """The same approaches against each task's reference over its seeds (:func:`_task_reference`)
    instead of each seed's own grid: decades off that LR (each seed's suggestion), and each
    task's mean final validation loss over its seeds over the reference's. A per-seed best is
    the minimum of a noisy curve; this one averages the noise of the data order and the
    initial weights out. Returns the table and, per approach, the goal's verdict on it."""
    rs = [r for r in results if r["half"] == half]
    tasks = list(dict.fromkeys(r["task"] for r in rs))
    refs = {t: _task_reference([r for r in rs if r["task"] == t]) for t in tasks}
    head = (
        "| approach | mean \\|log10(lr/task best)\\| | worst | "
        + " | ".join(f"{t}: decades, val/best" for t in tasks)
        + " | val/best worst | tasks within 5% |"
    )
    lines = [head, "|" + " --- |" * (len(tasks) + 5)]
    verdicts = {}
    for label, key in ROWS:
        if key == "grid":
            continue
        errs, ratios, cells = [], [], []
        for t in tasks:
            best, best_loss = refs[t]
            tr = [r for r in rs if r["task"] == t]
            te = [abs(math.log10(r["suggestions"][key] / best)) for r in tr if key not in LR_FREE]
            losses = [r["losses"].get(key) for r in tr]
            q = (
                math.nan
                if any(x is None or math.isnan(x) for x in losses)
                else statistics.fmean(losses) / best_loss
            )
            errs += te
            ratios.append(q)
            cells.append(
                f"{statistics.fmean(te):.2f}, {_fmt_ratio(q)}" if te else f"-, {_fmt_ratio(q)}"
            )
        within = sum(1 for x in ratios if x <= 1.05)
        lines.append(
            f"| {label} | "
            + (f"**{statistics.fmean(errs):.2f}** | {max(errs):.2f} | " if errs else "- | - | ")
            + " | ".join(cells)
            + f" | {_fmt_ratio(_worst(ratios))} | {within} of {len(tasks)} |"
        )
        if errs:
            checks = {
                f"mean error {statistics.fmean(errs):.2f} <= 0.3": statistics.fmean(errs) <= 0.3,
                f"worst {max(errs):.2f} <= 0.5": max(errs) <= 0.5,
                f"val loss worst {_worst(ratios):.3f}x <= 1.05x": _worst(ratios) <= 1.05,
            }
            verdicts[key] = f"{'PASS' if all(checks.values()) else 'FAIL'}: " + "; ".join(
                f"{k} {'met' if v else 'NOT met'}" for k, v in checks.items()
            )
    refs_line = (
        "Each task's reference (best peak LR over its seeds, its mean val loss): "
        + ", ".join(f"{t} {b:.3g} ({v:.4g})" for t, (b, v) in refs.items())
    )
    return refs_line + "\n\n" + "\n".join(lines), verdicts


def goal(results: list[dict[str, Any]], key: str, half: str = "held-out") -> str:
    """The issue's bar on one half: mean error <= 0.3, worst <= 0.5, every val loss within 5%
    of the grid's best, none diverged, search cost <= 1.1 runs."""
    rs = [r for r in results if r["half"] == half]
    errs = [e for r in rs if (e := _err(r, key)) is not None]
    ratios = [_ratio(r, key) for r in rs]
    runs = max(r["cost_runs"][key] for r in rs)
    checks = {
        f"mean error {statistics.fmean(errs):.2f} <= 0.3": statistics.fmean(errs) <= 0.3,
        f"worst {max(errs):.2f} <= 0.5": max(errs) <= 0.5,
        f"val loss worst {_worst(ratios):.3f}x <= 1.05x": _worst(ratios) <= 1.05,
        "none diverged": not any(math.isinf(x) for x in ratios),
        f"cost {runs:.2f} runs <= 1.1": runs <= 1.1,
    }
    passed = all(checks.values())
    return f"{'PASS' if passed else 'FAIL'}: " + "; ".join(
        f"{k} {'met' if v else 'NOT met'}" for k, v in checks.items()
    )


def plot(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = next((r for r in results if r["task"] == "char-transformer"), results[0])
    finder = LRFinder.from_dict(r["record"])
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    finder.plot(ax)
    ax.axvline(
        r["best"],
        color="tab:purple",
        linestyle=":",
        linewidth=1.4,
        label=f"best peak LR by grid: {r['best']:.2g}",
    )
    ax.legend(fontsize="small")
    ax.set_title(
        f"lrplugins range test: {r['task']} (seed {r['seed']}), "
        f"{len(finder.lrs)} steps, stop: {finder.stop_reason}",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cpu() -> str:
    """The CPU's model name where the system says it (trainings differ across CPUs in their last
    bits, and chaotic ones by more: see the results file), else the architecture."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{platform.machine()} ({line.split(':', 1)[1].strip()})"
    return platform.processor() or platform.machine()


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return (
        f"{_cpu()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end; "
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread"
    )


def make(name: str, scale: int = 1) -> Task:
    """Task ``name``, trained ``scale`` times as many epochs (named ``name@x<scale>``)."""
    task = TASKS[name]()
    if scale != 1:
        task.epochs *= scale
        task.name = f"{name}@x{scale}"
    return task


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2, help="how many seeds per task (default 2)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--json", help="write every number (grids, suggestions, records) here")
    p.add_argument("--md", help="write the markdown tables and verdicts here")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="only fill the cache with what no choice depends on (grids, sweeps, the shipped "
        "tools, the no-search rows) and print nothing about them",
    )
    p.add_argument(
        "--search",
        nargs="*",
        choices=("tuning", "held-out"),
        help="also print the search of rule variants and confirmation settings on these halves "
        "(default: tuning; about 70 extra short trials per task-seed). On the held-out half it "
        "is hindsight: what the best settings there would have been, not a held-out figure",
    )
    p.add_argument(
        "--horizons",
        action="store_true",
        help="also print how the best LR of short trainings (the whole grid, each task's schedule "
        "compressed to 1/16, 1/8, 1/4 of its updates) compares with the full runs' (about 6 "
        "runs' worth of extra training per task-seed)",
    )
    p.add_argument(
        "--scale",
        type=int,
        default=1,
        help="train every task this many times as many epochs (its name gets '@xN', so the cache "
        "keeps both); the side check of the results file used --scale 6 --seeds 2",
    )
    p.add_argument("--plot", help="save the picture of our range test on char-transformer here")
    p.add_argument(
        "--cache",
        help="JSON file of finished trainings and sweeps, read and extended (reruns skip them; "
        "delete it after changing a task)",
    )
    args = p.parse_args(argv)
    if args.cache and os.path.exists(args.cache):
        with open(args.cache) as fh:
            CACHE.update(json.load(fh))
    t0 = time.time()
    results = []
    for name in args.tasks:
        task = make(name, args.scale)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if args.prepare:
                prepare(task, seed)
                if args.cache:
                    with open(args.cache, "w") as fh:
                        json.dump(CACHE, fh)
                print(
                    f"  {task.name} seed {seed}: prepared at {time.time() - t0:.0f} s", flush=True
                )
                continue
            results.append(run_one(task, seed, lambda s: print(s, flush=True)))
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(results, fh, indent=1)
            if args.cache:
                with open(args.cache, "w") as fh:
                    json.dump(CACHE, fh)
    if args.prepare:
        return 0
    if args.plot:
        plot(results, args.plot)
    parts = []
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for half in ["tuning"] if args.search == [] else args.search or []:
        chosen = [make(n, args.scale) for n in args.tasks if TASKS[n]().half == half]
        title = (
            "The search on the tuning half"
            if half == "tuning"
            else ("Hindsight: the same search on the held-out half (not a held-out figure)")
        )
        parts.append(f"### {title}\n\n" + search(chosen, seeds))
    if args.horizons:
        chosen = [make(n, args.scale) for n in args.tasks]
        parts.append("### Short trainings as a search\n\n" + horizons(chosen, seeds))
    for half in ("fresh-2", "fresh", "held-out", "tuning"):
        if any(r["half"] == half for r in results):
            parts.append(f"### {half} tasks\n\n" + table(results, half))
            parts.append(f"The reference's noise ({half}):\n\n" + noise(results, half))
            for key in ("ours:knee+confirm", "ours:knee", "ours:knee|edge"):
                parts.append(f"GOAL ({half}, {key}): " + goal(results, key, half))
            text, verdicts = per_task(results, half)
            parts.append(f"Against each task's reference over its seeds ({half}):\n\n" + text)
            for key in ("ours:knee+confirm", "ours:knee", "ours:knee|edge"):
                parts.append(f"GOAL per task ({half}, {key}): " + verdicts[key])
    parts.append(
        f"{len(results)} task-seeds in {time.time() - t0:.0f} s ({len(CACHE)} cached "
        f"trainings and sweeps); {machine()}"
    )
    out = "\n\n".join(parts)
    print()
    print(out)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
