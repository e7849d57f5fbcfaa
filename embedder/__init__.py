"""Embedder: timm backbone + GeM + Linear + BatchNorm, trained with ArcFace-family heads and
cross-batch memory; turns every crop into an l2-normalised feature.

``model.build_embedder``, ``losses.EmbeddingLoss``, ``samplers.AspectRatioBatchSampler``,
``train.train``, ``extract.embed_images``. Submodules import torch; this package file does not,
so that ``embedder.config`` stays light.
"""
