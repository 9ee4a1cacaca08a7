"""Curation steps. ``stackwright.curate.all_steps`` registers every step under its name; this package
imports nothing itself, so one detector can be used without loading the others."""
