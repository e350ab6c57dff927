"""Training throughput of the masked-LM model: BigBird against dense attention, side by side.

One training step = forward of a (B, L) batch of random k-mer ids (k=6), cross-entropy on 15%
of the positions (the decoder runs on those alone, as in pretraining), backward, AdamW step.
Each (attention, L) model is built once; after `--warmup` steps, the timed steps alternate
between the attentions (step 1 of each, then step 2 of each, ...), so both see the same load on
a shared machine. Cells give the median step. On CUDA, "peak GiB" is the most memory allocated
while that case was built and warmed up, less what was allocated before (the other cases).

    python bench/train.py                                  # CPU: tiny preset, L = 1k, 4k, 16k
    python bench/train.py --lengths 256 512 --repeats 2    # seconds, to check that it runs
    python bench/train.py --device cuda --preset base --lengths 4096 16384   # bf16, with MFU

Model FLOPs of one step (PaLM's MFU, Chowdhery et al. 2022, appendix B), counted on what the
model computes and independent of how:

    6 * N * B * L                      N: weights of every nn.Linear of the blocks (embedding
                                       lookups are not matmuls)
  + 6 * (D * D + V * D) * M            the MLM transform and tied decoder, on the M masked
                                       positions alone
  + 12 * n_layers * D * pairs          q k^T and weights @ v, forward (4 D per pair) + backward (8)

`pairs` is the number of (query, key) pairs that attention scores: B L^2 for dense, the count of
True entries of the pattern's `dense_mask(L)` times B for BigBird. MFU = FLOPs / step time /
(`--peak-tflops` * 1e12); the default 989 is an H100 SXM's dense bf16 peak. It is printed for
CUDA runs (and for CPU runs only when --peak-tflops is given). The forward that
--activation-checkpointing repeats in the backward pass is not counted (model, not hardware,
FLOPs utilisation), so it lowers MFU.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from contextlib import nullcontext

import torch
from torch import nn

from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig, MaskedLanguageModel

H100_BF16_DENSE_TFLOPS = 989.0
MASK_FRACTION = 0.15


def build_config(args: argparse.Namespace, attention: str, length: int) -> EncoderConfig:
    """The preset, the size flags given, `attention`, and room for `length` tokens."""
    overrides = {
        key: getattr(args, key)
        for key in ("d_model", "n_layers", "n_heads", "d_ff", "positions")
        if getattr(args, key) is not None
    }
    # The preset resolved here, not by genomix.config (which needs jsonschema): bench/device.py
    # reuses this on GPU machines that have torch but not the workflow's dependencies. The
    # preset's attention options apply to the family it names (base: BigBird's blocks).
    preset = EncoderConfig.PRESETS[args.preset]
    own = preset.get("attention", {})
    return EncoderConfig(
        **{
            **preset,
            "preset": args.preset,
            **overrides,
            "attention": dict(own) if own.get("name") == attention else {"name": attention},
            "dropout": 0.0,  # dropout changes nothing in FLOPs; keep the steps comparable
            "max_tokens": length,
            "activation_checkpointing": args.activation_checkpointing,
        },
    )


def attended_pairs(model: MaskedLanguageModel, length: int) -> int:
    """(query, key) pairs one head of one layer scores for one sequence of `length` tokens."""
    attention = model.encoder.blocks[0].attention
    return int(attention.dense_mask(length).sum())


def linear_weights(module: nn.Module) -> int:
    """Weights of every nn.Linear inside `module` (the matmul parameters)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def step_flops(model: MaskedLanguageModel, batch: int, length: int, masked: int) -> float:
    """Model FLOPs of one forward + backward (module docstring)."""
    config = model.encoder.config
    encoder = 6 * linear_weights(model.encoder) * batch * length
    head = 6 * linear_weights(model.mlm_head) * masked  # transform + tied decoder, masked only
    pairs = batch * attended_pairs(model, length)
    return encoder + head + 12 * config.n_layers * config.d_model * pairs


