"""layer_decay_groups: layer ids, scales and weight decay as timm, BEiT/MAE and transformers define
them; refusals; the scales a real optimizer trains with."""

from __future__ import annotations

import warnings

import pytest

import lrplugins as lrp
from conftest import require

torch = require("torch")
from lrplugins.torch import LRScheduler, layer_decay_groups

nn = torch.nn


class TinyViT(nn.Module):
    """timm's VisionTransformer parameter names, group_matcher and no_weight_decay (depth 2)."""

    def __init__(self, global_pool: str = "token", depth: int = 2, dim: int = 8) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, 2, 2)
        self.blocks = nn.Sequential(
            *(
                nn.ModuleDict(
                    {
                        "norm1": nn.LayerNorm(dim),
                        "attn": nn.Linear(dim, dim),
                        "mlp": nn.Linear(dim, dim),
                    }
                )
                for _ in range(depth)
            )
        )
        use_fc_norm = global_pool == "avg"  # as timm: the final norm moves after the pooling
        self.norm = nn.Identity() if use_fc_norm else nn.LayerNorm(dim)
        self.fc_norm = nn.LayerNorm(dim) if use_fc_norm else nn.Identity()
        self.head = nn.Linear(dim, 3)

    def group_matcher(self, coarse: bool = False) -> dict:  # timm vision_transformer.py
        return {
            "stem": r"^cls_token|pos_embed|patch_embed",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }

    def no_weight_decay(self) -> set:
        return {"pos_embed", "cls_token", "dist_token"}


def table(model, groups):
    """name -> (scale, weight decay) of the group that holds each parameter."""
    where = {id(p): g for g in groups for p in g["params"]}
    return {
        n: (where[id(p)]["layer_scale"], where[id(p)]["weight_decay"])
        for n, p in model.named_parameters()
        if id(p) in where
    }


def timm_definition(model, weight_decay=0.05, layer_decay=0.5):
    """timm.optim.param_groups_layer_decay's (scale, wd) per name, written from its definition
    for this model (stem 0, blocks.k k + 1 with the final norm on the last block, head the top),
    so CI checks the table even where timm does not import."""
    depth = len(model.blocks)
    top = depth + 1
    out = {}
    for name, p in model.named_parameters():
        if name.startswith(("cls_token", "pos_embed", "patch_embed")):
            layer = 0
        elif name.startswith("blocks."):
            layer = int(name.split(".")[1]) + 1
        elif name.startswith("norm"):
            layer = depth  # (1, 99999) joins the last block
        else:
            layer = top  # fc_norm, head: unmatched
        no_wd = p.ndim == 1 or name in model.no_weight_decay()
        out[name] = (layer_decay ** (top - layer), 0.0 if no_wd else weight_decay)
    return out


@pytest.mark.parametrize("pool", ["token", "avg"])
def test_timm_numbering_scales_and_weight_decay(pool):
    model = TinyViT(global_pool=pool)
    groups = layer_decay_groups(model, 1.0, 0.5, weight_decay=0.05, no_decay="timm")
    got = table(model, groups)
    assert got == timm_definition(model)
    assert got["patch_embed.proj.weight"] == (0.125, 0.05)
    assert got["blocks.0.attn.weight"][0] == 0.25 and got["blocks.1.attn.weight"][0] == 0.5
    assert got["cls_token"] == (0.125, 0.0) and got["head.weight"] == (1.0, 0.05)
    final = "norm.weight" if pool == "token" else "fc_norm.weight"
    assert got[final] == ((0.5, 0.0) if pool == "token" else (1.0, 0.0))
    assert [g["name"] for g in groups] == [
        f"layer_{i}_{kind}" for i in range(4) for kind in ("decay", "no_decay")
    ]
    assert all(g["lr"] == g["layer_scale"] for g in groups)  # lr=1.0: the scale is baked in


def test_equal_to_timm_where_timm_imports():
    try:
        from timm.models import VisionTransformer
        from timm.optim import param_groups_layer_decay
    except Exception as exc:  # noqa: BLE001 - timm needs a torchvision that matches torch
        pytest.skip(
            f"timm does not import here ({type(exc).__name__}: {exc}); the table from its definition is tested above"
        )
    for pool in ("token", "avg"):
        model = VisionTransformer(
            img_size=8,
            patch_size=4,
            embed_dim=8,
            depth=2,
            num_heads=2,
            num_classes=3,
            global_pool=pool,
        )
        theirs = param_groups_layer_decay(
            model, weight_decay=0.05, no_weight_decay_list=model.no_weight_decay(), layer_decay=0.5
        )
        ours = layer_decay_groups(model, 1.0, 0.5, weight_decay=0.05, no_decay="timm")
        expected = {}
        for g in theirs:
            for p in g["params"]:
                expected[id(p)] = (g["lr_scale"], g["weight_decay"])
        assert table(model, ours) == {n: expected[id(p)] for n, p in model.named_parameters()}


