"""Reference models trained beside the transformer on the same rows: k-mer LR and a small CNN.

A gain of the transformer means something only against simple models given the same data, so
`genomix evaluate` trains both on the rows fine-tuning trained on (`finetune_rows`: same split,
same seeded cap, same positive enrichment) and scores them on the same test rows:

- ``kmer_lr``: overlapping k-mer frequencies (k-mers with N left out, each row sums to 1),
  standardised, one L2 logistic regression per profile; the penalty is chosen on the
  validation rows by mean AUROC, as fine-tuning chooses its epoch.
- ``cnn``: a small DeepSEA-style CNN on one-hot DNA (conv-pool-conv-pool-dense), BCE with
  fine-tuning's positive weights, seeded, on the CPU; the epoch with the best validation mean
  AUROC is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from genomix.data.rows import positive_weight, training_rows
from genomix.data.tables import LabeledTable
from genomix.errors import GenomixError
from genomix.kmers import KmerTokenizer
from genomix.metrics import has_both_classes, mean_auroc

PENALTIES = (0.001, 0.01, 0.1)  # inverse L2 strength C; weaker (C = 1) overfit 2,000 demo rows

Predictor = Callable[[Sequence[str]], np.ndarray]


def finetune_rows(
    table: LabeledTable, *, task: str, max_train_rows: int, max_eval_rows: int, seed: int
) -> tuple[LabeledTable, LabeledTable]:
    """The (train, valid) rows `genomix.finetune.finetune` trains and validates on.

    `genomix.data.rows.training_rows` with a generator seeded with `seed`, as fine-tuning calls
    it, so a baseline sees exactly the transformer's rows.
    """
    train, valid = training_rows(
        table,
        task=task,
        max_train_rows=max_train_rows,
        max_eval_rows=max_eval_rows,
        generator=torch.Generator().manual_seed(seed),
    )
    if len(train) == 0 or len(valid) == 0:
        raise GenomixError(
            f"the table has {len(train)} train and {len(valid)} valid rows; baselines need both"
        )
    return train, valid


def kmer_frequencies(sequences: Sequence[str], k: int) -> np.ndarray:
    """Overlapping k-mer frequencies: (N, 4**k) float32, k-mers in lexicographic order.

    k-mers containing N are left out; each row sums to 1 (0 for a sequence without any ACGT
    k-mer).
    """
    tokenizer = KmerTokenizer(k, 1)
    ids = tokenizer.encode_many(sequences)
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    rows = np.repeat(np.arange(len(ids)), lengths)
    kmers = np.concatenate(ids).astype(np.int64) - tokenizer.n_special
    known = kmers >= 0  # [UNK] (a k-mer with N) is the only special id encode gives
    size = 4**k
    counts = np.bincount(rows[known] * size + kmers[known], minlength=len(ids) * size).reshape(
        len(ids), size
    )
    return (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def _fit_or_constant(features: np.ndarray, labels: np.ndarray, penalty: float):
    """An L2 logistic regression, or the training prevalence when `labels` has one class."""
    if not has_both_classes(labels):
        prevalence = float(labels.mean())
        return lambda x: np.full(len(x), prevalence)
    model = LogisticRegression(C=penalty, max_iter=2000).fit(features, labels)
    return lambda x: model.predict_proba(x)[:, 1]


def train_kmer_lr(train: LabeledTable, valid: LabeledTable, *, k: int) -> Predictor:
    """One logistic regression per profile on k-mer frequencies (see the module docstring).

    Returns a function: N sequences -> (N, P) probabilities.
    """
    x_train = kmer_frequencies(train.sequences, k)
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train)
    x_valid = scaler.transform(kmer_frequencies(valid.sequences, k))
    best_auroc, best = -1.0, []
    for penalty in PENALTIES:
        models = [
            _fit_or_constant(x_train, train.labels[:, j], penalty)
            for j in range(train.labels.shape[1])
        ]
        auroc = mean_auroc(valid.labels, np.stack([m(x_valid) for m in models], axis=1))
        if auroc > best_auroc:
            best_auroc, best = auroc, models

    def predict(sequences: Sequence[str]) -> np.ndarray:
        features = scaler.transform(kmer_frequencies(sequences, k))
        return np.stack([m(features) for m in best], axis=1).astype(np.float32)

    return predict


_ONE_HOT = np.zeros((256, 4), dtype=np.float32)
for _column, _base in enumerate(b"ACGT"):
    _ONE_HOT[_base, _column] = _ONE_HOT[_base | 0x20, _column] = 1.0  # and soft-masked acgt
# N, other bytes and the padding stay all zero


def one_hot(sequences: Sequence[str], length: int) -> torch.Tensor:
    """(N, 4, length) float32, channels A C G T (either case); N and the padding after a sequence
    are zeros."""
    longest = max(len(s) for s in sequences)
    if longest > length:
        raise GenomixError(f"a {longest} bp sequence is longer than the cnn's {length} bp input")
    codes = np.zeros((len(sequences), length), dtype=np.uint8)  # byte 0 -> all-zero column
    for row, sequence in enumerate(sequences):
        codes[row, : len(sequence)] = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    return torch.from_numpy(_ONE_HOT[codes]).transpose(1, 2).contiguous()


class DeepSeaCNN(nn.Module):
    """DeepSEA's layout, small: conv(8)-BN-ReLU-maxpool(4) twice, then dense on the flattened map.

    The dense layer sees each position (DeepSEA's design: where a motif sits matters), so the
    input length is fixed: forward x (B, 4, length) one-hot -> (B, P) logits.
    """

    def __init__(self, n_outputs: int, length: int, *, channels: int = 32, hidden: int = 32):
        super().__init__()
        positions = ((length - 7) // 4 - 7) // 4
        if positions < 1:
            raise GenomixError(f"the cnn baseline needs inputs of at least 39 bp, not {length}")
        self.features = nn.Sequential(
            nn.Conv1d(4, channels, 8),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(channels, channels, 8),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(channels * positions, hidden),
            # Without it every hidden unit can go negative for every input on the 1-kb chromatin
            # windows (seen on the demo: a constant output, AUROC 0.500 on all profiles).
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@torch.no_grad()
def _score_cnn(model: DeepSeaCNN, inputs: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Sigmoid outputs (N, P) of `model` on one-hot inputs (N, 4, L), in eval mode."""
    model.eval()
    return torch.cat(
        [
            torch.sigmoid(model(inputs[i : i + batch_size]))
            for i in range(0, len(inputs), batch_size)
        ]
    ).numpy()


def train_cnn(
    train: LabeledTable,
    valid: LabeledTable,
    *,
    length: int,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> Predictor:
    """Train a DeepSeaCNN on CPU (seeded) and return N sequences -> (N, P) probabilities.

    Inputs are padded to `length` bases (the longest sequence the model will see). The epoch
    with the best mean validation AUROC is kept.
    """
    # Initialisation and dropout draw from torch's global RNG: seed it, and restore it after.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DeepSeaCNN(len(train.profiles), length)
        generator = torch.Generator().manual_seed(seed)
        x_train, x_valid = one_hot(train.sequences, length), one_hot(valid.sequences, length)
        labels = torch.from_numpy(train.labels)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weight(train.labels))
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        best_auroc, best_state = -1.0, None
        for _ in range(epochs):
            model.train()
            for batch in torch.randperm(len(x_train), generator=generator).split(batch_size):
                if len(batch) < 2:  # BatchNorm needs two examples
                    continue
                loss = loss_fn(model(x_train[batch]), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            auroc = mean_auroc(valid.labels, _score_cnn(model, x_valid))
            if auroc > best_auroc:
                best_auroc, best_state = auroc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)

    def predict(sequences: Sequence[str]) -> np.ndarray:
        return _score_cnn(model, one_hot(sequences, length))

    return predict


@dataclass(frozen=True)
class BaselineSettings:
    """What a baseline trainer may use besides its rows (config.yaml section `evaluate`).

    `length`: the longest sequence (bp) the baseline will score (the cnn's fixed input width).
    """

    kmer_k: int
    cnn_epochs: int
    length: int
    seed: int


# (train rows, valid rows, settings) -> a trained predictor
Trainer = Callable[[LabeledTable, LabeledTable, BaselineSettings], Predictor]

# The baselines by name (config.yaml `evaluate.baselines`; the schema's enum lists the same
# names, tests/test_baselines.py checks it). A new baseline is one trainer and one entry here.
BASELINES: Mapping[str, Trainer] = {
    "kmer_lr": lambda train, valid, settings: train_kmer_lr(train, valid, k=settings.kmer_k),
    "cnn": lambda train, valid, settings: train_cnn(
        train, valid, length=settings.length, epochs=settings.cnn_epochs, seed=settings.seed
    ),
}


def train_baselines(
    names: Sequence[str],
    train: LabeledTable,
    valid: LabeledTable,
    *,
    kmer_k: int,
    cnn_epochs: int,
    length: int,
    seed: int,
) -> Mapping[str, Predictor]:
    """The baselines `names` (keys of BASELINES), trained on (train, valid), by name.

    `length`: the longest sequence (bp) any of them will score (the cnn's fixed input width).
    """
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise GenomixError(
            f"unknown baseline(s) {', '.join(unknown)} (expected {', '.join(BASELINES)})"
        )
    settings = BaselineSettings(kmer_k=kmer_k, cnn_epochs=cnn_epochs, length=length, seed=seed)
    return {name: BASELINES[name](train, valid, settings) for name in names}
