"""Shared fixtures: paths to the real demo data, a device list, and a tiny fine-tuned model."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from genomix.attention import BigBirdOptions
from genomix.config import FinetuneConfig, TokenizeConfig
from genomix.data.pretrain import write_token_shard
from genomix.data.tables import read_labeled_table
from genomix.finetune import finetune
from genomix.kmers import KmerTokenizer
from genomix.model import EncoderConfig
from genomix.seqio.genome import fetch_genome

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
PROMOTERS = DEMO / "epdnew_promoters_demo.tsv.gz"
HUMAN = DEMO / "human_grch37_chr20_1mb.fa.gz"
HUMAN_VCF = DEMO / "human_grch37_chr20_1mb_first100kb.vcf.gz"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

TINY_MODEL = EncoderConfig(
    d_model=32,
    n_layers=1,
    n_heads=2,
    d_ff=64,
    max_tokens=320,
    attention=BigBirdOptions(block_size=32, random_blocks=1),
)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every test using it runs on the CPU, and on CUDA when there is one."""
    return request.param


@pytest.fixture(params=["gathered", "masked"])
def bigbird_path(request, monkeypatch):
    """Run a test through each of BigBird's two computations: the gathered block kernel
    (long inputs) and one masked SDPA (short inputs); both must equal the mask oracle."""
    from genomix.attention.bigbird import BigBirdAttention

    fraction = 2.0 if request.param == "gathered" else 0.0
    monkeypatch.setattr(BigBirdAttention, "DENSE_FRACTION", fraction)
    return request.param


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module of tiny-tensor tests, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def promoter_table():
    """The real EPDnew demo table (300 bp promoters vs shuffled negatives)."""
    return read_labeled_table(PROMOTERS, task="promoter", seed=0)


@pytest.fixture(scope="session")
def promoter_model(tmp_path_factory: pytest.TempPathFactory, promoter_table) -> Path:
    """A promoter classifier trained from scratch for one short epoch (seconds on a CPU)."""
    out = tmp_path_factory.mktemp("models") / "promoter"
    config = FinetuneConfig(
        epochs=1, batch_size=16, max_train_rows=64, max_eval_rows=32, device="cpu"
    )
    return finetune(
        promoter_table,
        out,
        task="promoter",
        config=config,
        model_config=TINY_MODEL,
        tokenize_config=TokenizeConfig(k=3, stride=1),
        progress=False,
    )


@pytest.fixture(scope="session")
def human_genome(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The human slice as a plain, indexable FASTA (the demo file is plain gzip, not BGZF)."""
    path = tmp_path_factory.mktemp("genome") / "z.fa"
    path.write_bytes(gzip.decompress(HUMAN.read_bytes()))
    return path


@pytest.fixture(scope="session")
def human_3mer_shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo human chr20 slice fetched and tokenized into overlapping 3-mers (a token shard)."""
    folder = tmp_path_factory.mktemp("human_3mer")
    genome = fetch_genome(str(HUMAN), folder / "human.fa")
    return write_token_shard(genome, folder / "human.npy", KmerTokenizer(3, 1))
