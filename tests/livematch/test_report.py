"""The report: every clip graded, thumbnails as files with predicted and annotated boxes, axes and
the cut-off on the plots."""

import re
from html.parser import HTMLParser

import cv2
import numpy as np

from ground.dataset import load_dataset
from ground.metric import oracle_result, sold_items
from livematch.report import svg_histogram, thumbnail, write_report


def _decode(jpg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]  # RGB


def test_thumbnail_draws_prediction_green_truth_orange_region_blue():
    frame = np.full((300, 600, 3), 128, np.uint8)
    plain = _decode(thumbnail(frame, [[60, 60, 120, 120]], height=300))
    staged = _decode(
        thumbnail(
            frame,
            [[60, 60, 120, 120]],
            [[300, 40, 400, 200]],
            height=300,
            region=(0.25, 0.1, 0.75, 0.9),
        )
    )
    assert plain.shape == staged.shape == (300, 600, 3)
    green, orange, blue, grey = staged[90, 60], staged[120, 300], staged[150, 150], staged[150, 220]
    assert green[1] > 150 and green[0] < 80 and green[2] < 80  # the prediction's left edge
    assert (
        orange[0] > 200 and 100 < orange[1] < 180 and orange[2] < 80
    )  # the annotation's left edge
    assert blue[2] > 170 and blue[0] < 80  # the region's left edge, x = 0.25 * 600
    assert abs(int(grey[0]) - 128) < 12 and abs(int(grey[2]) - 128) < 12  # inside: untouched
    assert abs(int(plain[150, 150, 2]) - 128) < 12 and abs(int(plain[120, 300, 0]) - 128) < 12


def test_histogram_has_axes_and_marks_the_cut_off():
    page = svg_histogram({"accepted": [0.2, 0.5, 0.9], "lost": [1.0]}, cutoff=0.8)
    assert "cut-off 0.80" in page and ">distance<" in page and ">pairs<" in page
    assert "cut-off" not in svg_histogram({"accepted": [0.2]}, cutoff=None)


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.verdicts, self.images, self.order = {}, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.verdicts[attrs["id"][1:]] = attrs["data-verdict"]
            self.order.append(attrs["id"][1:])
        if tag == "img":
            self.images.append(attrs["src"])


