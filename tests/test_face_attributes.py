"""Pose from the 5 landmarks and Quality from the face pixels: directions and ranges."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from lambdalab.faces.attributes import estimate_pose, estimate_quality
from lambdalab.faces.detector import Detection, get_detector

# A level, frontal face: eyes at y=0, nose 53 % of the way down to the mouth line.
FRONTAL = ((-20.0, 0.0), (20.0, 0.0), (0.0, 21.2), (-15.0, 40.0), (15.0, 40.0))


def _rotate(points, degrees):
    a = math.radians(degrees)
    return tuple((x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)) for x, y in points)


def test_frontal_level_face_has_zero_pose():
    pose = estimate_pose(FRONTAL)
    assert pose == pytest.approx({"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}, abs=0.5)


@pytest.mark.parametrize("degrees", [-25, -10, 10, 25])
def test_roll_is_the_eye_line_angle_and_does_not_leak_into_yaw_or_pitch(degrees):
    pose = estimate_pose(_rotate(FRONTAL, degrees))
    assert pose["Roll"] == pytest.approx(degrees, abs=0.01)
    assert abs(pose["Yaw"]) < 0.5 and abs(pose["Pitch"]) < 0.5


def test_yaw_and_pitch_follow_the_nose():
    right = list(FRONTAL)
    right[2] = (10.0, 21.2)
    up = list(FRONTAL)
    up[2] = (0.0, 14.0)
    assert estimate_pose(tuple(right))["Yaw"] == pytest.approx(30, abs=0.5)  # asin(10 / 20)
    assert estimate_pose(tuple(up))["Pitch"] > 10


def test_pose_stays_in_range_for_degenerate_landmarks():
    pose = estimate_pose(((0, 0), (0, 0), (5, 5), (0, 9), (1, 9)))
    assert pose == {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}
    wild = estimate_pose(((0, 0), (1, 0), (100, -100), (0, 1), (1, 1)))
    assert all(-180 <= v <= 180 for v in wild.values())


def test_quality_brightness_and_sharpness_move_the_right_way():
    image = np.ascontiguousarray(data.astronaut())
    (face,) = get_detector().detect(image)
    base = estimate_quality(image, face)
    darker = estimate_quality((image * 0.5).astype(np.uint8), face)
    blurred = estimate_quality(cv2.GaussianBlur(image, (0, 0), 4), face)
    assert 0 <= darker["Brightness"] < base["Brightness"] <= 100
    assert 0 <= blurred["Sharpness"] < base["Sharpness"] - 20 <= 100


def test_quality_of_a_box_outside_the_image_is_zero():
    image = np.zeros((50, 50, 3), np.uint8)
    outside = Detection(60, 60, 80, 80, 0.9, ((0, 0),) * 5)
    assert estimate_quality(image, outside) == {"Brightness": 0.0, "Sharpness": 0.0}