def test_beit_numbering_puts_the_final_norm_with_the_head():
    model = TinyViT()
    got = table(model, layer_decay_groups(model, 1.0, 0.5, layers="beit"))
    assert got["patch_embed.proj.weight"][0] == 0.125
    assert got["blocks.0.attn.weight"][0] == 0.25 and got["blocks.1.mlp.weight"][0] == 0.5
    assert got["norm.weight"][0] == 1.0 and got["head.weight"][0] == 1.0


class TinyBEiT(nn.Module):
    """BEiT's VisionTransformer parameter names (unilm beit/modeling_finetune.py), depth 3:
    a mask_token beside cls_token and pos_embed."""

    def __init__(self, depth: int = 3, dim: int = 8) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, 2, 2)
        self.blocks = nn.ModuleList(nn.Linear(dim, dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 3)


def beit_definition(model, layer_decay=0.5):
    """BEiT's get_num_layer_for_vit (unilm beit/optim_factory.py) written from its definition,
    with num_max_layer = depth + 2 and scale layer_decay ** (num_max_layer - 1 - layer)."""
    num_max_layer = len(model.blocks) + 2
    out = {}
    for name, _ in model.named_parameters():
        if name in ("cls_token", "mask_token", "pos_embed") or name.startswith("patch_embed"):
            layer = 0
        elif name.startswith("rel_pos_bias"):
            layer = num_max_layer - 1
        elif name.startswith("blocks"):
            layer = int(name.split(".")[1]) + 1
        else:
            layer = num_max_layer - 1
        out[name] = layer_decay ** (num_max_layer - 1 - layer)
    return out


def test_beit_numbering_is_beits_own_rule_mask_token_included():
    model = TinyBEiT()
    got = table(model, layer_decay_groups(model, 1.0, 0.5, layers="beit"))
    assert {n: scale for n, (scale, _) in got.items()} == beit_definition(model)
    assert got["mask_token"][0] == got["cls_token"][0] == 0.5**4  # layer 0, not the head


def test_no_decay_hf_is_transformers_own_rule():
    transformers = require("transformers")
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
    )
    model = transformers.BertForSequenceClassification(config)
    decayed = set(transformers.Trainer.get_decay_parameter_names(None, model))

    def bert_layer(name: str) -> int:
        if ".embeddings." in f".{name}":
            return 0
        if ".layer." in name:
            return int(name.split(".layer.")[1].split(".")[0]) + 1
        return 3

    groups = layer_decay_groups(
        model, 1.0, 0.8, weight_decay=0.01, layers=bert_layer, no_decay="hf"
    )
    got = table(model, groups)
    assert {n for n, (_, wd) in got.items() if wd == 0.0} == {
        n for n, _ in model.named_parameters() if n not in decayed
    }
    assert got["bert.embeddings.word_embeddings.weight"][0] == pytest.approx(0.8**3)


def test_frozen_parameters_are_left_out_but_count_for_the_depth():
    model = TinyViT()
    model.head.requires_grad_(False)
    groups = layer_decay_groups(model, 1.0, 0.5)
    assert all(p is not model.head.weight for g in groups for p in g["params"])
    assert table(model, groups)["blocks.1.attn.weight"][0] == 0.5  # the head is still the top


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"decay": 0.0}, ValueError, r"decay must be in \(0, 1\], got 0.0"),
        ({"decay": 1.5}, ValueError, r"decay must be in \(0, 1\], got 1.5"),
        ({"decay": 0.5, "no_decay": "bias"}, ValueError, r"no_decay must be .* got 'bias'"),
        ({"decay": 0.5, "layers": "vit"}, ValueError, r"layers must be None, 'beit'"),
        (
            {"decay": 0.5, "layers": [(r"blocks", 1)]},
            ValueError,
            r"no rule of layers places .*'cls_token'",
        ),
    ],
)
def test_refusals_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        layer_decay_groups(TinyViT(), 1.0, **kwargs)


