import subprocess
import sys


def test_shared_ground_never_imports_torch():
    """The matcher depends on livematch without pulling in a deep-learning stack."""
    code = ("import sys, livematch.dataset, livematch.metric, livematch.media, livematch.config, "
            "livematch.cli, livematch.sampledata.generate, livematch.matching, matcher; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
