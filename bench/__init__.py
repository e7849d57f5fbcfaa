"""Benchmarks: run each as a module from the repository root, e.g. ``python -m bench.decode``."""


def procedure(pairs=()):
    """fit's :class:`livematch.calibration.Procedure` with ``KEY=VALUE`` pairs (``--procedure``)
    set: how fit searches, estimates and decides, which only the benchmarks vary (e.g. ``rounds=1``,
    ``bootstrap=200``, ``vote_rules=written/greedy,set/global``)."""
    from dataclasses import fields, replace

    from livematch.calibration import Procedure

    PROCEDURE = Procedure()
    types = {f.name: type(getattr(PROCEDURE, f.name)) for f in fields(PROCEDURE)}
    values = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"--procedure {pair!r}: no such key; choose from {', '.join(types)}")
        values[key] = tuple(value.split(",")) if types[key] is tuple else types[key](value)
    return replace(PROCEDURE, **values)


def bound_threads(n: int = 2, faiss: bool = False) -> int:
    """At most ``n`` CPU threads for torch (and faiss's OpenMP with ``faiss``): the benches run on
    shared machines, and their ratios compare runs at the same thread count. Returns torch's."""
    import torch

    torch.set_num_threads(max(1, min(n, torch.get_num_threads())))
    if faiss:
        import faiss as _faiss

        _faiss.omp_set_num_threads(max(1, min(n, _faiss.omp_get_max_threads())))
    return torch.get_num_threads()


def sample_root(work, name: str, seed: int, **size):
    """The generated sample root ``work/data/NAME`` of ``seed`` and ``size`` (fields of
    :class:`~livematch.sampledata.generate.SampleConfig`), written again unless the one there was
    written by the same configuration (recorded beside it, ``NAME.json``)."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from livematch.sampledata.generate import SampleConfig, generate_dataset

    cfg = SampleConfig(**{"workers": 2, **size, "seed": seed})
    root, stamp = Path(work) / "data" / name, Path(work) / "data" / f"{name}.json"
    wanted = json.dumps(asdict(cfg), sort_keys=True)
    if not (root / "video").is_dir() or not stamp.is_file() or stamp.read_text() != wanted:
        generate_dataset(root, cfg, overwrite=True, progress=False)
        stamp.write_text(wanted)
    return root
