"""Report pictures: the evidence box and the frame region drawn on the thumbnails."""
import base64

import cv2
import numpy as np

from livematch.report import _thumb


def _decode(uri: str) -> np.ndarray:
    data = base64.b64decode(uri.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]  # RGB


def test_thumbnail_draws_the_box_in_green_and_the_region_in_blue():
    frame = np.full((300, 600, 3), 128, np.uint8)
    plain = _decode(_thumb(frame, [60, 60, 120, 120], height=300))
    staged = _decode(_thumb(frame, [60, 60, 120, 120], height=300, region=(0.25, 0.1, 0.75, 0.9)))
    assert plain.shape == staged.shape == (300, 600, 3)
    green, blue, grey = staged[90, 60], staged[150, 150], staged[150, 300]
    assert green[1] > 150 and green[0] < 80  # the box's left edge
    assert blue[2] > 170 and blue[0] < 80  # the region's left edge, x = 0.25 * 600
    assert abs(int(grey[0]) - 128) < 12 and abs(int(grey[2]) - 128) < 12  # inside: untouched
    assert abs(int(plain[150, 150, 2]) - 128) < 12  # no region, no blue edge
