"""LiveMatch: find which catalogue item is sold in each live-stream shopping video.

The top-level package is the shared ground of the project: dataset layout and annotations
(:mod:`ground.dataset`), media reading (:mod:`ground.media`), boxes
(:mod:`ground.boxes`), the contest metric (:mod:`ground.metric`), configs
(:mod:`livematch.config`) and the command line (:mod:`livematch.cli`). It never imports torch,
so the matcher can depend on it without pulling in a deep-learning stack.
"""
__version__ = "0.1.0"
