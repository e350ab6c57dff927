"""Dropout on attention weights (training only), the hand-written kernel's gradients, recompute."""

from __future__ import annotations

import pytest
import torch

from genomix.attention import build_attention
from genomix.attention.kernels import gathered_block_attention

# Tiny tensors: on one thread, synchronisation no longer dominates (fixture in conftest).
pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {
    "dense": {},
    "bigbird": {"block_size": 8, "random_blocks": 2},
    "strided": {"sparse_stride": 8},
    "fixed": {"sparse_stride": 8, "sparse_summary": 3},
    "adaptive_span": {"init_span": 6.0, "ramp": 4.0, "block_size": 8},
}


@pytest.mark.parametrize("name", list(SMALL))
def test_dropout_only_in_training(name):
    module = build_attention(name, SMALL[name], 32, 4, dropout=0.5)
    q, k, v = torch.randn(3, 1, 4, 40, 8).unbind(0)
    module.eval()
    torch.testing.assert_close(module.attend(q, k, v), module.attend(q, k, v), rtol=0, atol=0)
    module.train()
    assert not torch.allclose(module.attend(q, k, v), module.attend(q, k, v))


@pytest.mark.parametrize("name", list(SMALL))
def test_dropout_is_unbiased(name):
    """The mean over dropout draws matches the eval-mode output within 5 standard errors."""
    torch.manual_seed(0)
    module = build_attention(name, SMALL[name], 32, 4, dropout=0.2)
    q, k, v = torch.randn(3, 1, 4, 24, 8, dtype=torch.float64).unbind(0)
    expected = module.eval().attend(q, k, v)
    module.train()
    draws = torch.stack([module.attend(q, k, v) for _ in range(200)])
    error = (draws.mean(dim=0) - expected).abs()
    assert (error <= 5 * draws.std(dim=0) / 200**0.5 + 1e-9).all()


def reseeded(function):
    """Make a dropout function deterministic for gradcheck: same RNG state every call."""

    def call(*args):
        with torch.random.fork_rng():
            torch.manual_seed(1234)
            return function(*args)

    return call


@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("padded", [False, True])
def test_kernel_gradcheck(dropout, padded):
    """The hand-written backward of the gathered kernel, against finite differences."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 2, 3, 4, 5, dtype=torch.float64, generator=gen).requires_grad_()
    k = torch.randn(2, 2, 4, 4, 5, dtype=torch.float64, generator=gen).requires_grad_()
    v = torch.randn(2, 2, 4, 4, 5, dtype=torch.float64, generator=gen).requires_grad_()
    key_blocks = torch.tensor([[0, 1, 3], [2, 1, 0], [3, 2, 0]])
    bias = None
    if padded:
        bias = torch.zeros(2, 1, 3, 1, 12, dtype=torch.float64)
        bias[0, :, 1, :, 5:9] = -1e30
        bias[1, :, 2, :, :2] = -1e30

    def attend(q, k, v):
        return gathered_block_attention(q, k, v, key_blocks, bias, dropout=dropout)

    assert torch.autograd.gradcheck(reseeded(attend), (q, k, v))


def test_bigbird_training_gradcheck_with_dropout():
    module = build_attention("bigbird", {"block_size": 4, "random_blocks": 1}, 16, 2, dropout=0.2)
    module.double().train()
    q, k, v = (torch.randn(1, 2, 22, 8, dtype=torch.float64).requires_grad_() for _ in range(3))
    padding = torch.ones(1, 22, dtype=torch.bool)
    padding[0, 15:] = False
    assert torch.autograd.gradcheck(reseeded(lambda *t: module.attend(*t, padding)), (q, k, v))


@pytest.mark.parametrize("name", ["strided", "fixed"])
def test_recompute_matches(name):
    torch.manual_seed(0)
    plain = build_attention(name, SMALL[name], 32, 4)
    recomputed = build_attention(name, {"recompute": True, **SMALL[name]}, 32, 4)
    recomputed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 50, 32)
    out_plain, out_recomputed = plain(x), recomputed(x)
    torch.testing.assert_close(out_recomputed, out_plain)
    grads = torch.autograd.grad(out_plain.square().sum(), list(plain.parameters()))
    params = list(recomputed.parameters())
    for grad, ref in zip(
        torch.autograd.grad(out_recomputed.square().sum(), params), grads, strict=True
    ):
        torch.testing.assert_close(grad, ref)