def test_a_model_without_group_matcher_is_refused_listing_the_other_ways():
    with pytest.raises(
        ValueError, match=r"group_matcher.*layers='beit'.*\(regex, layer id\).*callable"
    ):
        layer_decay_groups(nn.Linear(2, 2), 1.0, 0.5)


def test_a_tied_tensor_with_two_layer_ids_is_refused_naming_both():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.head.weight = self.embed.weight

    with pytest.raises(
        ValueError, match=r"'embed.weight' \(layer 0\) and 'head.weight' \(layer 1\)"
    ):
        layer_decay_groups(Tied(), 1.0, 0.5, layers=[(r"embed", 0), (r"head", 1)])
    groups = layer_decay_groups(Tied(), 1.0, 0.5, layers=[(r"embed", 0), (r"head", 0)])
    assert sum(len(g["params"]) for g in groups) == 1


def test_the_optimizer_trains_each_group_at_base_times_scale_times_the_schedule():
    torch.manual_seed(0)
    model = TinyViT()
    groups = layer_decay_groups(model, 1e-3, 0.5, weight_decay=0.05, no_decay="timm")
    opt = torch.optim.AdamW(groups)
    s = lrp.cosine(warmup_steps=2)
    sched = LRScheduler(opt, s).bind(total_steps=6)
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    x = torch.randn(4, 3, 4, 4)
    for _ in range(6):
        opt.zero_grad()
        feats = model.patch_embed.proj(x).flatten(2).mean(-1)
        for block in model.blocks:
            feats = block["mlp"](block["attn"](block["norm1"](feats)))
        model.head(
            model.norm(feats) + model.cls_token[0, 0] + model.pos_embed[0, 0]
        ).sum().backward()
        opt.step()
        sched.step()
    bound = s.bind(total_steps=6)
    assert seen == [[1e-3 * g["layer_scale"] * bound(u) for g in groups] for u in range(6)]


# ------------------------------------------------------------------------------------------------
# timm's CosineLRScheduler on timm's own groups (lr_scale): the LR of every group at every update
# ------------------------------------------------------------------------------------------------

# warmup 3 updates from warmup_lr_init, then a cosine over t_initial = 7 updates to lr_min (timm's
# warmup_prefix=True: the cosine starts after the warmup), 3 updates past the end on the floor
COS_LR, WARMUP_T, T_INITIAL, WARMUP_LR_INIT, LR_MIN, UPDATES = 1e-3, 3, 7, 1e-4, 2e-5, 13


def timm_groups(model):
    """timm.optim.param_groups_layer_decay's groups for this model, from its definition (the table
    above): every group at the optimizer's lr, the layer's factor in ``lr_scale``."""
    groups = {}
    for name, p in model.named_parameters():
        scale, wd = timm_definition(model)[name]
        groups.setdefault((scale, wd), {"lr_scale": scale, "weight_decay": wd, "params": []})
        groups[(scale, wd)]["params"].append(p)
    return list(groups.values())


def timm_cosine_lrs(lr_scales, t):
    """timm's CosineLRScheduler(t_initial, lr_min, warmup_t, warmup_lr_init, warmup_prefix=True,
    t_in_epochs=False) at update ``t``, written out from timm/scheduler/cosine_lr.py ``_get_lr``
    (timm 1.0) and scheduler.py ``update_groups``:

        t < warmup_t:  v = warmup_lr_init + t * (base - warmup_lr_init) / warmup_t
        else:          t -= warmup_t;  i = t // t_initial;  t_curr = t - t_initial * i
                       v = lr_min + 0.5 * (base - lr_min) * (1 + cos(pi * t_curr / t_initial))
                           if i < cycle_limit (1) else lr_min
        group["lr"] = v * group["lr_scale"]

    with ``base`` the group's initial lr (every group's is the optimizer's lr in timm's groups), so
    the warmup start and the floor are scaled by the group too."""
    import math

    if t < WARMUP_T:
        v = WARMUP_LR_INIT + t * (COS_LR - WARMUP_LR_INIT) / WARMUP_T
    else:
        t -= WARMUP_T
        i = t // T_INITIAL
        t_curr = t - T_INITIAL * i
        cos = 1 + math.cos(math.pi * t_curr / T_INITIAL)
        v = LR_MIN + 0.5 * (COS_LR - LR_MIN) * cos if i < 1 else LR_MIN
    return [v * f for f in lr_scales]


