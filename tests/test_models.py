"""The VisualNet re-implementation: strict loading, shapes, rotation convention, eval mode."""

from __future__ import annotations

import pytest
import torch

from analysis import checkpoints as C
from analysis import config, models, study

from conftest import NO_CHECKPOINTS, checkpoint_paths

CKPTS = checkpoint_paths() or {}
needs_checkpoints = pytest.mark.skipif(not CKPTS, reason=NO_CHECKPOINTS)


@pytest.fixture(scope="module")
def rat1() -> models.VisualNet:
    return models.load_network(C.get_entry("rat1"), "cpu")


@pytest.fixture(scope="module")
def acts(rat1) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 15, 64, 64)
    with torch.no_grad():
        return rat1(x)


@needs_checkpoints
@pytest.mark.parametrize("entry", C.load_manifest(), ids=lambda e: e.stem)
def test_strict_load_every_backbone_tensor(entry):
    state, _ = C.load_backbone_state(entry)
    net = models.VisualNet()
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    own = net.state_dict()
    assert set(own) == set(state)
    for k, v in state.items():
        assert own[k].shape == v.shape and torch.equal(own[k], v), k
    loaded = models.load_network(entry, "cpu")
    assert not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())


def test_strict_load_rejects_missing_and_unexpected_keys():
    state = models.VisualNet().state_dict()
    extra = dict(state, **{"path2.bogus": torch.zeros(1)})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        models.VisualNet().load_state_dict(extra, strict=True)
    missing = {k: v for k, v in state.items() if k != "s1.bn1.running_var"}
    with pytest.raises(RuntimeError, match="Missing key"):
        models.VisualNet().load_state_dict(missing, strict=True)


@needs_checkpoints
def test_layer_names_and_shapes(acts):
    assert tuple(acts) == study.LAYERS == models.OUTPUT_LAYERS
    for name, a in acts.items():
        c = 128 if name == "s1" else 64
        assert tuple(a.shape) == (2, c, 15, 16, 16), name
        assert torch.isfinite(a).all()


@needs_checkpoints
def test_out_is_sum_of_pathway_outputs(acts):
    torch.testing.assert_close(acts["out"], acts["p1_res_block6"] + acts["p2_res_block6"])
    assert not torch.equal(acts["p1_res_block6"], acts["p2_res_block6"])


@needs_checkpoints
def test_layer_subset_matches_full_forward(rat1, acts):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 15, 64, 64)
    with torch.no_grad():
        sub = rat1(x, layers=["p2_res_block3", "s1"])
    assert list(sub) == ["s1", "p2_res_block3"]
    torch.testing.assert_close(sub["p2_res_block3"], acts["p2_res_block3"])
    with pytest.raises(ValueError, match="valid layers: s1, p1_res_block1"):
        rat1(x, layers=["res_block1"])


def test_rotated_conv_weight_layout():
    conv = models.RotConv3d(rotation="grouped")
    w = conv.full_weight()
    assert w.shape == (128, 3, 5, 7, 7)
    for k in range(4):
        torch.testing.assert_close(w[k * 32:(k + 1) * 32], torch.rot90(conv.weight, k, dims=(3, 4)))
    inter = models.RotConv3d(rotation="interleaved")
    inter.weight.data.copy_(conv.weight.data)
    torch.testing.assert_close(inter.full_weight()[1::4], torch.rot90(conv.weight, 1, dims=(3, 4)))
    cw = models.RotConv3d(rotation="grouped_cw")
    cw.weight.data.copy_(conv.weight.data)
    torch.testing.assert_close(cw.full_weight()[32:64], w[96:128])  # k=-1 == k=3
    with pytest.raises(ValueError, match="valid: grouped, interleaved"):
        models.RotConv3d(rotation="spiral")


@needs_checkpoints
@pytest.mark.parametrize("entry", C.load_manifest(), ids=lambda e: e.stem)
def test_bn1_statistics_support_grouped_rotation_order(entry):
    """Rotated copies of one base filter see the same input power, so their bn1 running
    variances must be alike. Grouped order (channel k*32+f) makes them alike; interleaved
    (f*4+k) does not. Relative spread within base filters, measured: grouped 0.05-0.13,
    interleaved 0.77-1.02."""
    state, _ = C.load_backbone_state(entry)
    logv = state["s1.bn1.running_var"].log()

    def spread(groups: torch.Tensor) -> float:  # (4 copies, 32 base filters)
        return float(groups.std(0).mean() / logv.std())

    grouped = spread(logv.view(4, 32))
    interleaved = spread(logv.view(32, 4).T)
    assert grouped < 0.2 < 0.6 < interleaved
    assert models.DEFAULT_ROTATION == "grouped"


def test_select_device_is_cpu_here_and_memoised():
    dev = models.select_device()
    assert dev is models.select_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dev.type == expected


@needs_checkpoints
def test_eval_mode_does_not_update_batchnorm_statistics(rat1):
    before = {k: v.clone() for k, v in rat1.state_dict().items() if "running" in k or "num_batches" in k}
    with torch.no_grad():
        rat1(torch.rand(1, 3, 15, 64, 64) * 5)
    after = rat1.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_forward_validates_input_shape():
    with pytest.raises(ValueError, match=r"expected input \(batch, 3, T, H, W\)"):
        models.VisualNet()(torch.zeros(1, 1, 15, 64, 64))


@needs_checkpoints
def test_load_network_accepts_name_and_path():
    a = models.load_network("ts4", "cpu")
    b = models.load_network(CKPTS["ts4.ckpt"], "cpu")
    torch.testing.assert_close(a.s1.conv1.weight, b.s1.conv1.weight)
    with pytest.raises(ValueError, match="unknown checkpoint"):
        models.load_network("ts9", "cpu")
