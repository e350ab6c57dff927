"""Benchmark the attention patterns on CPU: time and peak memory, forward and forward+backward.

Compares genomix BigBird with Hugging Face's ``BigBirdBlockSparseAttention`` (block 64,
3 random blocks, window 3), dense ``scaled_dot_product_attention``, and the genomix strided,
fixed and adaptive-span patterns, on the attention operation alone (q, k, v of shape
(1, 8, L, 64) fp32 in, (1, 8, L, 64) out; no projections, which cost the same for all).

    python bench/attention.py            # L = 1024 ... 16384, 3 repeats
    python bench/attention.py --quick    # L = 1024, 4096, 2 repeats

Method:
    * every (implementation, L, mode) runs in a fresh subprocess with
      ``torch.set_num_threads(--threads)`` (default 2);
    * time: median wall time of ``--repeats`` calls after one warm-up call;
    * memory: peak resident memory during the warm-up call minus the resident memory just
      before it (inputs already allocated), read from ``VmHWM`` after resetting it through
      ``/proc/self/clear_refs``. It counts every allocation the call makes (PyTorch's CPU
      allocator has no statistics of its own); it is measured on the first call because
      later calls reuse memory the C allocator kept;
    * "fwd" = eval mode under ``torch.no_grad()``; "fwd+bwd" = train mode, forward then
      ``backward`` of a fixed random output gradient (dense, like a real loss gives).

Hugging Face is imported lazily; without ``transformers`` its column says "missing".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

LENGTHS = (1024, 2048, 4096, 8192, 16384)
QUICK_LENGTHS = (1024, 4096)
IMPLS = ("bigbird", "hf_bigbird", "sdpa", "strided", "fixed", "adaptive_span")
MODES = ("fwd", "fwd+bwd")
HEADS, HEAD_DIM, BLOCK = 8, 64, 64


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field such as VmRSS or VmHWM, in KiB."""
    with open("/proc/self/status") as handle:
        return int(re.search(rf"{field}:\s+(\d+)", handle.read()).group(1))


def genomix_case(name: str, training: bool) -> Callable:
    """attend(q, k, v) of a genomix pattern with its default options."""
    from genomix.attention import build_attention

    module = build_attention(name, {}, HEADS * HEAD_DIM, HEADS).train(training)
    return module.attend


def hf_case(length: int, training: bool) -> Callable:
    """Hugging Face BigBird block-sparse attention on (1, H, L, Dh) q, k, v."""
    from transformers import BigBirdConfig
    from transformers.models.big_bird.modeling_big_bird import (
        BigBirdBlockSparseAttention,
        BigBirdModel,
    )

    config = BigBirdConfig(
        hidden_size=HEADS * HEAD_DIM,
        num_attention_heads=HEADS,
        block_size=BLOCK,
        num_random_blocks=3,
        attention_type="block_sparse",
        max_position_embeddings=max(length, 4096),
    )
    module = BigBirdBlockSparseAttention(config, seed=0).train(training)
    blocked, band, from_mask, to_mask = BigBirdModel.create_masks_for_block_sparse_attn(
        torch.ones(1, length), BLOCK
    )

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        context, _ = module.bigbird_block_sparse_attention(
            q, k, v, band, from_mask, to_mask, blocked, blocked, HEADS, 3, HEAD_DIM,
            BLOCK, BLOCK, 1, length, length, seed=0, plan_from_length=None,
            plan_num_rand_blocks=None,
        )  # fmt: skip
        return context.transpose(1, 2)  # (B, L, H, Dh) -> (B, H, L, Dh)

    return attend


def run_case(impl: str, length: int, mode: str, repeats: int, threads: int) -> dict:
    """Worker: time and measure one case in this process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    training = mode == "fwd+bwd"
    if impl == "sdpa":
        attend = torch.nn.functional.scaled_dot_product_attention
    elif impl == "hf_bigbird":
        attend = hf_case(length, training)
    else:
        attend = genomix_case(impl, training)
    q, k, v = (torch.randn(1, HEADS, length, HEAD_DIM, requires_grad=training) for _ in range(3))
    grad = torch.randn(1, HEADS, length, HEAD_DIM)

    def call() -> None:
        if training:
            attend(q, k, v).backward(grad)
        else:
            with torch.no_grad():
                attend(q, k, v)

    before = status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM (peak RSS) to the current RSS
    call()
    peak_mib = (status_kib("VmHWM") - before) / 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"time_s": statistics.median(times), "times": times, "peak_mib": peak_mib}


def spawn(impl: str, length: int, mode: str, args: argparse.Namespace) -> dict:
    """Run one case in a fresh interpreter; returns its result or {"error": why}."""
    command = [
        sys.executable, __file__, "--worker", impl, str(length), mode,
        "--repeats", str(args.repeats), "--threads", str(args.threads),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {args.timeout} s"}
    print(f"  {impl} L={length} {mode}: {done.stdout.strip()[-120:]}", file=sys.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "No module named 'transformers'" in done.stderr:
            return {"error": "missing (pip install transformers)"}
        return {"error": f"exit {done.returncode}: {last[:80]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cell(result: dict) -> str:
    if "error" in result:
        return result["error"]
    return f"{result['time_s']:.3f} s / {result['peak_mib']:.0f} MiB"


def ratio(numerator: dict, denominator: dict) -> str:
    if "error" in numerator or "error" in denominator:
        return "n/a"
    return f"{numerator['time_s'] / denominator['time_s']:.2f}"


def versions() -> str:
    try:
        import transformers

        hf = transformers.__version__
    except ImportError:
        hf = "missing"
    return f"torch {torch.__version__}, transformers {hf}, {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="L = 1024, 4096; 2 repeats")
    parser.add_argument("--lengths", type=int, nargs="+", help="override the lengths")
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per case")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "L", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
    if args.worker:
        impl, length, mode = args.worker
        print(json.dumps(run_case(impl, int(length), mode, args.repeats, args.threads)))
        return
    lengths = args.lengths or (QUICK_LENGTHS if args.quick else LENGTHS)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{versions()}; threads {args.threads}; load average {os.getloadavg()[0]:.2f}")
    print("cells: median time of the call / peak extra resident memory (see module docstring)")
    for mode in MODES:
        results = {
            (impl, length): spawn(impl, length, mode, args)
            for length in lengths
            for impl in args.impls
        }
        print(f"\n### {mode} (B=1, H={HEADS}, Dh={HEAD_DIM}, fp32)\n")
        header = ["L", *args.impls]
        has_ratios = {"bigbird", "hf_bigbird", "sdpa"} <= set(args.impls)
        if has_ratios:
            header += ["bigbird / HF", "bigbird / SDPA"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for length in lengths:
            row = [str(length), *(cell(results[impl, length]) for impl in args.impls)]
            if has_ratios:
                bigbird = results["bigbird", length]
                row += [
                    ratio(bigbird, results["hf_bigbird", length]),
                    ratio(bigbird, results["sdpa", length]),
                ]
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