def test_report_grades_every_clip_and_writes_thumbnails_as_files(sample_root, tmp_path):
    gt = load_dataset(sample_root)
    truth = sold_items(gt)
    oracle = oracle_result(gt)
    sold = sorted(oracle)
    assert len(sold) >= 3
    right, wrong, boxless, missed = sold[0], sold[1], sold[2], sold[3:]
    other_item = next(i for i in gt.items if i != truth[wrong])
    result = {
        right: oracle[right],
        wrong: {**oracle[wrong], "item_id": other_item},
        boxless: {
            **oracle[boxless],
            "result": [{**oracle[boxless]["result"][0], "frame_box": [0, 0, 2, 2]}],
        },
    }
    nothing = [v for v in gt.videos if v not in truth]
    if nothing:
        result[nothing[0]] = {**oracle[right], "frame_index": 0}
    details = {
        "videos": {
            v: {
                "status": "matched",
                "distance": 0.3 + 0.1 * k,
                "votes": 3,
                "runner_up_item": other_item,
                "runner_up_distance": 0.9,
            }
            for k, v in enumerate(result)
        },
        "folders": {},
    }
    details["videos"].update(
        {
            v: {"status": "no match", "reason": "no folder claimed it"}
            for v in gt.videos
            if v not in result
        }
    )
    if missed:  # the first missed clip nearly matched: the sold item's folder, beyond the cut-off
        m = oracle[missed[0]]["result"][0]
        details["videos"][missed[0]].update(
            nearest_item=truth[missed[0]],
            pairs=[
                {
                    "img_name": m["img_name"],
                    "item_box": m["item_box"],
                    "frame_box": m["frame_box"],
                    "frame": oracle[missed[0]]["frame_index"],
                    "distance": 1.5,
                }
            ],
        )
    r = oracle[right]["result"][0]  # the votes behind the right match: its own evidence pair, twice
    details["videos"][right]["pairs"] = [
        {
            "img_name": r["img_name"],
            "item_box": r["item_box"],
            "frame_box": r["frame_box"],
            "frame": oracle[right]["frame_index"],
            "distance": d,
        }
        for d in (0.25, 0.5)
    ]
    score = {k: {"precision": 0.5, "recall": 0.5, "f1": 0.5} for k in ("item", "frame", "box")} | {
        "score": 0.5
    }
    page_path = write_report(
        tmp_path / "report.html", result, details, gt, {}, score, gt, cutoff=1.0
    )
    page = page_path.read_text()
    parser = _Sections()
    parser.feed(page)
    assert set(parser.verdicts) == set(gt.videos)  # one section per clip, matched or not
    expected = {
        right: "right",
        wrong: "wrong item",
        boxless: "box failure",
        **{v: "missed" for v in missed},
    }
    if nothing:
        expected[nothing[0]] = "false positive"
        expected.update({v: "right: nothing sold" for v in nothing[1:]})
    assert parser.verdicts == expected
    assert "frame_box IoU 0.00" in page  # the box failure says why
    for verdict in set(expected.values()):
        count = sum(v == verdict for v in expected.values())
        assert re.search(
            rf"show\('{re.escape(verdict)}'\)[^>]*>{re.escape(verdict)} \({count}\)", page
        )
    assert "data:image" not in page and parser.images
    assert all((tmp_path / src).is_file() and src.startswith("report/") for src in parser.images)
    assert f"report/{right}_runner.jpg" in parser.images  # the runner-up's photo
    assert f"report/{missed[0]}_frame.jpg" in parser.images if missed else True
    frame = cv2.imread(str(tmp_path / "report" / f"{boxless}_frame.jpg"))
    assert (
        (frame[..., 2] > 200) & (frame[..., 1] > 100) & (frame[..., 1] < 180) & (frame[..., 0] < 80)
    ).any()
    # what should have been, for the wrong and the missed clips: the true item's photo and an
    # annotated frame (a missed clip's own frame is one already), each with the sold garment's
    # annotated box (orange); never for a right clip
    orange = lambda img: (  # noqa: E731
        (img[..., 2] > 200) & (img[..., 1] > 100) & (img[..., 1] < 180) & (img[..., 0] < 80)
    ).any()
    for vid, kinds in [
        (wrong, ("true_photo", "true_frame")),
        *[(m, ("true_photo", "frame")) for m in missed[:1]],
    ]:
        for kind in kinds:
            assert f"report/{vid}_{kind}.jpg" in parser.images
            assert orange(cv2.imread(str(tmp_path / "report" / f"{vid}_{kind}.jpg")))
    assert not [m for m in missed if f"report/{m}_true_frame.jpg" in parser.images]
    assert f"report/{right}_true_photo.jpg" not in parser.images
    assert [s for s in parser.images if s.startswith(f"report/{right}_vote")] == [
        f"report/{right}_vote0.jpg",
        f"report/{right}_vote1.jpg",
    ]
    assert (
        f"vote 1: {r['img_name']} -&gt; frame {oracle[right]['frame_index']}, distance 0.250"
        in page
    )
    if missed:
        assert f"report/{missed[0]}_vote0.jpg" in parser.images
        assert f"nearest folder {truth[missed[0]]}, vote 1: " in page
    if (
        missed
    ):  # an unmatched clip shows an annotated frame (its sold garment boxed), not the middle one
        shown = int(re.search(rf"clip {missed[0]}, frame (\d+) \(no match\)", page)[1])
        assert shown in gt.videos[missed[0]].frames
    # every thumbnail opens at full size; failures come first; a legend names the colours
    for src in parser.images:
        assert cv2.imread(str(tmp_path / src.replace("report/", "report/full/"))) is not None
        assert f'href="{src.replace("report/", "report/full/")}"' in page
    full = cv2.imread(str(tmp_path / "report" / "full" / f"{boxless}_frame.jpg"))
    assert (
        full.shape[:2] == gt.videos[boxless].size[::-1]
    )  # the frame as decoded, not the 220 px thumbnail
    order = [parser.verdicts[v] for v in parser.order]
    assert (
        order.index("wrong item") < order.index("right")
        and "predicted" in page
        and "annotated" in page
    )


