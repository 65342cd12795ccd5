"""Rekognition's DEFAULT face attributes that CenterFace does not give directly: Pose and Quality.

Why estimates and how: Rekognition derives these from a dense face model we do not have. Here Pose
comes from the 5 landmarks (eye line angle → Roll; nose offset from the eye midpoint → Yaw; nose
height between the eye and mouth lines → Pitch) and Quality from the face pixels (mean luma →
Brightness; Laplacian energy on a fixed-size crop → Sharpness). They move the right way and stay
in Rekognition's ranges, which is what the lab's drawing and filtering cells need; they are not
calibrated against Rekognition.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .detector import Detection

#: Where the nose sits between the eye line (0) and the mouth line (1) on a level, frontal face.
#: Measured on skimage's astronaut portrait (0.53); the turned cameraman measures 0.59.
_FRONTAL_NOSE_DEPTH = 0.53
#: Laplacian variance at which Sharpness reaches ~63 (1 - 1/e); with it the crisp astronaut
#: portrait scores 97 and a copy blurred by 2× down- and upscaling 65.
_SHARPNESS_SCALE = 300.0


def _clamp_degrees(value: float, limit: float = 90.0) -> float:
    return float(max(-limit, min(limit, value)))


def estimate_pose(landmarks: tuple[tuple[float, float], ...]) -> dict[str, float]:
    """Roll/Yaw/Pitch in degrees from (eyeLeft, eyeRight, nose, mouthLeft, mouthRight).

    Roll is positive when the face turns clockwise in the image (right eye lower), as in
    Rekognition. Yaw is positive when the nose moves towards the image's right; Pitch positive when
    the nose rises towards the eyes (head tilted back).
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    eye_l, eye_r, nose, mouth_l, mouth_r = pts
    eye_vec = eye_r - eye_l
    iod = float(np.hypot(*eye_vec))
    if iod < 1e-6:
        return {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # Express the nose in a frame aligned with the eye line, so Yaw/Pitch do not mix with Roll.
    ux = eye_vec / iod
    uy = np.array([-ux[1], ux[0]])
    eye_mid = (eye_l + eye_r) / 2
    mouth_mid = (mouth_l + mouth_r) / 2
    nose_rel = nose - eye_mid
    across = float(nose_rel @ ux) / (iod / 2)  # -1..1 when the nose stays between the eyes
    face_depth = float((mouth_mid - eye_mid) @ uy)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, across))))
    if abs(face_depth) < 1e-6:
        pitch = 0.0
    else:
        depth = float(nose_rel @ uy) / face_depth
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, (_FRONTAL_NOSE_DEPTH - depth) * 2))))
    return {
        "Roll": round(_clamp_degrees(roll, 180), 4),
        "Yaw": round(_clamp_degrees(yaw), 4),
        "Pitch": round(_clamp_degrees(pitch), 4),
    }


def estimate_quality(image_rgb: np.ndarray, detection: Detection) -> dict[str, float]:
    """Brightness and Sharpness (0..100) of the face region, clipped to the image."""
    h, w = image_rgb.shape[:2]
    x1 = max(0, int(math.floor(detection.x1)))
    y1 = max(0, int(math.floor(detection.y1)))
    x2 = min(w, int(math.ceil(detection.x2)))
    y2 = min(h, int(math.ceil(detection.y2)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return {"Brightness": 0.0, "Sharpness": 0.0}
    gray = cv2.cvtColor(np.ascontiguousarray(image_rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    brightness = float(gray.mean()) / 255.0 * 100.0
    # A fixed 64 px crop makes Sharpness about detail, not about how large the face is.
    norm = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA if gray.shape[0] > 64 else cv2.INTER_LINEAR)
    energy = float(cv2.Laplacian(norm, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-energy / _SHARPNESS_SCALE))
    return {"Brightness": round(brightness, 4), "Sharpness": round(sharpness, 4)}
