import io

import numpy as np
import pytest
from PIL import Image

from ground import media
from ground.errors import ConfigError, MediaError
from ground.media import photo_size, read_photo, resolve_indices, sample_frames
from livematch.sampledata.video import write_video
from tests.conftest import index_frame, read_index


# -- photos ----------------------------------------------------------------------------------
def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_jpeg_reads_as_rgb_uint8(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[..., 0] = 200
    out = read_photo(_save(Image.fromarray(arr), tmp_path / "a.jpg", quality=95))
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert abs(int(out[..., 0].mean()) - 200) < 4 and out[..., 2].mean() < 8


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:5] = (255, 0, 0)  # stored top rows red
    arr[5:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = _save(Image.fromarray(arr), tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_photo(path)
    assert out.shape == (40, 20, 3)
    assert photo_size(path) == (20, 40)
    assert out[:, -2, 0].mean() > 200 and out[:, -2, 2].mean() < 60  # top became right
    assert out[:, 2, 2].mean() > 200


@pytest.mark.parametrize("mode", ["L", "CMYK", "P"])
def test_colour_modes_become_rgb(tmp_path, mode):
    img = Image.fromarray(np.full((8, 8, 3), (10, 200, 30), np.uint8)).convert(mode)
    ext = "png" if mode == "P" else "jpg"
    out = read_photo(_save(img, tmp_path / f"x.{ext}"))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    expected = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert np.abs(out.astype(np.int16) - expected).max() <= 3


def test_transparency_composites_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = (255, 0, 0, 255)  # opaque red top, transparent bottom
    out = read_photo(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))
    np.testing.assert_array_equal(out[0, 0], (255, 0, 0))
    np.testing.assert_array_equal(out[3, 3], (255, 255, 255))
    pal = Image.fromarray(rgba, "RGBA").convert("P")
    pal.info["transparency"] = pal.getpixel((3, 3))
    out = read_photo(_save(pal, tmp_path / "p.png", transparency=pal.getpixel((3, 3))))
    np.testing.assert_array_equal(out[3, 3], (255, 255, 255))


def test_sixteen_bit_scales_to_eight(tmp_path):
    arr = np.array([[0, 32896], [65535, 1028]], np.uint16)
    out = read_photo(_save(Image.fromarray(arr), tmp_path / "d.png"))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[..., 0], [[0, 128], [255, 4]])


def test_bad_photos_raise_our_error(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buf, "JPEG"
    )
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, reason in [
        ("trunc.jpg", "truncated"),
        ("text.jpg", "not an image"),
        ("empty.jpg", "empty file"),
        ("missing.jpg", "no such file"),
    ]:
        with pytest.raises(MediaError, match=reason) as err:
            read_photo(tmp_path / name)
        assert name in str(err.value)


# -- frame schedules ---------------------------------------------------------------------------
def test_resolve_indices_keeps_a_fitting_schedule():
    assert resolve_indices(range(80, 381, 20), 400) == list(range(80, 381, 20))
    assert resolve_indices([5, 1, 5], 10) == [1, 5]


def test_resolve_indices_drops_the_few_frames_past_a_clip_end():
    """A clip a little shorter than the schedule (370 frames, annotated 0, 40, ..., 360) keeps
    the scheduled frames it has, on the annotated grid; scaling them all moved every one off it."""
    assert resolve_indices(range(80, 381, 20), 370) == list(range(80, 361, 20))
    assert resolve_indices(range(80, 381, 20), 250) == list(range(80, 241, 20))  # 9 of 16 frames


def test_resolve_indices_reads_the_schedule_lattice_of_a_short_clip():
    """A clip far shorter than the schedule (191 frames, annotated 0, 40, ..., 160): the frames
    of the schedule's lattice, which hold the annotated ones; scaling moved them off it."""
    assert resolve_indices(range(80, 381, 20), 191) == list(range(0, 181, 20))
    assert resolve_indices(range(90, 381, 30), 100) == [
        0,
        30,
        60,
        90,
    ]  # offset as the schedule's start
    assert resolve_indices(range(80, 381, 20), 1000 // 3) == list(
        range(80, 321, 20)
    )  # 13 of 16 inside
    assert resolve_indices(range(0, 1000, 20), 600) == list(range(0, 600, 20))


def test_resolve_indices_spreads_over_a_clip_too_short_for_the_lattice():
    out = resolve_indices([80, 230, 380], 191)  # lattice step 150: one frame (80) in the clip
    assert out == [40, 115, 190]  # 80 * 190 / 380 = 40
    assert resolve_indices([80, 380], 3) == [0, 2]
    assert resolve_indices([80, 380], 0) == []


