"""`GenomixTokenizer`: genomix's k-mer tokenizer behind the `transformers` tokenizer interface.

Overlapping k-mers cannot be expressed as a `tokenizers` pipeline (a base belongs to k tokens),
so this is a Python tokenizer. It calls `genomix.kmers.KmerTokenizer` for the k-mers, so its ids
are genomix's: ``[CLS]`` then one id per k-mer (a k-mer with a non-ACGT base is ``[UNK]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizer

from genomix.kmers import KmerTokenizer

VOCAB_FILE = "kmer_vocab.json"


class GenomixTokenizer(PreTrainedTokenizer):
    """DNA -> ``[CLS]`` + k-mer ids, as genomix encodes a model's input.

    Args:
        vocab_file: genomix's vocabulary (`kmer_vocab.json`: k, stride and the token list).
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str, **kwargs: Any) -> None:
        self.kmers = KmerTokenizer.load(vocab_file)
        self._ids = {token: index for index, token in enumerate(self.kmers.tokens)}
        for name, token in zip(
            ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"),
            self.kmers.tokens[: self.kmers.n_special],
            strict=True,
        ):
            kwargs.setdefault(name, token)
        super().__init__(**kwargs)

    @property
    def vocab_size(self) -> int:
        """5 specials + 4**k k-mers."""
        return self.kmers.vocab_size

    def get_vocab(self) -> dict[str, int]:
        """Token -> id."""
        return dict(self._ids)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.kmers.ids_to_tokens(self.kmers.encode(text))

    def _convert_token_to_id(self, token: str) -> int:
        return self._ids.get(token, self.kmers.unk_id)

    def _convert_id_to_token(self, index: int) -> str:
        return self.kmers.tokens[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """The bases the k-mers cover (N where only [UNK] or [MASK] covers a base)."""
        return self.kmers.decode([self._convert_token_to_id(token) for token in tokens])

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A`` (genomix's input); a pair is ``[CLS] A [SEP] B``."""
        pair = [] if token_ids_1 is None else [self.kmers.sep_id, *token_ids_1]
        return [self.kmers.cls_id, *token_ids_0, *pair]

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where `build_inputs_with_special_tokens` puts a special token, else 0."""
        if already_has_special_tokens:
            return [int(i < self.kmers.n_special) for i in token_ids_0]
        pair = [] if token_ids_1 is None else [1, *[0] * len(token_ids_1)]
        return [1, *[0] * len(token_ids_0), *pair]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """All zeros (genomix has no segment embedding)."""
        return [0] * len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))

    def save_vocabulary(
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str]:
        """Write genomix's vocabulary file; returns its path."""
        name = f"{filename_prefix}-{VOCAB_FILE}" if filename_prefix else VOCAB_FILE
        path = Path(save_directory) / name
        self.kmers.save(path)
        return (str(path),)
