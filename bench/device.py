"""One GPU check, ready to run: every measurement that needs a device, in one markdown table.

    PYTHONPATH=. bash bench/device.sh --out device.md         # one GPU, at most 8 minutes
    PYTHONPATH=. bash bench/device.sh --dry-run --out x.md    # CPU, tiny sizes, seconds (tests)

Each row is one case; a case that fails writes its error in its row and the others still run.
After --time-limit seconds the case running is interrupted and the rest are skipped. The table
is rewritten (atomically) after every row, so a run killed from outside keeps what it measured.

    train      the masked-LM training step of bench/train.py (`Case`: forward, cross-entropy on
               15% of positions, backward, AdamW) of --preset (base) at --length (4,096) tokens x
               --batches sequences, bf16 autocast, eager: BigBird and dense side by side.
    attention  the attention operation alone, forward + backward, on (1, H, L, Dh) q, k, v of
               the preset (base: H=12, Dh=64) in bf16, at --attention-lengths (4k, 16k, 64k):
               genomix's BigBird (`attend`), FlexAttention (torch.compile'd flex_attention with
               the block mask of that BigBird pattern, checked against it) and dense SDPA.
    compile    the train step with the model under torch.compile; the note gives the compile
               (first step) time and the speed-up over the eager row.
    ddp        one DDP training step, world size 1, NCCL (gloo in the dry run), rendezvous on
               tcp://127.0.0.1:<free port>; asserts the backend, an all-reduce and moved weights.

Model FLOPs (PaLM, Chowdhery et al. 2022, appendix B; recomputation is not counted):
    train step       6 N B L + 6 (D^2 + V D) M + 12 n_layers D pairs      (bench/train.py)
    attention        12 H Dh pairs for forward + backward (4 H Dh per pair forward: q k^T and
                     weights @ v; backward twice that), 4 H Dh pairs forward alone
where pairs = B x the (query, key) pairs the pattern scores: L^2 dense, the block pattern's
count for BigBird and Flex. MFU = TFLOP/s / --peak-tflops (989: H100/H200 SXM dense bf16).
Times are the median of --repeats steps after --warmup, each bracketed by cuda.synchronize.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from bench.train import H100_BF16_DENSE_TFLOPS, Case, build_config
from genomix.attention import build_attention
from genomix.attention.masks import bigbird_block_mask
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig

if TYPE_CHECKING:
    from torch.nn.attention.flex_attention import BlockMask

VOCAB = KmerTokenizer(6, 1).vocab_size
COLUMNS = ("check", "case", "tokens", "ms", "tokens/s", "TFLOP/s", "MFU", "peak GiB", "note")


@dataclass
class Row:
    """One line of the table: a case's median step time, its model FLOPs and peak memory."""

    check: str
    case: str
    tokens: int = 0
    seconds: float = math.nan
    flops: float = math.nan
    peak_gib: float = math.nan
    note: str = ""

    def cells(self, peak_tflops: float) -> list[str]:
        tflops = self.flops / self.seconds / 1e12
        numbers = [
            f"{self.tokens:,}" if self.tokens else "",
            f"{1e3 * self.seconds:.2f}",
            f"{self.tokens / self.seconds:,.0f}" if self.tokens else "",
            f"{tflops:.1f}" if tflops >= 1 else f"{tflops:.3g}",
            f"{100 * tflops / peak_tflops:.1f}%",
            f"{self.peak_gib:.2f}",
        ]
        numbers = ["" if "nan" in cell else cell for cell in numbers]
        return [self.check, self.case, *numbers, self.note.replace("|", "/")]


class CaseTimeout(Exception):
    """Raised in the running case when the global --time-limit is reached."""


