"""Packaging for LiveMatch: live-stream video -> catalogue item matching."""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

INSTALL_REQUIRES = [
    # torch / torchvision are installed first by the Makefile (pinned wheels on disk).
    "torch",
    "torchvision",
    "numpy>=1.24",
    "pillow>=10",
    "opencv-python-headless>=4.8",
    "decord>=0.6; platform_machine == 'x86_64'",
    "av>=12",
    "omegaconf>=2.3",
    "pyyaml>=6",
    "typer>=0.12,<0.40",  # cli.main catches both click's and typer's vendored exceptions
    "tqdm>=4.60",
    "safetensors>=0.4",
    "timm>=1.0",
    "pytorch-metric-learning>=2.5",
    "albumentations>=2.0",
    "pycocotools>=2.0.7",
    "faiss-cpu>=1.8",
    "scipy>=1.10",  # matcher: the global folder-to-video assignment
    "scikit-image>=0.22",  # sample-data: prints and backdrops cut from its bundled photographs
]

setup(
    name="livematch",
    version="0.1.0",
    description="Find which catalogue item is sold in each live-stream shopping video.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["livematch", "livematch.sampledata", "detector", "embedder", "matcher"],
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "gpu": ["faiss-gpu>=1.8"],
        "dev": ["pytest>=8", "pytest-timeout>=2.2"],
    },
    entry_points={"console_scripts": ["livematch=livematch.cli:main"]},
)
