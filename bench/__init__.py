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
