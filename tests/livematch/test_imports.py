import subprocess
import sys


def test_shared_ground_never_imports_torch():
    """The matcher depends on livematch without pulling in a deep-learning stack."""
    code = (
        "import sys, ground.dataset, ground.metric, ground.media, livematch.config, "
        "livematch.cli, livematch.sampledata.generate, livematch.commands.match, matcher; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', "
        "'timm')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


LAYERS = {
    "ground": 0,
    "detector": 1,
    "embedder": 1,
    "matcher": 1,
    "livematch": 2,
}  # STYLE: no import upwards


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level project packages each module of ``package`` imports (anywhere in the file)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(root))] = names & set(LAYERS)
    return out


def test_layers_import_only_downwards():
    """ground imports no stage and no application module; the stages import ground and never each
    other or the application; so no package imports one above it and there is no package cycle."""
    for package, level in LAYERS.items():
        for module, names in _imports(package).items():
            for name in names - {package}:
                assert LAYERS[name] < level, (
                    f"{module} imports {name} (layer {LAYERS[name]} >= {level})"
                )
    assert any(
        "ground" in names for names in _imports("detector").values()
    )  # the scan sees imports
