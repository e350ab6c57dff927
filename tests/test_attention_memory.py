"""No sparse pattern ever allocates an (L, L)-sized tensor, forward or backward."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from genomix.attention import build_attention

BATCH, HEADS, HEAD_DIM = 1, 2, 8
SPARSE = {
    "bigbird": {"block_size": 16},
    "strided": {"sparse_stride": 16},
    "fixed": {"sparse_stride": 16, "sparse_summary": 4},
    "fixed_recompute": {"sparse_stride": 16, "sparse_summary": 4, "recompute": True},
    "adaptive_span": {"init_span": 8.0, "ramp": 8.0, "block_size": 16},
}


# Tiny tensors: on one thread, synchronisation no longer dominates (fixture in conftest).
pytestmark = pytest.mark.usefixtures("one_thread")


class LargestOutput(TorchDispatchMode):
    """Records the largest numel among the outputs of every ATen op run inside the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return out


def largest_tensor(key: str, length: int) -> tuple[int, int, int]:
    """(largest numel, ops in forward, ops in total) for forward + backward of one module."""
    module = build_attention(key.removesuffix("_recompute"), SPARSE[key], HEADS * HEAD_DIM, HEADS)
    x = torch.randn(BATCH, length, HEADS * HEAD_DIM, requires_grad=True)
    padding = torch.ones(BATCH, length, dtype=torch.bool)
    padding[:, -7:] = False
    with LargestOutput() as mode:
        out = module(x, padding)
        forward_ops = mode.ops
        out.square().sum().backward()
    return mode.largest, forward_ops, mode.ops


@pytest.mark.parametrize("key", list(SPARSE))
def test_no_quadratic_tensor(key):
    length = 512
    largest, forward_ops, total_ops = largest_tensor(key, length)
    assert total_ops > forward_ops  # the backward pass ran inside the mode
    assert largest < BATCH * HEADS * length * length, largest


@pytest.mark.parametrize("key", ["bigbird", "adaptive_span"])
def test_memory_grows_linearly(key):
    """Doubling L doubles the largest tensor (strided/fixed are O(L^2 / stride) by design)."""
    small, _, _ = largest_tensor(key, 512)
    large, _, _ = largest_tensor(key, 1024)
    assert large <= 2.2 * small, (small, large)


def test_mode_sees_a_quadratic_tensor():
    """Negative control: the dense reference does allocate (B, H, L, L) scores."""
    from genomix.attention.masks import masked_attention

    q, k, v = torch.randn(3, BATCH, HEADS, 512, HEAD_DIM).unbind(0)
    with LargestOutput() as mode:
        masked_attention(q, k, v)
    assert mode.largest >= BATCH * HEADS * 512 * 512
