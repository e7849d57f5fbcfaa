"""Glue of the model commands (``livematch detect ...``, ``embed ...``, ``match ...``, and what
``fit`` trains with): annotated roots and checkpoints in, files out. The models are in
``detector/``, ``embedder/`` and ``matcher/``."""
