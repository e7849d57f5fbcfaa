"""LiveMatch: find which catalogue item is sold in each live-stream shopping video.

This package is the application: the command line (:mod:`livematch.cli`), configs
(:mod:`livematch.config`), the pipeline and its cache, ``fit`` and its calibration, the reports,
the Python API (:mod:`livematch.api`) and the sample-data generator. It stands on the stages
(``detector``, ``embedder``, ``matcher``) and on their common ground (``ground``); nothing below
it imports it.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``livematch.Pipeline`` (:class:`livematch.api.Pipeline`), imported on first use so that
    ``import livematch`` (and the command line) does not load torch."""
    if name == "Pipeline":
        from livematch.api import Pipeline

        return Pipeline
    raise AttributeError(f"module 'livematch' has no attribute {name!r}")
