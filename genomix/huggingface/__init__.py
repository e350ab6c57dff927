"""Hugging Face `transformers` classes for genomix model directories (custom-code layout).

The three modules here are copied, as they are, into every model directory genomix writes, so
that `AutoConfig`, `AutoTokenizer` and `AutoModelFor...` load it with `trust_remote_code=True`.
They wrap genomix's own classes (they import `genomix`) instead of re-implementing them.
"""
