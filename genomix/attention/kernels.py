"""Gathered block-sparse attention: a CPU-friendly kernel in plain PyTorch ops.

Each query block attends to its own list of key blocks. Batch, heads and query blocks are
flattened into one row dimension R, so every step is a 3-D batched matmul and a chunk of
rows is a contiguous slice that results are written into in place (no concatenation). The
rows are processed in chunks so that each intermediate (gathered keys, scores, weights) stays
under glibc's 32 MB mmap threshold: such tensors are recycled by the allocator instead of
being page-faulted in afresh, which on CPU costs as much as the arithmetic. The backward pass
is written by hand: key/value gradients are accumulated with one ``index_add_`` per chunk
into a single buffer, instead of autograd's full-size zero tensor per gather.
"""

from __future__ import annotations

from bisect import bisect_left

import torch
from torch.autograd.function import once_differentiable

__all__ = ["gathered_block_attention"]

# Size of one chunk's score tensor (bytes): under glibc's 32 MB mmap threshold, yet large
# enough that a long sequence needs few chunks (each op costs a thread synchronisation).
CHUNK_BYTES = 24 << 20


class _GatheredBlockAttention(torch.autograd.Function):
    """See ``gathered_block_attention``."""

    @staticmethod
    def forward(ctx, q, k, v, index, bias, bias_rows, dropout):
        """bias: (R, 1, S b) or None; bias_rows: None = add bias to every row, else the
        (n,) sorted rows whose bias is non-zero (only those rows are touched)."""
        with torch.autocast(q.device.type, enabled=False):
            return _GatheredBlockAttention._forward(ctx, q, k, v, index, bias, bias_rows, dropout)

    @staticmethod
    def _forward(ctx, q, k, v, index, bias, bias_rows, dropout):
        rows, block, _ = q.shape
        n_keys = index.shape[1] * block
        step = max(1, CHUNK_BYTES // (block * n_keys * q.element_size()))
        out = torch.empty_like(q)
        # The weights are O(L) memory: keep them only when a backward pass can follow.
        saving = any(ctx.needs_input_grad[:3])
        probs, keeps = [], []
        row_list = [] if bias_rows is None else bias_rows.tolist()
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            k_local, v_local = _gather(k, v, index[start:stop])
            if bias is not None and bias_rows is None:
                scores = torch.baddbmm(bias[start:stop], q[start:stop], k_local.transpose(1, 2))
            else:
                scores = torch.bmm(q[start:stop], k_local.transpose(1, 2))
            if bias is not None and bias_rows is not None:
                here = bias_rows[bisect_left(row_list, start) : bisect_left(row_list, stop)]
                scores[here - start] += bias[here]
            weights = scores.softmax(dim=-1)
            del scores
            if saving:
                probs.append(weights)
            if dropout > 0.0:
                keep = torch.rand_like(weights) >= dropout
                if saving:
                    keeps.append(keep)
                weights = weights * keep / (1.0 - dropout)
            torch.bmm(weights, v_local, out=out[start:stop])
        ctx.save_for_backward(q, k, v, index, out)
        ctx.probs, ctx.keeps, ctx.step, ctx.dropout = probs, keeps, step, dropout
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        with torch.autocast(grad_out.device.type, enabled=False):
            return _GatheredBlockAttention._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        q, k, v, index, out = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_q = torch.empty_like(q)
        grad_k = torch.zeros_like(k)
        grad_v = torch.zeros_like(v)
        # delta_i = sum_j p_ij dP_ij = <dO_i, O_i> (also with dropout).
        delta = (grad_out * out).sum(dim=-1, keepdim=True)
        for chunk, start in enumerate(range(0, q.shape[0], ctx.step)):
            stop = min(start + ctx.step, q.shape[0])
            flat = index[start:stop].reshape(-1)
            k_local, v_local = _gather(k, v, index[start:stop])
            weights, d_out = ctx.probs[chunk], grad_out[start:stop]
            d_weights = torch.bmm(d_out, v_local.transpose(1, 2))
            if ctx.dropout > 0.0:
                keep = ctx.keeps[chunk] / (1.0 - ctx.dropout)
                d_weights *= keep
                d_local_v = torch.bmm((weights * keep).transpose(1, 2), d_out)
            else:
                d_local_v = torch.bmm(weights.transpose(1, 2), d_out)
            grad_v.view(grad_v.shape[0], -1).index_add_(0, flat, d_local_v.view(flat.shape[0], -1))
            d_scores = d_weights.sub_(delta[start:stop]).mul_(weights)
            torch.bmm(d_scores, k_local, out=grad_q[start:stop])
            d_local_k = torch.bmm(d_scores.transpose(1, 2), q[start:stop])
            grad_k.view(grad_k.shape[0], -1).index_add_(0, flat, d_local_k.view(flat.shape[0], -1))
        return grad_q, grad_k, grad_v, None, None, None, None


def _gather(
    k: torch.Tensor, v: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, b, Dh) blocks x (n, S) indices -> two (n, S * b, Dh) gathered copies."""
    flat = index.reshape(-1)
    shape = (index.shape[0], index.shape[1] * k.shape[1], k.shape[2])
    # index_select on a 2-D view copies whole rows (several times faster than on 3-D).
    rows = (k.shape[0], -1)
    return (
        k.view(rows).index_select(0, flat).view(shape),
        v.view(rows).index_select(0, flat).view(shape),
    )


def gathered_block_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_blocks: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    dropout: float,
) -> torch.Tensor:
    """Softmax attention of each query block over its own gathered key blocks.

    Args:
        q: (B, H, N, b, Dh) query blocks, already multiplied by the softmax scale.
        k, v: (B, H, nb, b, Dh) key/value blocks.
        key_blocks: (N, S) long, the key blocks of each query block (same for all heads).
        bias: additive score bias broadcastable to (B, H, N, 1, S * b), or None. When under
            half of the rows have a non-zero bias (no padding: only the pattern's edges),
            only those rows are touched; otherwise it is fused into the score matmul.
        dropout: probability on the attention weights (0 outside training).

    Returns:
        (B, H, N, b, Dh).
    """
    batch, heads, n_queries, block, head_dim = q.shape
    n_blocks = k.shape[2]
    n_keys = key_blocks.shape[1] * block
    # Row r = (batch, head, query block); its key blocks live at offset (batch, head) * nb.
    offsets = torch.arange(batch * heads, device=q.device) * n_blocks
    index = (offsets[:, None, None] + key_blocks[None]).reshape(-1, key_blocks.shape[1])
    row_bias, bias_rows = None, None
    if bias is not None:
        row_bias = bias.expand(batch, heads, n_queries, 1, n_keys).reshape(-1, 1, n_keys)
        needed = (row_bias != 0).any(dim=2).view(-1)
        # Few biased rows (edges of the pattern only): add them in place, else fuse all.
        if needed.float().mean() < 0.5:
            bias_rows = needed.nonzero().view(-1)
    # The kernel computes in q's dtype; autocast would re-cast its matmuls (and break out=).
    k, v = k.to(q.dtype), v.to(q.dtype)
    out = _GatheredBlockAttention.apply(
        q.reshape(-1, block, head_dim),
        k.reshape(-1, block, head_dim),
        v.reshape(-1, block, head_dim),
        index,
        row_bias,
        bias_rows,
        dropout,
    )
    return out.view(batch, heads, n_queries, block, head_dim)
