"""LiveMatch: find which catalogue item is sold in each live-stream shopping video.

This package is the application: the command line (:mod:`livematch.cli`), configs
(:mod:`livematch.config`), the pipeline and its cache, ``fit`` and its calibration, the reports,
the Python API (:mod:`livematch.api`) and the sample-data generator. It stands on the stages
(``detector``, ``embedder``, ``matcher``) and on their common ground (``ground``); nothing below
it imports it.
"""
__version__ = "0.1.0"
