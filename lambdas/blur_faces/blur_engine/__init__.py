"""The blur_faces video engine: Rekognition face samples + a video in, a blurred H.264 MP4 out.

Self-contained (PyAV, OpenCV, NumPy only) so the Lambda folder deploys as it stands, and usable
alone from a notebook or a benchmark:

    timeline = load_detections(json.load(open("faces.json")))
    result = blur_video("in.mp4", "out.mp4", timeline)
    verify_output("out.mp4", result)

Modules: ``detections`` (which boxes cover time t), ``boxes`` (ratios → clamped pixels),
``blur`` (the irreversible blur), ``video`` (the PyAV transcode), ``verify`` (check before upload).
"""

from .blur import hard_blur
from .boxes import Box
from .detections import CarryPolicy, Timeline, load_detections
from .verify import top_level_atoms, verify_output
from .video import BlurResult, EncodeSettings, VideoError, blur_video

__all__ = [
    "BlurResult",
    "Box",
    "CarryPolicy",
    "EncodeSettings",
    "Timeline",
    "VideoError",
    "blur_video",
    "hard_blur",
    "load_detections",
    "top_level_atoms",
    "verify_output",
]