def our_cosine():
    """The same schedule in lrplugins: multipliers of each group's base lr * lr_scale."""
    return lrp.cosine(
        total_steps=WARMUP_T + T_INITIAL,
        warmup_steps=WARMUP_T,
        warmup_start=WARMUP_LR_INIT / COS_LR,
        final=LR_MIN / COS_LR,
    )


def train_vit(model, opt, after_update):
    """UPDATES AdamW updates of a tiny ViT-like forward; each group's lr read at every step()."""
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8)
    for u in range(UPDATES):
        opt.zero_grad()
        model(x).float().pow(2).mean().backward()
        opt.step()
        after_update(u)
    return seen


def test_lr_scale_groups_follow_timms_cosine_scheduler_as_timm_defines_it():
    class Vit(TinyViT):
        def forward(self, x):
            feats = self.patch_embed.proj(x[:, :, :2, :2]).flatten(1)
            for block in self.blocks:
                feats = block["mlp"](block["attn"](block["norm1"](feats)))
            return self.head(self.norm(feats) + self.cls_token[0, 0] + self.pos_embed[0, 0])

    model = Vit()
    groups = timm_groups(model)
    scales = [g["lr_scale"] for g in groups]
    assert sorted(set(scales)) == [0.125, 0.25, 0.5, 1.0]
    opt = torch.optim.AdamW(groups, lr=COS_LR)
    sched = LRScheduler(opt, our_cosine())
    seen = train_vit(model, opt, lambda u: sched.step())
    for t, lrs in enumerate(seen):
        assert lrs == pytest.approx(timm_cosine_lrs(scales, t), rel=1e-12), f"update {t}"
    assert seen[0][0] == pytest.approx(WARMUP_LR_INIT * 0.125, rel=1e-12)  # warmup start scaled
    assert seen[-1][0] == pytest.approx(LR_MIN * 0.125, rel=1e-12)  # and the floor


def test_equal_to_timms_cosine_scheduler_where_timm_imports():
    try:
        from timm.models import VisionTransformer
        from timm.optim import param_groups_layer_decay
        from timm.scheduler import CosineLRScheduler
    except Exception as exc:  # noqa: BLE001 - timm needs a torchvision that matches torch
        pytest.skip(
            f"timm does not import here ({type(exc).__name__}: {exc}); the same sequence from "
            "timm's definition is tested above"
        )

    def run(ours):
        torch.manual_seed(0)
        model = VisionTransformer(
            img_size=8, patch_size=4, embed_dim=8, depth=2, num_heads=2, num_classes=3
        )
        groups = param_groups_layer_decay(
            model, weight_decay=0.05, no_weight_decay_list=model.no_weight_decay(), layer_decay=0.5
        )
        opt = torch.optim.AdamW(groups, lr=COS_LR)
        if ours:
            sched = LRScheduler(opt, our_cosine())
            return train_vit(model, opt, lambda u: sched.step())
        timm_sched = CosineLRScheduler(
            opt,
            t_initial=T_INITIAL,
            lr_min=LR_MIN,
            warmup_t=WARMUP_T,
            warmup_lr_init=WARMUP_LR_INIT,
            warmup_prefix=True,
            t_in_epochs=False,
        )
        return train_vit(model, opt, lambda u: timm_sched.step_update(num_updates=u + 1))

    theirs, ours = run(False), run(True)
    assert len(theirs) == len(ours) == UPDATES
    assert len({round(lr, 12) for lr in theirs[1]}) == 4  # four layer scales
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert a == pytest.approx(b, rel=1e-12), f"update {t}"


def test_resuming_with_another_decay_keeps_the_checkpoints_bases_and_warns_listing_them():
    def run(decay, state=None):
        torch.manual_seed(0)
        model = TinyViT()
        opt = torch.optim.AdamW(layer_decay_groups(model, 1e-3, decay))
        sched = LRScheduler(opt, lrp.constant()).bind(total_steps=10)
        if state is not None:
            sched.load_state_dict(state)
        return opt, sched

    opt, sched = run(0.5)
    opt.step()
    sched.step()
    state = sched.state_dict()
    with pytest.warns(
        UserWarning,
        match=r"base LRs differ .* for 6 parameter group\(s\).*layer_0_decay: 0\.000125 \(now 0\.000343",
    ):
        opt, _ = run(0.7, state)
    assert [g["lr"] for g in opt.param_groups][:2] == [1e-3 * 0.5**3] * 2  # the checkpoint's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(0.5, state)  # the same configuration: nothing to say
