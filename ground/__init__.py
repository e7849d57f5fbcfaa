"""The ground every LiveMatch stage stands on: the dataset layout and its annotations, media
decoding, boxes, the contest metric, checkpoints, errors, run summaries. It imports no stage
(``detector``, ``embedder``, ``matcher``) and nothing of the application (``livematch``)."""