@dataclass
class Bench:
    """Settings shared by the cases, and the eager train times the compile rows compare with."""

    args: argparse.Namespace
    device: torch.device
    dtype: torch.dtype
    eager_seconds: dict[str, float]

    def train_args(self, batch: int) -> argparse.Namespace:
        """The namespace bench/train.py's `build_config` and `Case` read."""
        return argparse.Namespace(
            device=self.device.type,
            batch=batch,
            precision="bf16" if self.dtype == torch.bfloat16 else "fp32",
            preset=self.args.preset,
            activation_checkpointing=False,
            **dict.fromkeys(("d_model", "n_layers", "n_heads", "d_ff", "positions")),
        )

    def config(self, attention: str, length: int) -> EncoderConfig:
        return build_config(self.train_args(1), attention, length)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def median_seconds(self, step: Callable[[], object]) -> float:
        """Median wall time of `step` over --repeats calls after --warmup calls."""
        for _ in range(self.args.warmup):
            step()
        times = []
        for _ in range(self.args.repeats):
            self.synchronize()
            start = time.perf_counter()
            step()
            self.synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def reset_peak(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float:
        if self.device.type != "cuda":
            return math.nan
        return torch.cuda.max_memory_allocated(self.device) / 2**30


def train_case(bench: Bench, attention: str, batch: int, *, compiled: bool) -> Row:
    """The masked-LM training step (bench/train.py's `Case`), eager or under torch.compile."""
    bench.reset_peak()
    train_args = bench.train_args(batch)
    case = Case(build_config(train_args, attention, bench.args.length), VOCAB, train_args)
    name, note = f"{attention} B={batch}", ""
    if compiled:
        # Each layer's BigBird traces its own (seeded) random draw: one frame per layer.
        torch._dynamo.config.recompile_limit = max(64, torch._dynamo.config.recompile_limit)
        case.model = torch.compile(case.model, backend=bench.args.compile_backend)
        name += " compiled"
        note = f"compile + first step {case.step():.1f} s"
    seconds = bench.median_seconds(case.step)
    key = f"{attention} {batch}"
    if compiled and key in bench.eager_seconds:
        note += f"; {bench.eager_seconds[key] / seconds:.2f}x eager"
    elif not compiled:
        bench.eager_seconds[key] = seconds
    row = Row("train", name, batch * bench.args.length, seconds, case.flops, bench.peak_gib(), note)
    if compiled:
        torch._dynamo.reset()  # drop the compiled graphs (and the model they hold)
    return row


def block_table(bench: Bench, length: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The preset's layer-0 BigBird attention and its (nb, nb) bool block pattern at `length`."""
    config = bench.config("bigbird", length)
    options = config.attention.for_layer(0)
    module = build_attention("bigbird", options, config.d_model, config.n_heads)
    if length % options.block_size:
        raise ValueError(f"L={length} is not a multiple of the block size {options.block_size}")
    n_blocks = length // options.block_size
    table = bigbird_block_mask(
        n_blocks,
        global_blocks=module.global_blocks,
        window_blocks=module.window_blocks,
        random_table=module.fixed_random_table(n_blocks),
    )
    return module.to(bench.device).train(), table


def flex_block_mask(
    table: torch.Tensor, block: int, sparse_block: tuple[int, int], device: torch.device
) -> BlockMask:
    """A FlexAttention BlockMask of the (nb, nb) block pattern `table` of `block` positions.

    Its blocks are `sparse_block` = (query, key) positions, multiples of `block`: a block wholly
    inside the pattern is full (no mask_mod evaluated), one partly inside is partial (the
    mask_mod looks the pattern up per position). Built from the table alone: O(nb^2), never
    (L, L).
    """
    from torch.nn.attention.flex_attention import BlockMask

    rows, cols = (size // block for size in sparse_block)
    n_blocks = table.shape[0]
    grouped = table.view(n_blocks // rows, rows, n_blocks // cols, cols)
    full, partial = grouped.all(3).all(1), grouped.any(3).any(1) & ~grouped.all(3).all(1)
    table = table.to(device)

    def mask_mod(b, h, q_idx, kv_idx):
        return table[q_idx // block, kv_idx // block]

    def blocks(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Allowed columns first, in order: (1, 1, n) counts and (1, 1, n, n) indices.
        order = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True)
        return mask.sum(-1, dtype=torch.int32)[None, None], order.to(torch.int32)[None, None]

    counts, indices = blocks(partial)
    full_counts, full_indices = blocks(full)
    return BlockMask.from_kv_blocks(
        counts.to(device),
        indices.to(device),
        full_counts.to(device),
        full_indices.to(device),
        BLOCK_SIZE=sparse_block,
        mask_mod=mask_mod,
    )


# FlexAttention tilings tried in turn, (query, key) sparse blocks: BigBird's 64 x 64 with
# inductor's own tiles, then with tiles that divide 64; then 128 x 64 and 128 x 128, where the
# pattern is applied per position inside partial blocks (the same attention, more work).
FLEX_TRIES = (
    ((64, 64), None),
    (
        (64, 64),
        {
            "fwd_BLOCK_M": 64,
            "fwd_BLOCK_N": 64,
            "bwd_BLOCK_M1": 32,
            "bwd_BLOCK_N1": 64,
            "bwd_BLOCK_M2": 64,
            "bwd_BLOCK_N2": 32,
        },
    ),
    ((128, 64), None),
    ((128, 128), None),
)


def bigbird_attend(
    bench: Bench, length: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[Callable, int, str]:
    module, table = block_table(bench, length)
    return module.attend, int(table.sum()) * module.block_size**2, ""


def flex_attend(
    bench: Bench, length: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[Callable, int, str]:
    from torch.nn.attention.flex_attention import flex_attention

    module, table = block_table(bench, length)
    with torch.no_grad():
        reference = module.attend(q, k, v).float()
    backward = bench.device.type == "cuda"
    kernel = torch.compile(flex_attention, dynamic=False) if backward else flex_attention
    errors = []
    for sparse_block, options in FLEX_TRIES:
        if any(size % module.block_size for size in sparse_block):
            continue
        mask = flex_block_mask(table, module.block_size, sparse_block, bench.device)

        def attend(q, k, v, mask=mask, options=options):
            return kernel(q, k, v, block_mask=mask, kernel_options=options)

        try:
            out = attend(*(t if backward else t.detach() for t in (q, k, v)))
            if backward:
                out.backward(torch.ones_like(out))  # compiles the backward too
        except Exception as error:  # noqa: BLE001 - the next tiling may compile
            tiles = "inductor" if options is None else "set"
            errors.append(f"{sparse_block[0]}x{sparse_block[1]}, {tiles} tiles: {error}")
            continue
        difference = (out.detach().float() - reference).abs().max().item()
        tiles = "inductor" if options is None else "set"
        note = f"sparse blocks {sparse_block[0]}x{sparse_block[1]}, {tiles} tiles"
        note += f"; max abs diff vs bigbird {difference:.2g}"
        for error in errors:
            note += f"; failed before: {first_line(error)[:120]}"
        return attend, int(table.sum()) * module.block_size**2, note
    raise RuntimeError("; ".join(first_line(error) for error in errors))


def sdpa_attend(
    bench: Bench, length: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[Callable, int, str]:
    return F.scaled_dot_product_attention, length * length, ""


# Attention implementations: (bench, L, q, k, v) -> (attend(q, k, v), scored pairs, note).
ATTENDS: dict[str, Callable] = {"bigbird": bigbird_attend, "flex": flex_attend, "sdpa": sdpa_attend}


def attention_case(bench: Bench, impl: str, length: int) -> Row:
    """Forward + backward of one attention implementation on (1, H, L, Dh) q, k, v."""
    bench.reset_peak()
    config = bench.config("bigbird", length)
    heads, head_dim = config.n_heads, config.d_model // config.n_heads
    generator = torch.Generator(bench.device).manual_seed(0)
    q, k, v, grad = (
        torch.randn(1, heads, length, head_dim, device=bench.device, generator=generator)
        .to(bench.dtype)
        .requires_grad_(i < 3)
        for i in range(4)
    )
    attend, pairs, note = ATTENDS[impl](bench, length, q, k, v)
    backward = impl != "flex" or bench.device.type == "cuda"

    def step() -> None:
        if backward:
            attend(q, k, v).backward(grad)
        else:
            with torch.no_grad():
                attend(q.detach(), k.detach(), v.detach())

    seconds = bench.median_seconds(step)
    flops = (12 if backward else 4) * heads * head_dim * pairs
    note = ("fwd+bwd" if backward else "fwd only") + (f"; {note}" if note else "")
    return Row("attention", f"{impl} L={length:,}", length, seconds, flops, bench.peak_gib(), note)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ddp_case(bench: Bench) -> Row:
    """One DDP training step in a process group of one (NCCL on CUDA, gloo on the CPU)."""
    backend = "nccl" if bench.device.type == "cuda" else "gloo"
    bench.reset_peak()
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        train_args = bench.train_args(1)
        case = Case(build_config(train_args, "bigbird", bench.args.length), VOCAB, train_args)
        ids = [torch.cuda.current_device()] if bench.device.type == "cuda" else None
        case.model = DistributedDataParallel(case.model, device_ids=ids)
        before = [p.detach().clone() for p in case.model.parameters()]
        seconds = case.step()
        moved = sum(
            not torch.equal(a, p) for a, p in zip(before, case.model.parameters(), strict=True)
        )
        total = torch.ones(1, device=bench.device)
        dist.all_reduce(total)
        if dist.get_backend() != backend or total.item() != 1.0 or not moved:
            raise RuntimeError(
                f"backend {dist.get_backend()}, all-reduce {total.item()}, {moved} tensors moved"
            )
        note = f"{backend}, world size 1: all-reduce ok, {moved}/{len(before)} tensors moved"
        tokens = bench.args.length
        return Row("ddp", "bigbird B=1", tokens, seconds, case.flops, bench.peak_gib(), note)
    finally:
        dist.destroy_process_group()


CHECKS = ("train", "attention", "ddp", "compile")


def cases(bench: Bench) -> Iterator[tuple[str, str, Callable[[], Row]]]:
    """(check, case, run) of the --checks asked for, in the order they run: the cheap, most
    wanted figures first."""
    for check, name, run in _all_cases(bench):
        kind = "compile" if name.endswith(" compiled") else check
        if kind in bench.args.checks:
            yield check, name, run


def _all_cases(bench: Bench) -> Iterator[tuple[str, str, Callable[[], Row]]]:
    args = bench.args
    for batch in args.batches:
        for attention in ("bigbird", "dense"):
            yield (
                "train",
                f"{attention} B={batch}",
                lambda a=attention, b=batch: train_case(bench, a, b, compiled=False),
            )
    for length in args.attention_lengths:
        for impl in ATTENDS:
            yield (
                "attention",
                f"{impl} L={length:,}",
                lambda i=impl, n=length: attention_case(bench, i, n),
            )
    yield "ddp", "bigbird B=1", lambda: ddp_case(bench)
    batch = max(args.batches)
    # Dense first: a compiled BigBird step has crashed the CUDA context (illegal memory access),
    # which fails every later case of the process.
    for attention in ("dense", "bigbird"):
        yield (
            "train",
            f"{attention} B={batch} compiled",
            lambda a=attention: train_case(bench, a, batch, compiled=True),
        )


def first_line(error: object) -> str:
    lines = str(error).strip().splitlines() or [""]
    return lines[0][:160]


def run_case(run: Callable[[], Row], check: str, name: str, seconds_left: float) -> Row:
    """`run()`, interrupted after `seconds_left`; any error becomes the row's note."""
    if seconds_left <= 0:
        return Row(check, name, note="skipped: --time-limit reached")

    def interrupt(signum, frame):
        raise CaseTimeout(f"interrupted: --time-limit reached after {seconds_left:.0f} s left")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds_left)
    try:
        return run()
    except Exception as error:  # noqa: BLE001 - every failure is reported in its row
        if isinstance(error, torch.OutOfMemoryError):
            torch.cuda.empty_cache()
        return Row(check, name, note=f"error: {type(error).__name__}: {first_line(error)}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def preamble(bench: Bench) -> list[str]:
    args = bench.args
    config = bench.config("bigbird", args.length)
    bigbird = config.attention
    if bench.device.type == "cuda":
        hardware = f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}"
    else:
        hardware = f"CPU, {torch.get_num_threads()} threads (dry run)"
    return [
        f"command: {' '.join(['python', *sys.argv])}",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}; {hardware}; "
        f"{'bf16 autocast' if bench.dtype == torch.bfloat16 else 'fp32'}; checks "
        f"{', '.join(args.checks)}",
        f"preset {args.preset}: {config.n_layers} layers, d_model {config.d_model}, "
        f"{config.n_heads} heads, d_ff {config.d_ff}, bigbird block {bigbird.block_size} "
        f"(g={bigbird.global_blocks}, w={bigbird.window_blocks}, r={bigbird.random_blocks}); "
        f"median of {args.repeats} steps after {args.warmup} warm-up; MFU against "
        f"{args.peak_tflops:g} TFLOP/s; FLOPs as in bench/device.py's docstring",
        "",
    ]


def table_lines(rows: list[Row], peak_tflops: float) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return lines + ["| " + " | ".join(row.cells(peak_tflops)) + " |" for row in rows]


def write_atomically(path: Path, lines: list[str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, fp32, seconds")
    parser.add_argument("--preset", choices=tuple(EncoderConfig.PRESETS), help="default base")
    parser.add_argument("--length", type=int, help="tokens per sequence (default 4096)")
    parser.add_argument("--batches", type=int, nargs="+", help="train batches (default 1 8)")
    parser.add_argument("--attention-lengths", type=int, nargs="+", help="default 4k 16k 64k")
    parser.add_argument(
        "--checks", nargs="+", choices=CHECKS, default=list(CHECKS), help="default: all"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per case")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per case")
    parser.add_argument("--time-limit", type=float, default=450.0, help="seconds for all cases")
    parser.add_argument("--compile-backend", help="torch.compile backend (default inductor)")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_BF16_DENSE_TFLOPS,
        help="the device's peak for MFU (default: H100/H200 SXM dense bf16)",
    )
    args = parser.parse_args(argv)
    # The dry run: every case on the CPU at tiny sizes; compile traces with the eager backend
    # (no C++ code generation) and Flex runs forward only (it has no CPU backward).
    dry = args.dry_run
    args.preset = args.preset or ("tiny" if dry else "base")
    args.length = args.length or (256 if dry else 4096)
    args.batches = args.batches or ([2] if dry else [1, 8])
    args.attention_lengths = args.attention_lengths or ([256, 512] if dry else [4096, 16384, 65536])
    args.compile_backend = args.compile_backend or ("eager" if dry else "inductor")
    if dry:
        args.warmup, args.repeats = min(args.warmup, 1), min(args.repeats, 2)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("bench/device.py: torch sees no CUDA device (use --dry-run on a CPU)")
    cuda = not args.dry_run
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    bench = Bench(args, device, torch.bfloat16 if cuda else torch.float32, {})
    deadline = time.monotonic() + args.time_limit
    torch.manual_seed(0)
    head = preamble(bench)
    print("\n".join(head + table_lines([], args.peak_tflops)), flush=True)
    rows: list[Row] = []
    for check, name, run in cases(bench):
        row = run_case(run, check, name, deadline - time.monotonic())
        rows.append(row)
        print(table_lines([row], args.peak_tflops)[-1], flush=True)
        write_atomically(args.out, head + table_lines(rows, args.peak_tflops))


if __name__ == "__main__":
    main()
