"""The ``livematch`` command line. Each command parses its arguments and calls one library function."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from livematch.errors import LiveMatchError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None,
    help="LiveMatch: find which catalogue item is sold in each live-stream shopping video.")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s", force=True)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")):
    _setup_logging(verbose)


@app.command("sample-data")
def sample_data(
    out: Path = typer.Argument(..., help="Folder to write the dataset to."),
    items: int = typer.Option(24, help="Catalogue items (folders of shop photos)."),
    videos: int = typer.Option(20, help="Live-stream clips."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same dataset."),
    width: int = typer.Option(640, help="Clip width in pixels (landscape; portrait clips swap)."),
    height: int = typer.Option(360, help="Clip height in pixels."),
    frames: int = typer.Option(400, help="Frames per clip (+-2 %)."),
    workers: int = typer.Option(2, help="Processes rendering clips in parallel."),
    text: bool = typer.Option(True, help="Write the optional image_text/ and video_text/ files."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it is not empty."),
):
    """Generate a synthetic dataset in the contest layout (see FORMAT.md)."""
    from livematch.sampledata.generate import SampleConfig, generate_dataset
    cfg = SampleConfig(items=items, videos=videos, seed=seed, width=width, height=height,
                       frames=frames, workers=workers, text=text)
    plan = generate_dataset(out, cfg, overwrite=overwrite)
    listed = sum(p.listed for p in plan.products)
    typer.echo(f"wrote {out}: {listed} items, {len(plan.videos)} clips (seed {seed})")


@app.command()
def validate(
    roots: List[Path] = typer.Argument(..., help="One or more dataset roots."),
    probe: bool = typer.Option(True, help="Open every photo header and clip container."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the summary as JSON."),
):
    """Load dataset roots, report every bad input, and print the load summary.

    For annotated data it also scores the oracle result (what a perfect system would write):
    anything below 1.0 means the annotations cannot support the contest metric.
    """
    from livematch.dataset import load_dataset
    from livematch.io import write_json
    from livematch.metric import evaluate, oracle_result
    ds = load_dataset(roots, probe_media=probe)
    typer.echo(ds.summary.format(f"dataset {', '.join(map(str, roots))}"))
    report = ds.summary.to_dict()
    if ds.annotated:
        oracle = evaluate(oracle_result(ds), ds)
        typer.echo(f"oracle score {oracle.score:.4f} over {oracle.levels['item'].positives} "
                   f"clips that sell a catalogue item")
        report["oracle_score"] = oracle.score
    if json_out:
        write_json(json_out, report)


@app.command()
def evaluate(
    pred: Path = typer.Option(..., help="The result.json to score."),
    gt: List[Path] = typer.Option(..., help="Annotated dataset root(s) with the ground truth."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the scores as JSON here."),
    show: int = typer.Option(10, help="Failures to print per level."),
):
    """Score a result.json with the contest metric (item / frame / box F1, 0.2 / 0.6 / 0.2)."""
    from livematch.dataset import load_dataset
    from livematch.io import write_json
    from livematch.metric import evaluate as run_evaluate
    from livematch.metric import load_result
    ds = load_dataset(gt, probe_media=False)
    if not ds.annotated:
        raise LiveMatchError(f"{', '.join(map(str, gt))}: no annotations; --gt needs a training "
                             f"or validation root")
    result = run_evaluate(load_result(pred), ds)
    typer.echo(result.format(max_failures=show))
    if json_out:
        write_json(json_out, result.to_dict())


@app.command("config")
def show_config(
    config: Optional[Path] = typer.Option(None, help="YAML recipe, e.g. configs/pipeline/default.yaml."),
    overrides: List[str] = typer.Argument(None, help="Dotted overrides: media.backend=pyav ..."),
):
    """Print the resolved config (defaults, then the recipe, then overrides)."""
    from livematch.config import load_config, to_yaml
    typer.echo(to_yaml(load_config(config, overrides or [])), nl=False)


def main(argv=None) -> int:
    """Console-script entry point: our errors become one line on stderr and exit code 2."""
    import click
    try:
        code = app(args=argv, standalone_mode=False, prog_name="livematch")
    except (LiveMatchError, FileExistsError) as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
