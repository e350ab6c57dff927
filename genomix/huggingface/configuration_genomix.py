"""`GenomixConfig`: a genomix model directory's `config.json`, as a `transformers` config.

genomix's own keys (`kind`, `model`, `tokenizer`, and for classifiers `profiles`, `pooling`,
`window_bases`, `finetune`, ...) are kept as they are, so a directory written by
`save_pretrained` still loads in genomix.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class GenomixConfig(PretrainedConfig):
    """genomix metadata plus the keys `transformers` reads (`id2label`, `vocab_size`, ...).

    Args:
        kind: "mlm" (pretrained masked-LM) or "classifier" (fine-tuned head).
        model: the encoder's options (`genomix.model.EncoderConfig` fields).
        tokenizer: ``{"k": k, "stride": stride}`` of the k-mer tokenizer.
        tie_word_embeddings: False: genomix's MLM head reads the embedding matrix itself
            (`genomix.model.MLMHead`), so transformers has no weights to tie.
        **kwargs: the rest of genomix's metadata and `PretrainedConfig`'s own keys.
    """

    model_type = "genomix"

    def __init__(
        self,
        kind: str = "mlm",
        model: dict[str, Any] | None = None,
        tokenizer: dict[str, int] | None = None,
        tie_word_embeddings: bool = False,
        **kwargs: Any,
    ) -> None:
        self.kind = kind
        self.model = dict(model or {})
        self.tokenizer = dict(tokenizer or {"k": 6, "stride": 1})
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)
