"""Registry, options, and equivalence of every static pattern with masked dense attention."""

from __future__ import annotations

import pytest
import torch

from genomix.attention import ATTENTION, build_attention
from genomix.attention.masks import masked_attention
from genomix.errors import GenomixError

# Small pattern sizes so that tiny L still spans several blocks.
STATIC = {
    "dense": {},
    "bigbird": {"block_size": 8, "random_blocks": 2, "random_seed": 3},
    "strided": {"sparse_stride": 8},
    "fixed": {"sparse_stride": 8, "sparse_summary": 3},
}
LENGTHS = [5, 8, 37, 64, 100]


# Tiny tensors: on one thread, synchronisation no longer dominates (fixture in conftest).
pytestmark = pytest.mark.usefixtures("one_thread", "bigbird_path")


def qkv(batch: int, heads: int, length: int, head_dim: int, seed: int) -> list[torch.Tensor]:
    """Three (B, H, L, Dh) float32 leaves that require grad."""
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, heads, length, head_dim, generator=gen).requires_grad_()
        for _ in range(3)
    ]


def random_padding(batch: int, length: int, seed: int) -> torch.Tensor:
    """(B, L) bool with [CLS] real and about a third of the other positions padded."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, length, generator=gen) > 0.33
    mask[:, 0] = True
    return mask


def assert_attend_matches(module, q, k, v, padding_mask, mask, *, atol=1e-5) -> None:
    """attend == masked dense reference (float64), for outputs and q/k/v gradients."""
    out = module.attend(q, k, v, padding_mask)
    ref_inputs = [t.detach().double().requires_grad_() for t in (q, k, v)]
    ref = masked_attention(*ref_inputs, mask=mask, padding_mask=padding_mask)
    torch.testing.assert_close(out.double(), ref, atol=atol, rtol=0)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out.device)
    grads = torch.autograd.grad(out, (q, k, v), upstream)
    ref_grads = torch.autograd.grad(ref, ref_inputs, upstream.double())
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad.double(), ref_grad, atol=atol, rtol=0)


def test_registry_names():
    assert set(ATTENTION) == {"dense", "bigbird", "strided", "fixed", "adaptive_span"}


def test_unknown_name_lists_valid_ones():
    with pytest.raises(GenomixError, match="expected one of dense, bigbird"):
        build_attention("linformer", {}, 32, 4)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(GenomixError, match="unknown option.*block_sise.*valid:.*block_size"):
        build_attention("bigbird", {"block_sise": 8}, 32, 4)


@pytest.mark.parametrize(
    ("name", "options", "keywords", "match"),
    [
        ("bigbird", {"window_blocks": 2}, {}, "window_blocks=2 must be odd"),
        ("dense", {}, {"dropout": 1.5}, r"dropout=1.5 must be in \[0, 1\)"),
    ],
)
def test_bad_option_value(name, options, keywords, match):
    with pytest.raises(GenomixError, match=match):
        build_attention(name, options, 32, 4, **keywords)


def test_heads_must_divide_dim():
    with pytest.raises(GenomixError, match="multiple of heads"):
        build_attention("dense", {}, 30, 4)


@pytest.mark.parametrize("name", list(STATIC))
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("padded", [False, True])
def test_attend_equals_masked_dense(name, length, padded, device):
    module = build_attention(name, STATIC[name], 32, 4).to(device)
    q, k, v = (t.detach().to(device).requires_grad_() for t in qkv(2, 4, length, 8, seed=length))
    padding = random_padding(2, length, seed=length).to(device) if padded else None
    assert_attend_matches(module, q, k, v, padding, module.dense_mask(length).to(device))


@pytest.mark.parametrize("name", list(STATIC))
def test_forward_and_parameter_grads_equal_dense_reference(name):
    """Module forward == projections around the masked reference; parameter grads too."""
    torch.manual_seed(0)
    module = build_attention(name, STATIC[name], 32, 4)
    x = torch.randn(2, 45, 32)
    padding = random_padding(2, 45, seed=7)
    out = module(x, padding)
    q, k, v = module.split_heads(x)
    ref = masked_attention(q, k, v, mask=module.dense_mask(45), padding_mask=padding)
    ref = module.out(ref.transpose(1, 2).reshape(2, 45, 32))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    params = list(module.parameters())
    grads = torch.autograd.grad(out.square().sum(), params)
    ref_grads = torch.autograd.grad(ref.square().sum(), params)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref_grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name", list(ATTENTION))
def test_padded_queries_are_zero_and_finite(name):
    module = build_attention(name, STATIC.get(name, {}), 32, 4)
    q, k, v = qkv(1, 4, 30, 8, seed=0)
    padding = torch.zeros(1, 30, dtype=torch.bool)
    padding[0, :11] = True
    out = module.attend(q, k, v, padding)
    assert torch.isfinite(out).all()
    assert (out[:, :, 11:] == 0).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("name", list(ATTENTION))
def test_forward_shape_any_length(name):
    module = build_attention(name, STATIC.get(name, {}), 32, 4)
    for length in (1, 7, 16, 33):  # 16: a whole number of blocks, no internal padding
        assert module(torch.randn(3, length, 32)).shape == (3, length, 32)


@pytest.mark.parametrize("name", list(ATTENTION))
def test_autocast_bfloat16(name):
    """Under CPU autocast the modules run in bfloat16, close to float32, with finite grads."""
    torch.manual_seed(0)
    module = build_attention(name, STATIC.get(name, {}), 32, 4)
    x = torch.randn(2, 40, 32)
    padding = random_padding(2, 40, seed=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = module(x, padding)
    low.float().square().sum().backward()
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), module(x, padding), atol=0.05, rtol=0)
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())
