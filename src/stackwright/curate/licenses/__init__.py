"""Repository license detection: a fast matcher over ScanCode's license data, SPDX expressions,
a permissive allow-list, and the pipeline steps that annotate and filter files by license."""
