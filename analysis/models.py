"""Re-implementation of the two-pathway ``VisualNet`` backbone held in the checkpoints.

Written from the facts in the reference notes ``checkpoint-format.md`` (the original private
``dpc`` package is not available and is never imported). Every backbone tensor of the ten
checkpoints loads with ``strict=True``.

Architecture (input ``(batch, 3, T, 64, 64)``, normalised RGB; ``T = 15`` in the analysis)::

    s1:    RotConv3d  32 base filters 5x7x7 x 4 rotations -> 128 ch, stride (1,2,2), pad (2,3,3)
           -> BatchNorm3d(128) -> LeakyReLU(0.1)
           -> MaxPool3d k (1,3,3), stride (1,2,2), pad (0,1,1)        => (B, 128, T, 16, 16)
    path0, path1 (each fed the s1 output): res0..res5 bottleneck blocks
           res0: 128 -> 64 with projection shortcut branch1 (1x1x1) + branch1_bn
           res1..res5: 64 -> 64, identity shortcut
           branch2: a (t x 1 x 1, 16 ch, t = 1 in even blocks, 3 in odd; temporal pad t//2)
                    -> a_bn -> ReLU -> b (1x3x3, pad (0,1,1)) -> b_bn -> ReLU
                    -> c (1x1x1, 64 ch) -> c_bn
           out = ReLU(shortcut + branch2)                              => (B, 64, T, 16, 16)

Spatial arithmetic: conv ``floor((64 + 2*3 - 7)/2) + 1 = 32``; max-pool
``floor((32 + 2*1 - 3)/2) + 1 = 16``; time is preserved (kernel 5, pad 2, stride 1).

Rotation convention of ``s1`` (not stored in the files; chosen from evidence)
-----------------------------------------------------------------------------
The 128 output channels are the 32 base filters ``W`` (shape ``(32, 3, 5, 7, 7)``) applied at
four in-plane rotations, ``torch.rot90(W, k, dims=(3, 4))`` for ``k = 0, 1, 2, 3``
(anticlockwise from the height axis towards the width axis; time untouched), concatenated
**grouped by rotation**: channel ``c = k * 32 + f`` is base filter ``f`` rotated ``k`` times
(``torch.cat([rot90(W, k) for k in range(4)], dim=0)``). For ``s1`` itself the order is only
a channel permutation (RSA-invariant), but ``s1.bn1`` and both pathways' ``res0`` index
channels, so every deeper layer depends on it. The order was identified from the files:

1. *Grouped vs interleaved* (decisive, input-independent). A 0/90/180/270 degree rotation
   of a filter leaves its response variance to spatially stationary input nearly unchanged,
   so the four copies of a base filter must have similar ``bn1.running_var``. Relative
   within-base-filter spread of ``log(bn1.running_var)`` (std across the 4 copies / overall
   std), all ten checkpoints: grouped 0.05-0.13, interleaved 0.77-1.02. Feeding 48-96
   natural-like clips (skimage photographs panned over 15 frames) and comparing batch with
   running statistics gave the same verdict: ``s1.bn1`` mean((log var ratio)^2) 0.48 vs 2.39
   (rat1), 0.41 vs 2.10 (ts1); all deeper BatchNorms 0.37 vs 3.76 (rat1).
2. *Anticlockwise vs clockwise* (weak evidence). Swapping the direction swaps the k=1 and
   k=3 blocks; single-channel statistics cannot tell them apart (k and k+2 are related by a
   180-degree rotation, under which stationary statistics are symmetric), so only
   cross-channel structure seen by deeper layers can. With the same clips, the mean
   standardised mismatch ``(batch mean - running mean)^2 / running var`` over all
   ``branch1_bn``/``a_bn`` layers of both pathways was lower for anticlockwise in 10/10
   checkpoints (e.g. rat1 0.070 vs 0.081, ts1 0.071 vs 0.078, ts2 0.065 vs 0.066), the
   log-variance mismatch in 8/10. The stimuli are not the training video, so on its own
   this is weak evidence.
3. *Lineage* (corroboration). The public predecessors of this architecture (the
   ``SymmetricConv3d`` of the DorsalNet / two-pathway "monkeynet" ResNet-CPC code, from
   which ``VisualNet``, ``ShallowNet`` and the SlowFast-style ``ResBlock`` here descend)
   build the weight as ``torch.cat([torch.rot90(w, k, [3, 4]) for k in 0..3], axis=0)``:
   grouped, anticlockwise, exactly the convention chosen here. That code was read, not
   copied or imported; ``dpc`` itself remains unavailable.

Other candidates stay selectable (``rotation=``, :data:`ROTATION_ORDERS`) for sensitivity
analyses.

The ``out`` layer
-----------------
The original code combined the two pathways' final outputs by summing them unless a
``concat`` flag was set; the flag is not stored in the files. We use the **sum**
(``out = path0.res5 + path1.res5``, 64 channels, 16,384 features per clip), the original
default. A concatenation would give 128 channels; for correlation-distance RDMs the two
choices differ, so this is a documented assumption.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from . import checkpoints as ckpt

__all__ = [
    "RotConv3d",
    "S1",
    "ResBlock",
    "Pathway",
    "VisualNet",
    "load_network",
    "select_device",
    "ROTATION_ORDERS",
    "DEFAULT_ROTATION",
    "OUTPUT_LAYERS",
]

#: Candidate channel orderings of the rotated ``s1`` filters.
#: ``grouped``: channel ``k*32 + f``; ``interleaved``: channel ``f*4 + k``;
#: ``*_cw``: the same with clockwise rotation (k -> -k).
ROTATION_ORDERS: tuple[str, ...] = ("grouped", "interleaved", "grouped_cw", "interleaved_cw")
#: The ordering identified from the BatchNorm statistics (see the module docstring).
DEFAULT_ROTATION: str = "grouped"

#: Layer names returned by :meth:`VisualNet.forward`, in figure order.
OUTPUT_LAYERS: tuple[str, ...] = (
    ("s1",)
    + tuple(f"p1_res_block{i}" for i in range(1, 7))
    + tuple(f"p2_res_block{i}" for i in range(1, 7))
    + ("out",)
)


class RotConv3d(nn.Module):
    """3-D convolution whose ``n_base`` filters are applied at four in-plane rotations.

    ``weight``: ``(n_base, in_ch, kT, kH, kW)`` with ``kH == kW``. Output channels:
    ``4 * n_base``, ordered by ``rotation`` (see :data:`ROTATION_ORDERS`). No bias.
    """

    def __init__(self, in_ch: int = 3, n_base: int = 32, kernel=(5, 7, 7), stride=(1, 2, 2),
                 padding=(2, 3, 3), rotation: str = DEFAULT_ROTATION):
        super().__init__()
        if rotation not in ROTATION_ORDERS:
            raise ValueError(f"unknown rotation order {rotation!r}; valid: {', '.join(ROTATION_ORDERS)}")
        if kernel[1] != kernel[2]:
            raise ValueError("rotated filters must be square in space")
        self.weight = nn.Parameter(torch.empty(n_base, in_ch, *kernel))
        nn.init.kaiming_normal_(self.weight)
        self.stride, self.padding, self.rotation = tuple(stride), tuple(padding), rotation

    def full_weight(self) -> torch.Tensor:
        """The ``(4 * n_base, in_ch, kT, kH, kW)`` weight actually convolved."""
        sign = -1 if self.rotation.endswith("_cw") else 1
        rots = [torch.rot90(self.weight, sign * k, dims=(3, 4)) for k in range(4)]
        if self.rotation.startswith("grouped"):
            return torch.cat(rots, dim=0)  # channel k * n_base + f
        return torch.stack(rots, dim=1).flatten(0, 1)  # channel f * 4 + k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv3d(x, self.full_weight(), None, self.stride, self.padding)


class S1(nn.Module):
    """Rotated conv -> BatchNorm3d(128) -> LeakyReLU(0.1) -> MaxPool (1,3,3)/(1,2,2)."""

    def __init__(self, rotation: str = DEFAULT_ROTATION):
        super().__init__()
        self.conv1 = RotConv3d(rotation=rotation)
        self.bn1 = nn.BatchNorm3d(128)
        self.relu = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn1(self.conv1(x))))


class Bottleneck(nn.Module):
    """``branch2``: a (t,1,1) -> a_bn -> ReLU -> b (1,3,3) -> b_bn -> ReLU -> c (1,1,1) -> c_bn."""

    def __init__(self, in_ch: int, t: int, width: int = 16, out_ch: int = 64):
        super().__init__()
        self.a = nn.Conv3d(in_ch, width, (t, 1, 1), padding=(t // 2, 0, 0), bias=False)
        self.a_bn = nn.BatchNorm3d(width)
        self.b = nn.Conv3d(width, width, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.b_bn = nn.BatchNorm3d(width)
        self.c = nn.Conv3d(width, out_ch, 1, bias=False)
        self.c_bn = nn.BatchNorm3d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a_bn(self.a(x)))
        x = torch.relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    """Bottleneck residual block: ``ReLU(shortcut(x) + branch2(x))``.

    Block ``index`` (0-5) uses temporal kernel 1 when even, 3 when odd. Block 0 maps
    128 -> 64 channels with a 1x1x1 projection ``branch1`` + ``branch1_bn``.
    """

    def __init__(self, index: int, in_ch: int, out_ch: int = 64):
        super().__init__()
        self.project = in_ch != out_ch
        if self.project:
            self.branch1 = nn.Conv3d(in_ch, out_ch, 1, bias=False)
            self.branch1_bn = nn.BatchNorm3d(out_ch)
        self.branch2 = Bottleneck(in_ch, t=1 if index % 2 == 0 else 3, out_ch=out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if self.project else x
        return torch.relu(shortcut + self.branch2(x))


class Pathway(nn.Module):
    """``res_blocks.res0 .. res{n-1}``; :meth:`forward` returns every block's output."""

    def __init__(self, num_res_blocks: int = 6, in_ch: int = 128, ch: int = 64):
        super().__init__()
        self.res_blocks = nn.Sequential(OrderedDict(
            (f"res{i}", ResBlock(i, in_ch if i == 0 else ch, ch)) for i in range(num_res_blocks)
        ))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for block in self.res_blocks:
            x = block(x)
            outs.append(x)
        return outs


