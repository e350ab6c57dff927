"""Fine-tuning throughput of the demo heads against the cost floor of their FLOPs.

One step = forward of a (B, L) batch through the encoder and a head, BCE on the logits,
backward, AdamW step: what `genomix finetune` does per batch. Shapes are the demo's: the
promoter head (300 bp = 296 6-mers + [CLS], one output, [CLS] pooling) and the chromatin head
(1,000 bp = 996 6-mers + [CLS], 8 outputs, mean pooling), batch 16, the tiny encoder.

Each shape runs three ways, steps interleaved so all see the same load: BigBird through its
gathered block kernel (what every length used before the masked path), BigBird as genomix runs
it now (one masked SDPA while a query block sees at least a third of the key blocks; see
`genomix.attention.bigbird`), and dense attention. The floor is the model FLOPs of a step
(bench/train.py's count: 6 N B L for the weights + 12 n_layers D pairs for attention) divided by
the FLOP/s of one large fp32 matmul measured in the same run: no step can be faster.

    python bench/finetune.py                  # 2 threads, 10 timed steps per case
    python bench/finetune.py --steps 3        # seconds, to check that it runs
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from genomix.attention.bigbird import BigBirdAttention
from genomix.heads import SequenceClassifier
from genomix.model import Encoder, EncoderConfig

VOCAB = 5 + 4**6
SHAPES = {"promoter": (297, 1, "cls"), "chromatin": (997, 8, "mean")}
PATHS = {"bigbird, gathered kernel": ("bigbird", 2.0), "bigbird, genomix": ("bigbird", None)}
PATHS["dense"] = ("dense", None)


def matmul_flops_per_second(size: int = 1024, repeats: int = 10) -> float:
    """fp32 FLOP/s of a (size x size) @ (size x size) matmul on this machine, median."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = []
    for _ in range(repeats + 2):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times[2:])


def step_flops(model: SequenceClassifier, batch: int, length: int) -> float:
    """Model FLOPs of one training step: weights of every nn.Linear (6 N B L) + attention."""
    linears = (m for m in model.encoder.blocks.modules() if isinstance(m, nn.Linear))
    weights = sum(m.weight.numel() for m in linears)
    config = model.encoder.config
    if config.attention.name == "bigbird":
        pairs = model.encoder.blocks[0].attention.dense_mask(length).sum().item()
    else:
        pairs = length * length
    return 6 * weights * batch * length + 12 * config.n_layers * config.d_model * pairs * batch


class Case:
    """One model, optimizer and fixed batch; `step()` times one training step."""

    def __init__(self, attention: str, shape: str, dense_fraction: float | None, batch: int):
        length, outputs, pooling = SHAPES[shape]
        config = EncoderConfig(
            preset="tiny", attention=attention, d_model=64, n_layers=2, n_heads=4, d_ff=256,
            max_tokens=1024, positions="rotary", embedding="both", dropout=0.0,
        )  # fmt: skip
        self.model = SequenceClassifier(Encoder(config, VOCAB), outputs, pooling=pooling)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.tokens = torch.randint(5, VOCAB, (batch, length))
        self.padding = torch.ones(batch, length, dtype=torch.bool)
        self.labels = torch.randint(0, 2, (batch, outputs)).float()
        self.dense_fraction = dense_fraction
        self.flops = step_flops(self.model, batch, length)
        self.tokens_per_step = batch * length

    def step(self) -> float:
        saved = BigBirdAttention.DENSE_FRACTION
        if self.dense_fraction is not None:
            BigBirdAttention.DENSE_FRACTION = self.dense_fraction
        try:
            started = time.perf_counter()
            logits = self.model(self.tokens, self.padding)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, self.labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            return time.perf_counter() - started
        finally:
            BigBirdAttention.DENSE_FRACTION = saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_flops_per_second()
    print(f"fp32 matmul (1024^3), {args.threads} threads: {peak / 1e9:.1f} GFLOP/s")
    print("| head | attention | tokens/s | model GFLOP/s | floor tokens/s | of floor |")
    print("|---|---|---|---|---|---|")
    for shape in SHAPES:
        cases = {
            name: Case(attention, shape, fraction, args.batch)
            for name, (attention, fraction) in PATHS.items()
        }
        for _ in range(args.warmup):
            for case in cases.values():
                case.step()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.steps):
            for name, case in cases.items():
                times[name].append(case.step())
        for name, case in cases.items():
            seconds = statistics.median(times[name])
            floor = case.tokens_per_step / (case.flops / peak)
            print(
                f"| {shape} | {name} | {case.tokens_per_step / seconds:,.0f} | "
                f"{case.flops / seconds / 1e9:.1f} | {floor:,.0f} | "
                f"{case.tokens_per_step / seconds / floor:.0%} |"
            )


if __name__ == "__main__":
    main()