# -- clips -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index_clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    clips = {}
    for codec in ("h264", "mp4v"):
        clips[codec] = d / f"idx_{codec}.mp4"
        write_video(clips[codec], (index_frame(i) for i in range(120)), codec=codec, gop=12, crf=12)
    clips["short"] = d / "short.mp4"
    write_video(clips["short"], (index_frame(i) for i in range(50)), gop=25)
    return clips


@pytest.mark.parametrize("backend", media.BACKENDS)
@pytest.mark.parametrize("codec", ["h264", "mp4v"])
def test_sample_frames_returns_the_requested_frames(index_clips, backend, codec):
    wanted = [0, 13, 40, 41, 99, 119]
    frames = sample_frames(index_clips[codec], wanted, backend=backend, fallback=False)
    assert frames.indices == wanted
    assert frames.images.shape == (6, 32, 160, 3) and frames.images.dtype == np.uint8
    assert [read_index(f) for f in frames.images] == wanted
    assert frames.num_frames == 120


@pytest.mark.parametrize("backend", media.BACKENDS)
def test_short_clip_reads_the_schedule_lattice(index_clips, backend):
    frames = sample_frames(
        index_clips["short"], range(80, 381, 20), backend=backend, fallback=False
    )
    assert frames.indices == resolve_indices(range(80, 381, 20), 50) == [0, 20, 40]
    assert [read_index(f) for f in frames.images] == frames.indices


def test_probe_reports_size_and_length(index_clips):
    for backend in media.BACKENDS:
        info = media.probe_video(index_clips["h264"], backend)
        assert (info.width, info.height, info.num_frames) == (160, 32, 120)
        assert info.fps == pytest.approx(25.0)


def _audio_only(path):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for k in range(10):
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 16000, k * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.fixture(scope="module")
def bad_clips(index_clips, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    data = index_clips["h264"].read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    faststart = d / "faststart_full.mp4"
    write_video(faststart, (index_frame(i) for i in range(120)), gop=12, faststart=True)
    head = faststart.read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(head[: len(head) // 2])
    (d / "garbage.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    corrupt = bytearray(data)
    corrupt[len(data) // 3 : len(data) // 3 + 3000] = bytes(3000)  # damaged packets mid-clip
    (d / "corrupt.mp4").write_bytes(bytes(corrupt))
    _audio_only(d / "audio.mp4")
    return d


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", media.BACKENDS)
@pytest.mark.parametrize("name", ["zero", "truncated", "garbage", "audio"])
def test_unreadable_clips_raise_our_error(bad_clips, backend, name):
    path = bad_clips / f"{name}.mp4"
    with pytest.raises(MediaError) as err:
        sample_frames(path, [0, 10, 100], backend=backend, fallback=False)
    assert str(path) in str(err.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", media.BACKENDS)
@pytest.mark.parametrize("name", ["corrupt", "truncated_faststart"])
def test_damaged_clip_yields_true_frames_or_our_error(bad_clips, backend, name):
    """Frames that do come back from a damaged clip carry their true index."""
    try:
        frames = sample_frames(bad_clips / f"{name}.mp4", [0, 20, 60, 110], backend=backend)
    except MediaError as e:
        assert name in str(e)
        return
    assert frames.indices and frames.indices[0] == 0
    assert [read_index(f) for f in frames.images] == frames.indices


def test_unknown_backend_is_rejected(index_clips):
    with pytest.raises(ConfigError, match="unknown video backend"):
        sample_frames(index_clips["h264"], [0], backend="cv2")


def _remux_rotated(src, dst, degrees: int):
    """``src``'s packets in a new container whose display matrix turns them ``degrees`` (ccw),
    as phones record portrait streams."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        rotated = out.add_stream_from_template(stream)
        rotated.set_display_rotation(degrees)
        for packet in inp.demux(stream):
            if packet.dts is not None:
                packet.stream = rotated
                out.mux(packet)
    return dst


@pytest.mark.parametrize("degrees", [90, 270])
def test_a_rotated_phone_clip_reads_as_displayed_in_every_backend(index_clips, tmp_path, degrees):
    clip = _remux_rotated(index_clips["h264"], tmp_path / "phone.mp4", degrees)
    wanted = [0, 41, 99]
    turned = {
        b: sample_frames(clip, wanted, backend=b, fallback=False).images for b in media.BACKENDS
    }
    for backend, images in turned.items():
        assert images.shape == (3, 160, 32, 3), (
            backend
        )  # portrait as displayed, not the coded landscape
        upright = np.rot90(images, -degrees // 90, axes=(1, 2))
        assert [read_index(f) for f in upright] == wanted, backend
        info = media.probe_video(clip, backend)
        assert (info.width, info.height) == (32, 160), backend
    np.testing.assert_array_equal(turned["pyav"], turned["decord"])
