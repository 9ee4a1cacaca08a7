"""Models: the code tokenizer, fill-in-the-middle, token shards, GPTBigCode presets, training and LoRA.

Planned modules: ``fim.py`` (pure text -> text, no torch), ``tokenizer.py``, ``packing.py`` (release ->
token shards), ``presets.py``, ``gpt.py``, ``train.py`` (one readable loop; DDP/FSDP via accelerate),
``lora.py`` and ``encoder.py`` (StarEncoder-like, with the NER head). Reads datasets only through
``stackwright.records`` and release manifests; torch, transformers and tokenizers are imported where
they are used (the ``model`` extra).
"""
