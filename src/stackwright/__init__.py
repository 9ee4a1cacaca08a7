"""stackwright: build code language models from permissively licensed, consented, curated code."""

__version__ = "0.1.0"
