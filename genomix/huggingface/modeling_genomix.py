"""`transformers` model classes that wrap genomix's own modules.

Each class builds the genomix module its config describes (`genomix.checkpoint.build_*`) and
registers that module's children as its own, so the parameter names are genomix's
(`encoder.*`, `mlm_head.*`, `head.*`): the directory's `model.safetensors` loads as it is, and
`save_pretrained` writes a file genomix reads. The forward pass is the genomix module's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    SequenceClassifierOutput,
)

from genomix.checkpoint import build_classifier, build_masked_lm
from genomix.kmers import KmerTokenizer
from genomix.model import _init_weights

from .configuration_genomix import GenomixConfig


def _kmer_tokenizer(config: GenomixConfig) -> KmerTokenizer:
    return KmerTokenizer(int(config.tokenizer["k"]), int(config.tokenizer["stride"]))


def _classifier_metadata(config: GenomixConfig) -> dict[str, Any]:
    """The classifier a config describes. A pretrained (masked-LM) config gets a new head: one
    output per `id2label` entry (`num_labels=` of `from_pretrained`), [CLS] pooling, one strand."""
    metadata = config.to_dict()
    metadata.setdefault("profiles", [config.id2label[i] for i in range(config.num_labels)])
    metadata.setdefault("pooling", "cls")
    metadata.setdefault("finetune", {})
    return metadata


def _padding_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T) bool, True = real token: the attention mask, or all True."""
    if attention_mask is None:
        return torch.ones_like(input_ids, dtype=torch.bool)
    return attention_mask.bool()


class GenomixPreTrainedModel(PreTrainedModel):
    """Shared loading behaviour: genomix's initialisation for weights a checkpoint lacks."""

    config_class = GenomixConfig
    base_model_prefix = "genomix"

    def _adopt(self, module: nn.Module) -> None:
        """Register `module`'s children on this model and keep `module` to run forward.

        `module` itself is stored outside `nn.Module`'s registry, so its parameters are named
        once, without a prefix; its children are the same objects, so `.to()`, `.eval()` and
        loaded weights reach it.
        """
        for name, child in module.named_children():
            self.add_module(name, child)
        object.__setattr__(self, "genomix_module", module)

    def _init_weights(self, module: nn.Module) -> None:
        _init_weights(module)  # BERT initialisation, as genomix.model.Encoder


class GenomixModel(GenomixPreTrainedModel):
    """The encoder alone: `last_hidden_state` (B, T, d_model)."""

    def __init__(self, config: GenomixConfig) -> None:
        super().__init__(config)
        encoder = build_masked_lm(config.to_dict(), _kmer_tokenizer(config)).encoder
        self.add_module("encoder", encoder)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutput:
        """input_ids: (B, T) long, [CLS] first; attention_mask: (B, T) 0/1."""
        hidden = self.encoder(input_ids, _padding_mask(input_ids, attention_mask))
        return BaseModelOutput(last_hidden_state=hidden)


class GenomixForMaskedLM(GenomixPreTrainedModel):
    """`genomix.model.MaskedLanguageModel`: logits (B, T, vocab_size) over the k-mers."""

    def __init__(self, config: GenomixConfig) -> None:
        super().__init__(config)
        self._adopt(build_masked_lm(config.to_dict(), _kmer_tokenizer(config)))
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.token_embedding

    def get_output_embeddings(self) -> None:
        # genomix's MLM head scores against encoder.token_embedding.matrix() in its forward:
        # the decoder is the embedding itself, with no second weight for transformers to tie.
        return None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MaskedLMOutput:
        """input_ids: (B, T) long; labels: (B, T) long, -100 where not predicted."""
        logits = self.genomix_module(input_ids, _padding_mask(input_ids, attention_mask))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())
        return MaskedLMOutput(loss=loss, logits=logits)


class GenomixForSequenceClassification(GenomixPreTrainedModel):
    """`genomix.heads.SequenceClassifier`: one logit per output (B, P); sigmoid gives genomix's
    probabilities (strand-averaged when the model was fine-tuned so). Loaded from a pretrained
    directory, it gets a new, randomly initialised head on the pretrained encoder."""

    def __init__(self, config: GenomixConfig) -> None:
        super().__init__(config)
        self._adopt(build_classifier(_classifier_metadata(config), _kmer_tokenizer(config)))
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        """input_ids: (B, T) long, [CLS] first; labels: (B, P) 0/1 (binary cross-entropy)."""
        logits = self.genomix_module(input_ids, _padding_mask(input_ids, attention_mask))
        loss = None
        if labels is not None:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(loss=loss, logits=logits)
