"""CI: `make demo`'s contest score must stay within 0.02 of the figure the README quotes, so that a
dependency drift or a regression cannot pass unnoticed."""

import json
import re
import sys
from pathlib import Path

TOLERANCE = 0.02
quoted = float(re.search(r"contest score (\d+\.\d+)", Path("README.md").read_text())[1])
measured = json.loads(Path("runs/demo/score.json").read_text())["score"]
ok = abs(measured - quoted) <= TOLERANCE
print(
    f"demo score {measured:.4f}, README {quoted:.4f}: {'within' if ok else 'OUTSIDE'} {TOLERANCE}"
)
sys.exit(0 if ok else 1)
