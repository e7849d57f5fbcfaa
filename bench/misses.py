"""Why each clip that sells a listed item is missed or wrong, at a fit's chosen setting.

    python -m bench.misses --fit runs/fit_demo --work runs/abl_lite30 --data data/seed31 --data data/seed32

``--work`` holds the roots' crop rows (``bench.fit_ablation``'s folders; computed there when
absent). Each clip is counted under one reason: right; missed or wrong because the true item's
folder had no shop crop left by the photo threshold, claimed nothing, picked another clip (won
or lost there; with the rank of the true clip among the clips its shop crops reach first, 0 when
none of them does), or picked it and lost it to a nearer folder / the distance cut-off; and, for
clips that sell nothing, whether they got an entry. Prints the counts, writes JSON.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np


def reasons(cal, setting) -> Counter:
    """One reason per clip of ``cal``'s split (a :class:`livematch.calibration.SplitScorer`)."""
    from ground.metric import sold_items
    from matcher.voting import match_catalogue
    shop, video, dist, rows = cal.search(setting)
    res = match_catalogue(shop, video, dist, rows, cal.voting(setting))
    truth, picks, listed = sold_items(cal.gt), {}, set(shop.owner)
    for claim in res.claims:
        picks.setdefault(claim.item_id, claim)  # a folder's pick comes first
    counts = Counter()
    for clip in cal.gt.videos:
        item, match = truth.get(clip), res.matches.get(clip)
        if item is None:
            counts["sells nothing: " + ("an entry" if match else "no entry")] += 1
            continue
        if match and match.item_id == item:
            counts["right"] += 1
            continue
        pick = picks.get(item)
        if item not in listed:
            why = "no shop crop of its folder above the photo threshold"
        elif pick is None:
            why = "its folder claimed nothing"
        elif pick.video_id != clip:
            won = pick.video_id in res.matches and res.matches[pick.video_id].item_id == item
            q = np.flatnonzero(shop.owner == item)
            nearest: dict[str, float] = {}
            for owner, d in zip(video.owner[rows[q, 0]], dist[q, 0]):
                nearest[str(owner)] = min(nearest.get(str(owner), np.inf), float(d))
            rank = sorted(nearest, key=nearest.get).index(clip) + 1 if clip in nearest else 0
            why = f"its folder picked another clip ({'won' if won else 'lost'} it), true clip's rank {rank}"
        else:
            why = "its folder picked it, a nearer folder or the distance cut-off took it away"
        counts[("wrong: " if match else "missed: ") + why] += 1
    return counts


def main(argv=None) -> dict:
    from ground.io import write_json
    from bench.fit_ablation import as_setting, root_arguments, root_scorers
    args = root_arguments(__doc__.splitlines()[0], "bench/results/misses.json").parse_args(argv)
    setting = as_setting(json.loads((args.fit / "fit.json").read_text())["setting"])
    total, per_root = Counter(), {}
    for root, _, cal in root_scorers(args.fit, args.data, args.work):
        per_root[root.name] = dict(reasons(cal, setting))
        total.update(per_root[root.name])
    for reason, n in sorted(total.items()):
        print(f"{n:5d}  {reason}")
    result = {"fit": str(args.fit), "total": dict(total), "roots": per_root}
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