class Case:
    """One (attention, L) model with its optimizer and a fixed batch."""

    def __init__(self, config: EncoderConfig, vocab: int, args: argparse.Namespace) -> None:
        self.device = torch.device(args.device)
        self.model = MaskedLanguageModel(config, vocab).to(self.device).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)
        length = config.max_tokens
        self.tokens = torch.randint(5, vocab, (args.batch, length), generator=generator)
        self.predict = torch.rand(args.batch, length, generator=generator) < MASK_FRACTION
        self.targets = self.tokens[self.predict]
        self.tokens, self.predict, self.targets = (
            t.to(self.device) for t in (self.tokens, self.predict, self.targets)
        )
        self.autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if args.precision == "bf16"
            else nullcontext()
        )
        self.flops = step_flops(self.model, args.batch, length, int(self.predict.sum()))
        self.times: list[float] = []
        self.error: str | None = None
        self.peak_gib = math.nan

    def step(self) -> float:
        """One training step; returns its wall time in seconds."""
        self._synchronize()
        start = time.perf_counter()
        with self.autocast:
            logits = self.model(self.tokens, predict=self.predict)
            loss = nn.functional.cross_entropy(logits.float(), self.targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._synchronize()
        return time.perf_counter() - start

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def run_length(length: int, args: argparse.Namespace, vocab: int) -> dict[str, Case | str]:
    """Build every attention's case at `length`, warm up, then time alternating steps."""
    cases: dict[str, Case | str] = {}
    cuda = args.device == "cuda"
    for attention in args.attentions:
        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated()
            case = Case(build_config(args, attention, length), vocab, args)
            for _ in range(args.warmup):
                case.step()
            if cuda:  # this case's weights, optimizer state and step, beside the others'
                case.peak_gib = (torch.cuda.max_memory_allocated() - resident) / 2**30
            cases[attention] = case
        except torch.OutOfMemoryError:
            cases[attention] = "OOM"
            torch.cuda.empty_cache()
    for _ in range(args.repeats):
        for case in cases.values():
            if isinstance(case, Case) and case.error is None:
                try:
                    case.times.append(case.step())
                except torch.OutOfMemoryError:
                    case.error = "OOM"
    return cases


def row(length: int, cases: dict[str, Case | str], args: argparse.Namespace) -> list[str]:
    tokens = args.batch * length
    cells = [str(length)]
    speed = {}
    for attention in args.attentions:
        case = cases[attention]
        failure = case if isinstance(case, str) else case.error
        if failure:
            cells += [failure] * (3 + args.show_mfu + (args.device == "cuda"))
            continue
        seconds = statistics.median(case.times)
        speed[attention] = tokens / seconds
        tflops = case.flops / seconds / 1e12
        cells += [f"{seconds:.3f}", f"{tokens / seconds:,.0f}", f"{tflops:.3g}"]
        if args.show_mfu:
            cells.append(f"{100 * tflops / args.peak_tflops:.1f}%")
        if args.device == "cuda":
            cells.append(f"{case.peak_gib:.1f}")
    if len(args.attentions) == 2:
        first, second = args.attentions
        ok = first in speed and second in speed
        cells.append(f"{speed[first] / speed[second]:.2f}" if ok else "n/a")
    return cells


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument(
        "--attentions",
        nargs="+",
        choices=("bigbird", "dense", "strided", "fixed"),  # those with a dense_mask to count
        default=["bigbird", "dense"],
    )
    parser.add_argument("--batch", type=int, default=1, help="sequences per step (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--preset",
        choices=tuple(EncoderConfig.PRESETS),
        help="model sizes (default: tiny on cpu, base on cuda); the size flags override it",
    )
    for flag in ("--d-model", "--n-layers", "--n-heads", "--d-ff"):
        parser.add_argument(flag, type=int)
    parser.add_argument("--positions", choices=("learned", "rotary"))
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help="bf16 = bfloat16 autocast (default: bf16 on cuda, fp32 on cpu)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per case")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per case")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (cpu runs)")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        help=f"peak of the device for MFU (default on cuda: {H100_BF16_DENSE_TFLOPS:g}, H100 bf16)",
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    args.preset = args.preset or ("base" if args.device == "cuda" else "tiny")
    args.precision = args.precision or ("bf16" if args.device == "cuda" else "fp32")
    args.show_mfu = args.device == "cuda" or args.peak_tflops is not None
    args.peak_tflops = args.peak_tflops or H100_BF16_DENSE_TFLOPS
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab = KmerTokenizer(6, 1).vocab_size

    config = build_config(args, args.attentions[0], max(args.lengths))
    bigbird = build_config(args, "bigbird", max(args.lengths)).attention
    hardware = (
        torch.cuda.get_device_name() if args.device == "cuda" else f"{args.threads} CPU threads"
    )
    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"torch {torch.__version__}, {hardware}, {args.precision}; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"model: preset {args.preset}: {config.n_layers} layers, d_model {config.d_model}, "
        f"{config.n_heads} heads, d_ff {config.d_ff}, {config.positions} positions, bigbird "
        f"block {bigbird.block_size} (g={bigbird.global_blocks}, w={bigbird.window_blocks}, "
        f"r={bigbird.random_blocks}); batch {args.batch}; median of {args.repeats} steps after "
        f"{args.warmup} warm-up\n"
    )
    header = ["L"]
    for attention in args.attentions:
        header += [f"{attention} s/step", f"{attention} tok/s", f"{attention} TFLOP/s"]
        if args.show_mfu:
            header.append(f"{attention} MFU")
        if args.device == "cuda":
            header.append(f"{attention} peak GiB")
    if len(args.attentions) == 2:
        header.append(f"{args.attentions[0]} / {args.attentions[1]} (tok/s)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header), flush=True)
    for length in args.lengths:
        cases = run_length(length, args, vocab)
        print("| " + " | ".join(row(length, cases, args)) + " |", flush=True)
        del cases
        if args.device == "cuda":
            torch.cuda.empty_cache()
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
