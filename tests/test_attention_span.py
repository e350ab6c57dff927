"""Adaptive span: equals dense attention under its soft mask; span >= L equals dense."""

from __future__ import annotations

import pytest
import torch

from genomix.attention import AdaptiveSpanAttention, build_attention
from genomix.attention.masks import masked_attention, span_soft_mask
from genomix.errors import GenomixError

# Tiny tensors: on one thread, synchronisation no longer dominates (fixture in conftest).
pytestmark = pytest.mark.usefixtures("one_thread")


OPTIONS = {"max_span": 40, "ramp": 8.0, "block_size": 16}  # init_span given per test


def module_with_spans(spans: list[float], **options) -> AdaptiveSpanAttention:
    module = build_attention(
        "adaptive_span", {"init_span": 0.0, **OPTIONS, **options}, 32, len(spans)
    )
    with torch.no_grad():
        module.span.copy_(torch.tensor(spans))
    return module


@pytest.mark.parametrize("length", [1, 7, 50, 129])
@pytest.mark.parametrize("padded", [False, True])
def test_attend_equals_soft_masked_dense(length, padded):
    module = module_with_spans([0.0, 3.5, 12.0, 40.0])
    q, k, v = (torch.randn(2, 4, length, 8).requires_grad_() for _ in range(3))
    padding = torch.rand(2, length) > 0.3 if padded else None
    if padding is not None:
        padding[:, 0] = True
    out = module.attend(q, k, v, padding)
    refs = [t.detach().double().requires_grad_() for t in (q, k, v)]
    span = module.span.detach().double().requires_grad_()
    soft = span_soft_mask(length, span, ramp=8.0, max_span=40)
    ref = masked_attention(*refs, soft_mask=soft, padding_mask=padding)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)
    upstream = torch.randn(out.shape)
    grads = torch.autograd.grad(out, (q, k, v, module.span), upstream)
    ref_grads = torch.autograd.grad(ref, (*refs, span), upstream.double())
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad.double(), ref_grad, atol=1e-4, rtol=1e-5)


def test_dynamic_spans_equal_soft_masked_dense():
    module = build_attention("adaptive_span", {"dynamic": True, "init_span": 9.0, **OPTIONS}, 32, 4)
    q, k, v = torch.randn(3, 2, 4, 90, 8, dtype=torch.float64).unbind(0)
    spans = 45 * torch.rand(2, 4, 90, dtype=torch.float64)
    soft = span_soft_mask(90, spans, ramp=8.0, max_span=40)
    torch.testing.assert_close(
        module.attend(q, k, v, spans=spans), masked_attention(q, k, v, soft_mask=soft)
    )


def test_dynamic_forward_penalty_and_spans():
    torch.manual_seed(0)
    module = build_attention(
        "adaptive_span", {"dynamic": True, "init_span": 10.0, **OPTIONS}, 32, 4
    )
    with pytest.raises(GenomixError, match="after a forward pass"):
        module.span_penalty()
    out = module(torch.randn(2, 33, 32))
    torch.testing.assert_close(module.spans(), torch.full((4,), 10.0), atol=1e-3, rtol=0)
    (out.sum() + module.span_penalty()).backward()
    assert module.span_predictor.bias.grad.abs().sum() > 0
    with pytest.raises(GenomixError, match="exactly when dynamic=True"):
        module.attend(*torch.randn(3, 1, 4, 9, 8).unbind(0))


@pytest.mark.parametrize("length", [20, 64, 100])
def test_span_at_least_length_equals_dense(length):
    module = build_attention(
        "adaptive_span", {"init_span": length, "max_span": length, "ramp": 8.0}, 32, 4
    )
    q, k, v = torch.randn(3, 2, 4, length, 8, dtype=torch.float64).unbind(0)
    torch.testing.assert_close(module.attend(q, k, v), masked_attention(q, k, v))


def test_penalty_spans_and_clamp():
    module = module_with_spans([1.0, 2.0, 3.0, 50.0], span_loss_coef=0.5)
    assert module.span_penalty().item() == pytest.approx(0.5 * 56.0)
    module.span_penalty().backward()
    torch.testing.assert_close(module.span.grad, torch.full((4,), 0.5))
    with torch.no_grad():
        module.span[0] = -3.0
    module.clamp_spans_()
    torch.testing.assert_close(module.spans(), torch.tensor([0.0, 2.0, 3.0, 40.0]))


def test_bad_init_span():
    with pytest.raises(GenomixError, match=r"init_span=50 must be in \[0, max_span=40\]"):
        build_attention("adaptive_span", {"init_span": 50, "max_span": 40}, 32, 4)
