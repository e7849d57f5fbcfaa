"""Seeded mutations, run by hand: each breaks one thing the suite must notice, runs the tests
that guard it, and reports whether they went red.

    python -m tests.mutations            # every mutation
    python -m tests.mutations 0 3        # by index

Each mutation edits one file in place and restores it afterwards (also on Ctrl-C). A mutation
that leaves its tests green is a hole in the suite; the script exits 1 when there is one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (what it breaks, file, text replaced, replacement, tests that must catch it)
MUTATIONS = [
    (
        "embedder: last/ holds an untrained model",
        "embedder/train.py",
        "self.model if state is not None else self.evaluated",
        "build_embedder(self.cfg.model) if state is not None else self.evaluated",
        ["tests/embedder/test_train.py::test_checkpoint_round_trip_and_resume"],
    ),
    (
        "detector: last/ holds an untrained model",
        "detector/train.py",
        'save_checkpoint(folder, {"model": self.model}',
        'save_checkpoint(folder, {"model": build_detector(self.cfg.model)}',
        ["tests/detector/test_train.py::test_training_lowers_the_loss_and_checkpoints_round_trip"],
    ),
    (
        "training loop: the optimizer never steps",
        "ground/engine.py",
        "scaler.step(optimizer)",
        "pass",
        [
            "tests/embedder/test_train.py::test_a_few_epochs_lower_the_loss",
            "tests/detector/test_train.py::"
            "test_training_lowers_the_loss_and_checkpoints_round_trip",
        ],
    ),
    (
        "training loop: a resume restarts the learning-rate curve",
        "ground/engine.py",
        "    scheduler.step_update(step)\n    sync_batchnorm",
        "    scheduler.step_update(0)\n    sync_batchnorm",
        ["tests/ground/test_engine.py::test_a_resumed_loop_ends_where_an_uninterrupted_one_does"],
    ),
    (
        "training loop: accumulation steps every batch",
        "ground/engine.py",
        "update = (i + 1) % accumulate == 0 or i + 1 == n_batches",
        "update = True",
        ["tests/ground/test_engine.py::test_accumulation_steps_once_per_group_of_batches"],
    ),
    (
        "training loop: OUT/best is every epoch's",
        "ground/engine.py",
        "if validated and (score is None or score > self.best):",
        "if validated:",
        ["tests/ground/test_engine.py::test_the_loop_learns_logs_and_keeps_the_best_epoch"],
    ),
    (
        "head memory: the head sees the batch only",
        "embedder/losses.py",
        "return head(\n"
        "            torch.cat([embeddings, self.embedding_memory[:filled]]),\n"
        "            torch.cat([labels, self.label_memory[:filled]]),\n"
        "        )",
        "return head(embeddings, labels)",
        [
            "tests/embedder/test_losses.py::"
            "test_head_memory_sends_remembered_embeddings_through_the_margin_head"
        ],
    ),
    (
        "index tuning: stops one power of 2 early",
        "matcher/index.py",
        "if curve[nprobe] >= target or nprobe >= ivf.nlist:",
        "if curve[nprobe] >= 0.9 * target or nprobe >= ivf.nlist:",
        [
            "tests/matcher/test_index.py::"
            "test_tuning_picks_the_smallest_nprobe_that_reaches_the_target_recall"
        ],
    ),
    (
        "matcher: the 28 % cut keeps every candidate",
        "matcher/voting.py",
        "order = np.lexsort((query_rows, dist))[: keep_count(cfg.keep_fraction, len(rows))]",
        "order = np.lexsort((query_rows, dist))",
        ["tests/matcher/test_voting.py"],
    ),
    (
        "result.json: item and frame boxes swapped",
        "matcher/result.py",
        '"item_box": _int_box(m.item_box),\n                    "frame_box": _int_box(m.frame_box)',
        '"item_box": _int_box(m.frame_box),\n                    "frame_box": _int_box(m.item_box)',
        ["tests/matcher/test_crops_and_result.py", "tests/ground/test_metric.py"],
    ),
    (
        "rule original: the quantile cut keeps ties",
        "matcher/voting.py",
        "keep = d < np.quantile(d, cfg.keep_fraction)",
        "keep = d <= np.quantile(d, cfg.keep_fraction)",
        ["tests/matcher/test_voting_rules.py"],
    ),
    (
        "assign global: solved greedily",
        "matcher/voting.py",
        '"global": Assignment(_global, joint=True)',
        '"global": Assignment(_greedy, joint=True)',
        ["tests/matcher/test_voting_rules.py"],
    ),
    (
        "embedder: a resume forgets the cross-batch memory",
        "embedder/train.py",
        "        load_memory_state(self.module.loss, state)",
        "        pass",
        [
            "tests/embedder/test_train.py::"
            "test_a_resumed_training_ends_where_an_uninterrupted_one_does"
        ],
    ),
    (
        "detector: a resume shuffles as a fresh run",
        "detector/train.py",
        "self.order.manual_seed(self.cfg.train.seed + epoch)",
        "pass",
        [
            "tests/detector/test_train.py::"
            "test_a_resumed_training_ends_where_an_uninterrupted_one_does"
        ],
    ),
    (
        "calibration: a move needs no gain",
        "livematch/calibration.py",
        "return new > old + max(margin, 1e-9)",
        "return new >= old",
        [
            "tests/livematch/test_fit.py::test_a_gain_below_min_gain_keeps_the_held_value",
            "tests/livematch/test_fit.py::"
            "test_calibration_picks_the_threshold_that_drops_the_distractors",
        ],
    ),
    (
        "embedder loss: the margin head runs under autocast",
        "embedder/losses.py",
        "with torch.autocast(device_type=embeddings.device.type, enabled=False):",
        "with torch.autocast(device_type=embeddings.device.type, enabled=True):",
        [
            "tests/embedder/test_losses.py::"
            "test_the_margin_head_and_memory_run_in_fp32_under_autocast"
        ],
    ),
    (
        "report: only the matched clips get a section",
        "livematch/report.py",
        "clips = sorted(set(ds.videos) | set(result))",
        "clips = sorted(result)",
        ["tests/livematch/test_report.py"],
    ),
    (
        "media: PyAV ignores a phone clip's display rotation",
        "ground/media.py",
        "got[index] = _displayed(frame)",
        'got[index] = frame.to_ndarray(format="rgb24")',
        [
            "tests/ground/test_media.py::"
            "test_a_rotated_phone_clip_reads_as_displayed_in_every_backend"
        ],
    ),
    (
        "fit: only a product class is ever offered alone",
        "livematch/calibration.py",
        'grids["frame_classes"] = [(), *((c,) for c in classes)]',
        'grids["frame_classes"] = [(), ("product",)]',
        ["tests/livematch/test_fit.py::test_default_grids_offer_only_what_the_models_support"],
    ),
    (
        "faiss GPU: the index is copied on every search",
        "matcher/index.py",
        "        if self._gpu is not None:\n            return self._gpu\n",
        "",
        [
            "tests/matcher/test_index.py::"
            "test_use_gpu_without_one_searches_on_the_cpu_and_says_so_once"
        ],
    ),
    (
        "worn scorer: the mask channel marks nothing",
        "detector/worn.py",
        "mask[c:d, a:b] = 255",
        "pass",
        ["tests/detector/test_worn.py::test_context_crop_widens_the_box_and_marks_it"],
    ),
    (
        "calibration: the worn cut-off filters nothing",
        "livematch/calibration.py",
        "video.scores, s.min_worn, trusted)",
        "video.scores, 0.0, trusted)",
        [
            "tests/livematch/test_fit.py::"
            "test_calibration_keeps_a_worn_cutoff_only_when_it_drops_the_distractors"
        ],
    ),
    (
        "run: frame_min_worn ignored",
        "livematch/pipeline.py",
        "passed = kept_worn(probs, d.labels, d.scores, min_worn, trusted)",
        "passed = kept_worn(probs, d.labels, d.scores, 0.0, trusted)",
        [
            "tests/livematch/test_pipeline.py::"
            "test_the_worn_scorer_scores_frame_crops_and_its_cutoff_drops_the_low_ones"
        ],
    ),
    (
        "calibration: the detector's worn label never trusted",
        "livematch/calibration.py",
        "if s.trust_worn and WORN in self.classes\n",
        "if False\n",
        [
            "tests/livematch/test_fit.py::"
            "test_calibration_trusts_the_detectors_worn_label_where_the_worn_scorer_misses"
        ],
    ),
    (
        "run: frame_trust_worn ignored",
        "livematch/pipeline.py",
        "probs, d.labels, d.scores, min_worn, trusted)",
        "probs, d.labels, d.scores, min_worn, None)",
        [
            "tests/livematch/test_pipeline.py::"
            "test_a_box_the_detector_labels_worn_confidently_keeps_past_the_worn_cutoff"
        ],
    ),
    (
        "run: photo_min_boxes ignored",
        "livematch/pipeline.py",
        'if kind == "items" and inf.photo_min_boxes > 0:',
        "if False:",
        [
            "tests/livematch/test_pipeline.py::"
            "test_each_folder_keeps_its_most_confident_photo_box_below_the_threshold"
        ],
    ),
    (
        "calibration: photo_min_boxes ignored",
        "livematch/calibration.py",
        "s.photo_threshold, s.photo_min_boxes)]",
        "s.photo_threshold, 0)]",
        [
            "tests/livematch/test_fit.py::"
            "test_a_folder_without_a_box_above_the_photo_threshold_keeps_its_best"
        ],
    ),
    (
        "fit: the annotated grid is not learned from the data",
        "livematch/fit/__init__.py",
        "    use_annotation_grid(cfg, annotation_grid(",
        "    (cfg, annotation_grid(",
        ["tests/livematch/test_fit.py::test_fit_learns_the_annotated_grid_of_the_data"],
    ),
    (
        "annotation grid: the first frame index only",
        "ground/dataset.py",
        "step = math.gcd(step, int(index))",
        "step = step or int(index)",
        ["tests/ground/test_dataset.py::test_annotation_grid_is_the_step_the_frames_share"],
    ),
    (
        "frame schedule: a clip a little short of it is rescaled off the annotated grid",
        "ground/media.py",
        "if 2 * len(inside) >= len(wanted):",
        "if len(inside) == len(wanted):",
        ["tests/ground/test_media.py::test_resolve_indices_drops_the_few_frames_past_a_clip_end"],
    ),
    (
        "frame schedule: a short clip's indices scaled instead of its lattice",
        "ground/media.py",
        "if len(lattice) >= 2:",
        "if False:",
        [
            "tests/ground/test_media.py::"
            "test_resolve_indices_reads_the_schedule_lattice_of_a_short_clip"
        ],
    ),
    (
        "run cache: a changed frame rule reuses the old rows",
        "livematch/pipeline.py",
        '"frame_rule": media.SCHEDULE_RULE,',
        "",
        ["tests/livematch/test_pipeline.py::test_cache_resume_incremental_and_invalidation"],
    ),
    (
        "fit: the held-out estimate calibrates on every split, the held one included",
        "livematch/estimate.py",
        "                Splits(list(rest) + always),",
        "                Splits(list(rest) + [held] + always),",
        [
            "tests/livematch/test_estimate.py::"
            "test_each_val_root_is_scored_at_the_settings_calibrated_on_the_others"
        ],
    ),
    (
        "fit: with one VAL root the estimate calibrates on TRAIN's clips alone",
        "livematch/estimate.py",
        "    by, cuts = plan(val, parts, procedure)\n",
        "    by, cuts = ('roots', [val]) if always else plan(val, parts, procedure)\n",
        [
            "tests/livematch/test_estimate.py::"
            "test_one_val_root_is_cut_into_parts_and_trains_parts_calibrate_but_are_never_held_out"
        ],
    ),
    (
        "fit: with three VAL roots the estimate holds out whole roots",
        "livematch/estimate.py",
        "    if len(val) >= procedure.part_roots and parts >= 2:\n",
        "    if False:\n",
        [
            "tests/livematch/test_estimate.py::"
            "test_with_three_val_roots_each_roots_parts_are_held_out_in_turn"
        ],
    ),
    (
        "fit: a candidate is kept on any higher estimate",
        "livematch/estimate.py",
        "    kept = low > 0\n",
        "    kept = difference > 0\n",
        [
            "tests/livematch/test_estimate.py::"
            "test_a_candidate_is_kept_only_above_the_uncertainty_of_the_paired_difference"
        ],
    ),
    (
        "fit: the estimate's interval resamples other draws for the candidate than for the held "
        "setting",
        "livematch/estimate.py",
        "    rng = np.random.default_rng(0)\n",
        "    rng = np.random.default_rng()\n",
        [
            "tests/livematch/test_estimate.py::"
            "test_each_val_root_is_scored_at_the_settings_calibrated_on_the_others"
        ],
    ),
    (
        "fit: one root's parts deal a selling clip apart from its item",
        "livematch/calibration.py",
        "groups = [([item], cs) for item, cs in sold.items()]",
        "groups = [([item], []) for item in sold] + [([], cs) for cs in sold.values()]",
        [
            "tests/livematch/test_fit.py::"
            "test_folds_cut_one_split_into_catalogues_with_their_own_clips"
        ],
    ),
    (
        "fit: the parts estimate makes the same cut every time",
        "livematch/estimate.py",
        "cuts = [folds(val[0], parts, seed) for seed in range(procedure.cuts)]",
        "cuts = [folds(val[0], parts, 0) for seed in range(procedure.cuts)]",
        [
            "tests/livematch/test_estimate.py::"
            "test_one_val_root_is_cut_into_parts_and_trains_parts_calibrate_but_are_never_held_out"
        ],
    ),
    (
        "fit: with one VAL root TRAIN's clips never calibrate",
        "livematch/calibration.py",
        "and val_roots <= procedure.train_max_val_roots\n",
        "and val_roots < 0\n",
        ["tests/livematch/test_fit.py::test_with_one_val_root_train_clips_calibrate_too"],
    ),
    (
        "fit: the held-out estimate leaves TRAIN's parts out of its calibrations",
        "livematch/estimate.py",
        "                Splits(list(rest) + always),",
        "                Splits(list(rest)),",
        [
            "tests/livematch/test_estimate.py::"
            "test_one_val_root_is_cut_into_parts_and_trains_parts_calibrate_but_are_never_held_out"
        ],
    ),
    (
        "fit: a draw of TRAIN takes clips apart from their items",
        "livematch/calibration.py",
        "return parts[0]",
        "return parts[0][0], sorted(ds.videos)[:len(parts[0][1])]",
        [
            "tests/livematch/test_fit.py::"
            "test_a_draw_of_a_large_root_keeps_each_selling_clip_with_its_item"
        ],
    ),
    (
        "run under torchrun tears down the caller's process group (fit runs several)",
        "livematch/pipeline.py",
        "            if owned:\n                dist.destroy_process_group()",
        "            dist.destroy_process_group()",
        [
            "tests/livematch/test_fit.py::"
            "test_fit_under_torchrun_trains_on_every_rank_and_calibrates_on_rank_0"
        ],
    ),
    (
        "fit: with two VAL roots TRAIN's clips stay out",
        "livematch/calibration.py",
        "and val_roots <= procedure.train_max_val_roots\n",
        "and val_roots < 2\n",
        ["tests/livematch/test_fit.py::test_fit_writes_a_pipeline_that_run_accepts_from_anywhere"],
    ),
    (
        "fit: the calibration rows are embedded without the test-time scales it writes",
        "livematch/fit/calibrate.py",
        "    c.detector.infer = replace(\n        c.detector.infer,\n        photo_threshold=low,",
        "    c.embedder.extract.scales_tta = []\n"
        "    c.detector.infer = replace(\n        c.detector.infer,\n        photo_threshold=low,",
        ["tests/livematch/test_fit.py::test_fit_writes_a_pipeline_that_run_accepts_from_anywhere"],
    ),
    (
        "fit: pipeline.yaml leaves the test-time scales out",
        "livematch/fit/outputs.py",
        '{"scales_tta": list(extract.scales_tta)}',
        "{}",
        ["tests/livematch/test_fit.py::test_fit_writes_a_pipeline_that_run_accepts_from_anywhere"],
    ),
    (
        "fit: a bad fit.tta_scales is found only after training",
        "livematch/fit/__init__.py",
        "    tta_sizes(1, cfg.fit.tta_scales)  # a bad multiple fails before training\n",
        "",
        ["tests/livematch/test_fit.py::test_a_bad_tta_multiple_fails_before_training"],
    ),
    (
        "fit: the test-time sizes are left as the config had them",
        "livematch/candidates.py",
        "        sizes = tta_sizes(cfg.embedder.extract.scale, cfg.fit.tta_scales)\n",
        "        sizes = []\n",
        [
            "tests/livematch/test_candidates.py::"
            "test_a_clearly_better_candidate_is_kept_and_a_tie_refused"
        ],
    ),
    (
        "the checkpoint rule: an embedder checkpoint overwrites its whole extract section (the "
        "test-time sizes too)",
        "livematch/config.py",
        "        target.model = saved.model\n",
        "        target.model = saved.model\n        if package == 'embedder':\n"
        "            target.extract = saved.extract\n",
        [
            "tests/livematch/test_fit.py::"
            "test_a_fit_pipeline_keeps_its_own_test_time_sizes_under_the_checkpoint_settings"
        ],
    ),
    (
        "embedder: the augmentation draws from its own unseeded state (two runs train different "
        "models)",
        "embedder/augment.py",
        "    if draw is not None:\n",
        "    if False:\n",
        [
            "tests/embedder/test_train.py::"
            "test_a_resumed_training_ends_where_an_uninterrupted_one_does"
        ],
    ),
    (
        "words: the vote ignores the titles and transcripts",
        "matcher/voting.py",
        "options = with_text(options, text, cfg.text_weight, RULES[cfg.rule].nearest_first)",
        "pass",
        ["tests/matcher/test_voting_text.py::test_the_transcript_decides_between_twins"],
    ),
    (
        "words: the text similarity ignores the IDF",
        "matcher/text.py",
        "v = {g: (1.0 + math.log(tf)) * idf[g] for g, tf in counts.items() if g in idf}",
        "v = {g: 1.0 + math.log(tf) for g, tf in counts.items() if g in idf}",
        ["tests/matcher/test_text.py::test_similarity_against_a_plain_tf_idf"],
    ),
    (
        "words: the original rule's largest-mean pick re-ordered by distance",
        "matcher/voting.py",
        "squared=True, nearest_first=False",
        "squared=True",
        [
            "tests/matcher/test_voting_text.py::test_words_that_say_nothing_leave_every_pick",
            "tests/matcher/test_voting_text.py::test_the_original_rule_keeps_its_largest_mean_pick_with_words",
        ],
    ),
]


def run(index: int) -> bool:
    """Apply mutation ``index``, run its tests; True when they caught it (went red)."""
    name, rel, old, new, tests = MUTATIONS[index]
    path = ROOT / rel
    original = path.read_text()
    if original.count(old) != 1:
        raise SystemExit(
            f"mutation {index} ({name}): the text to replace is not found once in {rel}; update it"
        )
    try:
        path.write_text(original.replace(old, new))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(original)
    caught = proc.returncode != 0
    print(f"[{index}] {name}: {'caught' if caught else 'MISSED'} by {' '.join(tests)}", flush=True)
    return caught


def main(argv=None) -> int:
    picks = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or range(len(MUTATIONS))
    missed = [i for i in picks if not run(i)]
    print(f"{len(picks) - len(missed)} of {len(picks)} mutations caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
