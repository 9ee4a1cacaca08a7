"""Versioned releases: an immutable, verifiable copy of a built dataset with its data card.

A release folder holds the Parquet shards, a manifest with the checksum of every file, a
username -> repositories index for "Am I in the dataset?" look-ups, and a data card (Markdown and
a self-contained HTML page). ``writer`` makes one, ``verify`` checks one, ``diff`` compares two.
"""
