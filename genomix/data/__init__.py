"""Labelled data sets: build them from a genome (``labels``) and read them back (``tables``)."""
