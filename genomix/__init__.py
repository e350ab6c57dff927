"""genomix: learn the language of DNA with sparse-attention encoders."""

from genomix.errors import GenomixError

__all__ = ["GenomixError"]
__version__ = "0.1.0"
