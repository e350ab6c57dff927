"""Sequence I/O: reading and writing genomes, FASTA, BED and output files.

``compression`` (the one gzip/BGZF sniffer and reader), ``fasta`` (strict FASTA reading, the
even-width rewrite), ``genome`` (fetch and the one indexed-genome opener), ``download`` and
``checksums`` (getting and checking a genome's bytes), ``bed`` (the one BED/narrowPeak parser),
``regions`` (BED intervals cut from a genome, ``reverse_complement``), ``atomic`` (atomic
writes, locks, output guards) and ``outputs`` (TSV/Parquet table writers).
"""
