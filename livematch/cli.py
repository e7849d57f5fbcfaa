"""The ``livematch`` command line. Each command parses its arguments and calls one library
function."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ground.errors import LiveMatchError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="LiveMatch: find which catalogue item is sold in each live-stream shopping video.",
)


LEVELS = ("debug", "info", "warning", "error")
# The --device option of the model commands, and its check (a wrong name fails before any work).
DEVICE = typer.Option("auto", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")


def _device(name: str):
    from ground.distributed import pick_device

    return pick_device(name)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"livematch {version('livematch')}")
        except PackageNotFoundError:
            typer.echo("livematch (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log progress details (--log-level info)."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Errors only: no warnings, no progress bars."
    ),
    log_level: Optional[str] = typer.Option(
        None, "--log-level", help=f"One of {', '.join(LEVELS)} (default warning)."
    ),
    no_progress: bool = typer.Option(
        False,
        "--no-progress",
        help="No progress (a bar on a terminal, a plain line every 30 s in logs and pipes).",
    ),
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
):
    import os

    from ground.progress import ENV

    if log_level is not None and log_level.lower() not in LEVELS:
        raise typer.BadParameter(
            f"{log_level!r}; choose one of {', '.join(LEVELS)}", param_hint="--log-level"
        )
    _setup_logging((log_level or ("error" if quiet else "info" if verbose else "warning")).lower())
    if quiet or no_progress:
        os.environ[ENV] = "1"


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
    text: bool = typer.Option(True, help="Write item titles and clip transcripts (*_text/)."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it is not empty."),
    style: str = typer.Option(
        "varied",
        help="varied: presenters and racks anywhere, photo textures, "
        "occluders, twins, empty clips; classic: presenter mid-frame, "
        "racks at the sides (the first generator).",
    ),
    empty: float = typer.Option(0.1, help="varied: share of clips that sell nothing."),
    two_people: float = typer.Option(0.3, help="varied: share of clips with a second presenter."),
    twins: float = typer.Option(
        0.15,
        help="varied: share of items made as a near twin of another "
        "(same cut other print, or same print other cut).",
    ),
):
    """Generate a synthetic annotated dataset in the contest layout (see docs/FORMAT.md)."""
    from livematch.sampledata.generate import STYLES, SampleConfig, generate_dataset

    if style not in STYLES:
        raise typer.BadParameter(
            f"{style!r}; choose one of {', '.join(STYLES)}", param_hint="--style"
        )
    cfg = SampleConfig(
        items=items,
        videos=videos,
        seed=seed,
        width=width,
        height=height,
        frames=frames,
        workers=workers,
        text=text,
        style=style,
        empty_fraction=empty,
        two_people=two_people,
        twin_fraction=twins,
    )
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
    from ground.dataset import load_dataset
    from ground.io import write_json
    from ground.metric import evaluate, oracle_result

    ds = load_dataset(roots, probe_media=probe)
    typer.echo(ds.summary.format(f"dataset {', '.join(map(str, roots))}"))
    report = ds.summary.to_dict()
    if ds.annotated:
        oracle = evaluate(oracle_result(ds), ds)
        typer.echo(
            f"oracle score {oracle.score:.4f} over {oracle.levels['item'].positives} "
            f"clips that sell a catalogue item"
        )
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
    from ground.dataset import load_dataset
    from ground.io import write_json
    from ground.metric import evaluate as run_evaluate
    from ground.metric import load_result

    ds = load_dataset(gt, probe_media=False)
    if not ds.annotated:
        raise LiveMatchError(
            f"{', '.join(map(str, gt))}: no annotations; --gt needs a training or validation root"
        )
    result = run_evaluate(load_result(pred), ds)
    typer.echo(result.format(max_failures=show))
    if json_out:
        write_json(json_out, result.to_dict())


@app.command()
def diagnose(
    fit: Path = typer.Option(..., help="A livematch fit output folder (pipeline.yaml, fit.json)."),
    data: List[Path] = typer.Option(..., help="Annotated root(s) the fit never saw; repeatable."),
    out: Path = typer.Option(
        ..., help="Folder for diagnose.json, diagnose.html and the crop rows."
    ),
):
    """Where a fitted pipeline wins and loses on annotated data: what each chosen setting adds
    (reverted one at a time), how far it is from its oracle (the sold garments' crops given), and
    where each failure comes from (detector, photo threshold, nearest folder, cut-off,
    assignment)."""
    from livematch.diagnose import diagnose as run_diagnose
    from livematch.diagnose import lines

    if not (fit / "pipeline.yaml").is_file():
        raise LiveMatchError(f"{fit}: no pipeline.yaml; --fit takes a livematch fit output folder")
    result = run_diagnose(fit, data, out)
    for line in lines(result):
        typer.echo(line)
    typer.echo(f"wrote {out / 'diagnose.html'} and {out / 'diagnose.json'}")


@app.command("simulate-features")
def simulate_features(
    gt: List[Path] = typer.Option(..., help="Annotated dataset root(s)."),
    out: Path = typer.Option(..., help="Feature store folder to write (shop.npz, video.npz)."),
    dim: int = typer.Option(512, help="Feature dimension."),
    noise: float = typer.Option(1.0, help="Noise norm relative to the garment direction."),
    video_noise: float = typer.Option(1.5, help="Extra noise factor on video crops (domain gap)."),
    seed: int = typer.Option(0, help="Random seed."),
    config: Optional[Path] = typer.Option(None, help="YAML recipe (for media.infer_frames)."),
):
    """Write a feature store of ground-truth boxes with synthetic features: runs and calibrates
    the matcher without trained models (a perfect detector, an embedder of chosen quality)."""
    from ground.dataset import load_dataset
    from livematch.config import load_config
    from livematch.sampledata.features import simulate_crops
    from matcher.store import save_store

    cfg = load_config(config)
    ds = load_dataset(gt, probe_media=False)
    store = simulate_crops(ds, cfg.media.infer_frames.indices(), dim, noise, video_noise, seed)
    save_store(out, store)
    typer.echo(
        f"wrote {out}: {len(store.shop)} shop crops, {len(store.video)} video crops, {dim}-d"
    )


@app.command()
def match(
    features: Path = typer.Option(..., help="Feature store folder (shop*.npz, video*.npz)."),
    out: Path = typer.Option(..., help="Output folder for result.json and match_details.json."),
    config: Optional[Path] = typer.Option(
        None, help="YAML recipe, e.g. configs/pipeline/default.yaml."
    ),
    gt: Optional[List[Path]] = typer.Option(
        None, help="Also score the result against these roots."
    ),
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: matcher.voting.max_distance=1.0"
    ),
):
    """Link item folders to videos from saved crop features (faiss search + the reference vote)."""
    from livematch.commands.match import run_match
    from livematch.config import load_config

    cfg = load_config(config, overrides or [])
    result = run_match(features, out, cfg.matcher)
    typer.echo(
        f"{len(result.matches)} videos matched, {len(result.rejected)} without a match; "
        f"wrote {out / 'result.json'} and {out / 'match_details.json'}"
    )
    if gt:
        _score(out / "result.json", gt)


def _score(pred: Path, gt: List[Path]) -> None:
    from ground.dataset import load_dataset
    from ground.metric import evaluate as run_evaluate
    from ground.metric import load_result

    typer.echo(run_evaluate(load_result(pred), load_dataset(gt, probe_media=False)).format())


@app.command()
def calibrate(
    features: Path = typer.Option(..., help="Feature store of a validation split."),
    gt: List[Path] = typer.Option(..., help="Its annotated dataset root(s)."),
    out: Path = typer.Option(Path("calibrated.yaml"), help="Config override to write."),
    config: Optional[Path] = typer.Option(None, help="YAML recipe to start from."),
    show: int = typer.Option(10, help="Rows of the table to print."),
    overrides: List[str] = typer.Argument(None, help="Dotted overrides applied before the search."),
):
    """Search the voting constants (kept fraction, vote fraction, distance cut-off) that maximise
    the contest score on a validation split; print the table, write a config override."""
    from ground.dataset import load_dataset
    from livematch.commands.match import calibrate_store
    from livematch.config import load_config

    cfg = load_config(config, overrides or [])
    table = calibrate_store(features, load_dataset(gt, probe_media=False), cfg.matcher, out)
    typer.echo(f"{'keep':>6} {'vote':>6} {'max_dist':>9} {'matches':>8} {'score':>7}")
    for row in table[:show]:
        typer.echo(
            f"{row['keep_fraction']:>6.2f} {row['vote_fraction']:>6.2f} "
            f"{row['max_distance']:>9.4f} {row['matches']:>8} {row['score']:>7.4f}"
        )
    typer.echo(f"best of {len(table)}: score {table[0]['score']:.4f}; wrote {out}")


@app.command()
def run(
    data: List[Path] = typer.Option(
        ..., help="Dataset root(s): image/ and video/ (annotations optional)."
    ),
    out: Path = typer.Option(
        ..., help="Output folder: result.json, match_details.json, summary.json."
    ),
    config: Optional[Path] = typer.Option(None, help="Recipe, e.g. configs/pipeline/demo.yaml."),
    detector: Optional[Path] = typer.Option(
        None, help="Detector checkpoint (else weights.detector)."
    ),
    embedder: Optional[List[Path]] = typer.Option(
        None, help="Embedder checkpoint; repeat for an ensemble (else weights.embedders)."
    ),
    gt: Optional[List[Path]] = typer.Option(None, help="Annotated root(s): also score the result."),
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: matcher.voting.max_distance=1.0"
    ),
):
    """The whole job: detect, crop, embed, match; writes result.json in the contest format."""
    from livematch.config import run_config
    from livematch.pipeline import run as run_pipeline

    cfg = run_config(config, overrides or [], detector, embedder or ())
    det = detector or cfg.weights.detector
    embs = embedder or cfg.weights.embedders
    if not det or not embs:
        raise LiveMatchError(
            "run needs a detector and at least one embedder checkpoint "
            "(--detector / --embedder, or weights.detector / weights.embedders)"
        )
    report = run_pipeline(cfg, data, out, det, embs, gt)
    if report.result is None:  # a torchrun rank other than 0: rank 0 reports
        return
    typer.echo(report.summary.format("run summary"))
    typer.echo("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
    typer.echo(f"{len(report.result.matches)} videos matched; wrote {out / 'result.json'}")
    if report.score:
        typer.echo(
            f"contest score {report.score['score']:.4f} (item F1 {report.score['item']['f1']:.3f}, "
            f"frame F1 {report.score['frame']['f1']:.3f}, box F1 {report.score['box']['f1']:.3f})"
        )


@app.command()
def fit(
    data: List[Path] = typer.Option(..., help="Annotated training root(s); repeat for several."),
    val: List[Path] = typer.Option(
        ...,
        help="Annotated validation root(s): other items and clips than "
        "TRAIN; every setting is chosen on them (with one or two roots, "
        "on TRAIN's clips too: fit.train_calibration). Two or more give "
        "a better held-out estimate of the score on new data than one.",
    ),
    out: Path = typer.Option(
        ...,
        help="Fit folder: weights/, pipeline.yaml, fit.html, fit.json (re-running "
        "skips finished stages).",
    ),
    recipe: Optional[str] = typer.Option(
        None,
        help="What fit trains without --init-from: lite0 (CPU, from "
        "ImageNet weights), tiny (random init) or reference (GPU); "
        "default fit.recipe (lite0).",
    ),
    init_from: Optional[Path] = typer.Option(
        None,
        help="Fine-tune from these models: a fit folder, a pipeline "
        "YAML, or a folder of checkpoints (e.g. weights/).",
    ),
    detector: Optional[Path] = typer.Option(
        None,
        help="Use this detector checkpoint as is (with --embedder: "
        "no model training; the worn scorer still trains).",
    ),
    embedder: Optional[List[Path]] = typer.Option(
        None, help="Use this embedder checkpoint as is (with --detector); repeat for an ensemble."
    ),
    config: Optional[Path] = typer.Option(
        None, help="YAML applied over the recipe (fit.*, detector.*, ...)."
    ),
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: fit.finetune.embedder_epochs=5 ..."
    ),
):
    """Adapt LiveMatch to your annotated data: train (or fine-tune) the detector and embedder on
    TRAIN, train the worn scorer on TRAIN's frames (fit.worn), calibrate every inference setting on
    VAL by the contest score, write OUT/pipeline.yaml."""
    from livematch.fit import fit as run_fit

    report = run_fit(data, val, out, config, overrides or [], recipe, init_from, detector, embedder)
    if report is None:  # a torchrun rank other than 0
        return
    for line in report.lines():
        typer.echo(line)


detect_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Train, evaluate and run the garment detector.",
)
app.add_typer(detect_app, name="detect")


@detect_app.command("train")
def detect_train(
    data: List[Path] = typer.Option(..., help="Annotated root(s) to train on."),
    val: Optional[List[Path]] = typer.Option(
        None,
        help="Annotated root(s) to validate on (default: a "
        "held-out share of the training sources).",
    ),
    config: Optional[Path] = typer.Option(None, help="Recipe, e.g. configs/detector/tiny.yaml."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default: detector.out_dir)."),
    init_from: Optional[Path] = typer.Option(
        None,
        help="Fine-tune from this checkpoint folder (its class "
        "head is replaced when the classes differ).",
    ),
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: detector.train.epochs=4 ..."
    ),
):
    """Train the Faster R-CNN on shop photos and annotated frames (resumes when OUT/last exists)."""
    from livematch.commands.detect import train_detector_on
    from livematch.config import load_config

    result, summary = train_detector_on(
        load_config(config, overrides or []), data, val, out, init_from=init_from
    )
    typer.echo(summary.format("training data"))
    if result.history and "AP50" in result.history[-1]:
        typer.echo(f"best validation AP50 {max(r.get('AP50', 0) for r in result.history):.4f}")
    typer.echo(f"checkpoint: {result.checkpoint}")


def _checkpoint_cfg(checkpoint: Path, config: Optional[Path], overrides, package: str):
    """The config of a model command: ``--config`` and the overrides, then what the ``package``
    (``detector`` / ``embedder``) checkpoint supplies (:func:`livematch.config.use_checkpoints`)."""
    from livematch.config import given_keys, load_config, use_checkpoints

    cfg = load_config(config, overrides or [])
    return use_checkpoints(cfg, **{package: checkpoint}, given=given_keys(config, overrides))


@detect_app.command("eval")
def detect_eval(
    checkpoint: Path = typer.Option(..., help="Checkpoint folder (OUT/best or OUT/last)."),
    data: List[Path] = typer.Option(..., help="Annotated root(s) the model never saw."),
    config: Optional[Path] = typer.Option(
        None, help="Recipe (detector.infer options; default: the checkpoint's own)."
    ),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON."),
    device: str = DEVICE,
    overrides: List[str] = typer.Argument(None, help="Dotted overrides."),
):
    """COCO box AP and AP50 on annotated photos and frames."""
    dev = _device(device)
    from ground.io import write_json
    from livematch.commands.detect import evaluate_detector_on

    metrics = evaluate_detector_on(
        checkpoint, data, _checkpoint_cfg(checkpoint, config, overrides, "detector"), dev
    )
    typer.echo(f"AP {metrics['AP']:.4f}  AP50 {metrics['AP50']:.4f}  ({metrics['images']} images)")
    if "AP50_by_class" in metrics:
        typer.echo(
            "AP50 by class: "
            + ", ".join(
                f"{name} {ap:.4f}" for name, ap in zip(metrics["classes"], metrics["AP50_by_class"])
            )
        )
    if json_out:
        write_json(json_out, metrics)


@detect_app.command("predict")
def detect_predict(
    checkpoint: Path = typer.Option(..., help="Checkpoint folder."),
    data: List[Path] = typer.Option(..., help="Dataset root(s): every photo and clip is detected."),
    out: Path = typer.Option(
        ..., help="Folder for photos/<item>.json and videos/<clip>.json box files."
    ),
    config: Optional[Path] = typer.Option(
        None,
        help="Recipe (detector.infer, media.infer_frames; default: "
        "the checkpoint's detector.infer).",
    ),
    device: str = DEVICE,
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: detector.infer.frame_threshold=0.9"
    ),
):
    """Detect garments in every shop photo and in the sampled frames of every clip."""
    dev = _device(device)
    from livematch.commands.detect import predict_boxes

    summary = predict_boxes(
        checkpoint,
        data,
        out,
        _checkpoint_cfg(checkpoint, config, overrides, "detector"),
        device=dev,
    )
    typer.echo(summary.format(f"wrote {out}"))


@detect_app.command("region")
def detect_region(
    gt: List[Path] = typer.Option(
        ..., help="Annotated root(s) with clips (training data, not the test set)."
    ),
    coverage: float = typer.Option(
        0.98, help="Share of the sold garments' centres kept, per axis."
    ),
    plot: Optional[Path] = typer.Option(None, help="Write an SVG of the centres and the region."),
    json_out: Optional[Path] = typer.Option(
        None, "--json", help="Write the region and its shares as JSON."
    ),
):
    """Learn detector.infer.frame_region, the part of the frame where sold garments stand, from the
    annotated frames: boxes centred outside it (racks at the sides of the studio) are dropped."""
    from ground.io import atomic_write_text, write_json
    from ground.regions import learn_frame_region
    from livematch.report import svg_region

    learned = learn_frame_region(gt, coverage)
    region, summary = learned["region"], learned.pop("summary")
    if summary.issues:
        typer.echo(summary.format("annotations"))
    typer.echo(
        f"sold garments inside: {learned['sold_inside']:.1%} of {learned['sold']}; "
        f"other garments inside: {learned['other_inside']:.1%} of {learned['other']} "
        f"(of those shown alone, as on racks: {learned['alone_inside']:.1%} of {learned['alone']})"
    )
    typer.echo("detector.infer.frame_region=[" + ",".join(f"{v:.2f}" for v in region) + "]")
    if plot:
        atomic_write_text(
            plot, svg_region(learned["centres"]["sold"], learned["centres"]["other"], region)
        )
    if json_out:
        write_json(json_out, {k: v for k, v in learned.items() if k != "centres"})


embed_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Train, evaluate and run the crop embedder."
)
app.add_typer(embed_app, name="embed")


@embed_app.command("train")
def embed_train(
    data: Optional[List[Path]] = typer.Option(
        None, help="Annotated root(s) to train on (else embedder.data.roots)."
    ),
    val: Optional[List[Path]] = typer.Option(
        None,
        help="Annotated root(s) whose items are held out for "
        "retrieval evaluation (else embedder.data.val_roots).",
    ),
    config: Optional[Path] = typer.Option(None, help="Recipe, e.g. configs/embedder/tiny.yaml."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default: embedder.out_dir)."),
    init_from: Optional[Path] = typer.Option(None, help="Fine-tune from this checkpoint folder."),
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: embedder.data.roots=[d1,d2] ..."
    ),
):
    """Train the embedder on annotated roots (resumes when OUT/last exists)."""
    from livematch.commands.embed import train_embedder
    from livematch.config import load_config

    cfg = load_config(config, overrides or [])
    if data:
        cfg.embedder.data.roots = [str(r) for r in data]
    if val:
        cfg.embedder.data.val_roots = [str(r) for r in val]
    if not cfg.embedder.data.roots:
        raise typer.BadParameter("give the training roots", param_hint="--data")
    result, summary = train_embedder(cfg, out, init_from)
    typer.echo(summary.format("training data"))
    if result.history and "top1" in result.history[-1]:
        best = max(r.get("top1", 0) for r in result.history)
        typer.echo(f"best validation top-1 {best:.4f}")
    typer.echo(f"checkpoint: {result.checkpoint}")


@embed_app.command("eval")
def embed_eval(
    checkpoint: List[Path] = typer.Option(
        ..., help="Checkpoint folder (OUT/best or OUT/last); repeat for an ensemble."
    ),
    data: List[Path] = typer.Option(..., help="Annotated root(s) with items the model never saw."),
    config: Optional[Path] = typer.Option(
        None, help="Recipe (media.train_frames, extract options)."
    ),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as JSON."),
    device: str = DEVICE,
    overrides: List[str] = typer.Argument(
        None, help="Dotted overrides: embedder.extract.hflip_tta=true"
    ),
):
    """Shop-crop -> video-crop retrieval: top-1, recall@5, mAP@10 (of an ensemble's features with
    several checkpoints)."""
    dev = _device(device)
    from ground.io import write_json
    from livematch.commands.embed import evaluate_embedder

    metrics = evaluate_embedder(
        checkpoint, data, _checkpoint_cfg(checkpoint[0], config, overrides, "embedder"), dev
    )
    typer.echo(
        f"top-1 {metrics['top1']:.4f}  recall@5 {metrics['recall5']:.4f}  "
        f"mAP@10 {metrics['map10']:.4f}  ({metrics['queries']} shop crops)"
    )
    if json_out:
        write_json(json_out, metrics)


@embed_app.command("extract")
def embed_extract(
    checkpoint: List[Path] = typer.Option(..., help="Checkpoint folder; repeat for an ensemble."),
    data: List[Path] = typer.Option(
        ..., help="Dataset root(s) with annotations (their boxes are embedded)."
    ),
    out: Path = typer.Option(..., help="Feature store folder to write (shop.npz, video.npz)."),
    config: Optional[Path] = typer.Option(
        None, help="Recipe (media.infer_frames, extract options)."
    ),
    device: str = DEVICE,
    overrides: List[str] = typer.Argument(None, help="Dotted overrides."),
):
    """Embed the annotated boxes of a dataset into a feature store for `livematch match`."""
    dev = _device(device)
    from livematch.commands.embed import extract_store

    store = extract_store(
        checkpoint,
        data,
        out,
        _checkpoint_cfg(checkpoint[0], config, overrides, "embedder"),
        device=dev,
    )
    typer.echo(
        f"wrote {out}: {len(store.shop)} shop crops, {len(store.video)} video crops, "
        f"{store.shop.dim}-d from {len(checkpoint)} model(s)"
    )


@app.command("config")
def show_config(
    config: Optional[Path] = typer.Option(
        None, help="YAML recipe, e.g. configs/pipeline/default.yaml."
    ),
    overrides: List[str] = typer.Argument(None, help="Dotted overrides: media.backend=pyav ..."),
):
    """Print the resolved config (defaults, then the recipe, then overrides), each key with its
    meaning."""
    from livematch.config import annotated_yaml, load_config

    typer.echo(annotated_yaml(load_config(config, overrides or [])))


def _usage_line(e) -> str:
    """One line for a usage mistake: what is wrong, and where the help is."""
    ctx = getattr(e, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"error: {e.format_message()}{where}"


def main(argv=None) -> int:
    """Console-script entry point: our errors and usage mistakes become one line on stderr and
    exit code 2 (typer raises its own vendored click exceptions, not click's)."""
    import click

    try:  # typer >= 0.26 vendors click and raises its own copies of click's exceptions
        from typer import _click as tclick
        from typer import exceptions as texc
    except ImportError:
        tclick, texc = click, click.exceptions
    try:
        code = app(args=argv, standalone_mode=False, prog_name="livematch")
    except (LiveMatchError, FileExistsError) as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except (tclick.exceptions.NoArgsIsHelpError, click.exceptions.NoArgsIsHelpError) as e:
        typer.echo(e.ctx.get_help() if e.ctx is not None else e.format_message(), err=True)
        return 2
    except (tclick.exceptions.UsageError, click.UsageError) as e:
        typer.echo(_usage_line(e), err=True)
        return 2
    except (tclick.exceptions.ClickException, click.ClickException) as e:
        typer.echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except (texc.Exit, click.exceptions.Exit) as e:
        return e.exit_code
    except (texc.Abort, click.exceptions.Abort):
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