class VisualNet(nn.Module):
    """The two-pathway backbone; ``forward`` returns a dict of layer activations.

    Input: ``(batch, 3, T, 64, 64)`` float32, already normalised with the checkpoint's
    mean/std. Output: ``{"s1": (B, 128, T, 16, 16), "p1_res_block1..6": (B, 64, T, 16, 16)
    (pathway 0, CPC-trained), "p2_res_block1..6": (B, 64, T, 16, 16) (pathway 1,
    self-motion regression), "out": (B, 64, T, 16, 16) = sum of the two pathways' final
    outputs}``. ``layers`` restricts what is returned (and skips a pathway nobody needs).
    """

    def __init__(self, num_res_blocks: int = 6, num_paths: int = 2, rotation: str = DEFAULT_ROTATION):
        super().__init__()
        if num_paths != 2:
            raise ValueError("only the two-pathway network of the study is implemented")
        self.num_res_blocks = num_res_blocks
        self.s1 = S1(rotation=rotation)
        self.path0 = Pathway(num_res_blocks)
        self.path1 = Pathway(num_res_blocks)

    def forward(self, x: torch.Tensor, layers: tuple[str, ...] | list[str] | None = None) -> dict[str, torch.Tensor]:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"expected input (batch, 3, T, H, W), got {tuple(x.shape)}")
        wanted = set(OUTPUT_LAYERS if layers is None else layers)
        unknown = wanted - set(OUTPUT_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; valid layers: {', '.join(OUTPUT_LAYERS)}")
        out: dict[str, torch.Tensor] = {}
        s1 = self.s1(x)
        if "s1" in wanted:
            out["s1"] = s1
        finals = []
        for p, path in (("p1", self.path0), ("p2", self.path1)):
            if "out" not in wanted and not any(w.startswith(p + "_") for w in wanted):
                continue
            acts = path(s1)
            for i, a in enumerate(acts, start=1):
                if f"{p}_res_block{i}" in wanted:
                    out[f"{p}_res_block{i}"] = a
            finals.append(acts[-1])
        if "out" in wanted:
            out["out"] = finals[0] + finals[1]
        return {k: out[k] for k in OUTPUT_LAYERS if k in out}


@functools.lru_cache(maxsize=1)
def select_device() -> torch.device:
    """CUDA when available, else CPU; decided once per process."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_network(
    entry: "ckpt.CheckpointEntry | str | Path",
    device: torch.device | str | None = None,
    rotation: str = DEFAULT_ROTATION,
) -> VisualNet:
    """A :class:`VisualNet` holding one checkpoint's backbone, in eval mode on ``device``.

    ``entry`` is a manifest entry, a file name/stem from the manifest (``"rat1"``) or a
    path to a ``.ckpt`` file. Every backbone tensor is loaded with ``strict=True`` (a
    missing or unexpected key raises). Gradients are disabled on all parameters.
    """
    if not isinstance(entry, ckpt.CheckpointEntry):
        as_path = Path(entry)
        entry = as_path if as_path.suffix == ".ckpt" and as_path.is_file() else ckpt.get_entry(str(entry))
    state, hparams = ckpt.load_backbone_state(entry)
    backbone = (hparams.get("network") or {}).get("backbone") or {}
    net = VisualNet(
        num_res_blocks=int(backbone.get("num_res_blocks", 6)),
        num_paths=int(backbone.get("num_paths", 2)),
        rotation=rotation,
    )
    net.load_state_dict(state, strict=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device if device is not None else select_device())
