"""Labelled data sets: build them from a genome (``labels``), read them back (``tables``) and
pick the rows each model trains, validates and is evaluated on (``rows``)."""