def test_report_without_ground_truth_says_matched_or_unmatched(sample_root, tmp_path):
    gt = load_dataset(sample_root)
    oracle = oracle_result(gt)
    first = sorted(oracle)[0]
    details = {"videos": {first: {"status": "matched", "distance": 0.4, "votes": 2}}, "folders": {}}
    page = write_report(tmp_path / "r.html", {first: oracle[first]}, details, gt, {}).read_text()
    parser = _Sections()
    parser.feed(page)
    assert parser.verdicts == {v: "matched" if v == first else "unmatched" for v in gt.videos}


def test_the_filter_buttons_work_in_a_real_browser(sample_root, tmp_path):
    """Headless Chromium (skipped where it is not installed) runs the page's filter."""
    import shutil
    import subprocess

    browser = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if browser is None:
        import pytest

        pytest.skip("no Chromium on this machine")
    gt = load_dataset(sample_root)
    oracle = oracle_result(gt)
    first = sorted(oracle)[0]
    details = {"videos": {first: {"status": "matched", "distance": 0.4, "votes": 2}}, "folders": {}}
    page = write_report(tmp_path / "r.html", {first: oracle[first]}, details, gt, {}, gt=gt)
    clicked = tmp_path / "clicked.html"
    clicked.write_text(
        page.read_text().replace("</body>", "<script>show('missed')</script></body>")
    )
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", str(clicked)],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    parser = _Sections()
    parser.feed(dom)
    shown = re.findall(r'<section id="v(\d+)" data-verdict="([^"]+)"(?: class="")?>', dom)
    hidden = re.findall(r'<section id="v\d+" data-verdict="[^"]+" class="hidden">', dom)
    assert set(parser.verdicts) == set(gt.videos)
    assert {v for _, v in shown} == {"missed"} and len(shown) + len(hidden) == len(gt.videos)


def test_the_report_shows_the_words_beside_the_pictures(sample_root, tmp_path):
    """The clip's transcript and its item's and runner-up's titles, the shared words marked; a
    clip without a transcript shows no words."""
    from dataclasses import replace

    from livematch.report import highlight

    assert (
        highlight("红色<条纹>短裙", {"条纹", "短裙"})
        == "红色&lt;<mark>条纹</mark>&gt;<mark>短裙</mark>"
    )
    assert highlight("ＸＬ码 Red", {"xl", "re"}) == "<mark>ＸＬ</mark>码 <mark>Re</mark>d"
    gt = load_dataset(sample_root)
    oracle = oracle_result(gt)
    first, second = sorted(oracle)[:2]
    item = oracle[first]["item_id"]
    other = next(i for i in gt.items if i != item)
    gt.items[item].text = "红色 竖条纹 短裙 2026新款"
    gt.items[other].text = "黑色 波点 长裤"
    gt.videos[first].text = "家人们 今天这款竖条纹的短裙 只要99元"
    gt.videos[second] = replace(gt.videos[second], text=None)
    info = {
        "status": "matched",
        "item_id": item,
        "distance": 0.4,
        "votes": 2,
        "runner_up_item": other,
        "runner_up_distance": 0.8,
        "text_score": 0.42,
    }
    details = {"videos": {first: info, second: {**info, "text_score": 0.1}}, "folders": {}}
    result = {first: oracle[first], second: oracle[second]}
    page = write_report(tmp_path / "r.html", result, details, gt, {}).read_text()
    one = page[page.index(f'id="v{first}"') :]
    one = one[: one.index("</section>")]
    assert (
        "said in the clip (text score 0.42): 家人们 今天这款<mark>竖条纹</mark>的<mark>短裙</mark>"
        in one
    )
    assert f"item {item}'s title: 红色 <mark>竖条纹</mark> <mark>短裙</mark> 2026新款" in one
    assert f"runner-up {other}'s title: 黑色 波点 长裤" in one
    two = page[page.index(f'id="v{second}"') :]
    assert "said in the clip" not in two[: two.index("</section>")]


def test_the_histogram_keeps_distances_the_words_pulled_below_zero():
    svg = svg_histogram({"accepted pairs": [-0.25, 0.3, 0.9]}, cutoff=1.0)
    counts = [int(n) for n in re.findall(r"<title>accepted pairs: (\d+)</title>", svg)]
    assert sum(counts) == 3 and ">-0.25<" in svg  # the axis starts at the lowest distance
