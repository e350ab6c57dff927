"""genomix: learn the language of DNA with sparse-attention encoders.

The Python API (`load_model`, `predict_variants`) is imported on first use, so that
`import genomix` stays light for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genomix.errors import GenomixError

if TYPE_CHECKING:
    from genomix.api import Model, load_model, predict_variants

__all__ = ["GenomixError", "Model", "load_model", "predict_variants"]
__version__ = "0.1.0"

_API = {"Model", "load_model", "predict_variants"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from genomix import api

        return getattr(api, name)
    raise AttributeError(f"module 'genomix' has no attribute {name!r}")
