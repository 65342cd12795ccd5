"""An irreversible blur for face regions.

Why not a Gaussian: a light Gaussian blur is a linear filter with a known kernel, so sharpening
(or deconvolution) brings much of the face back. Shrinking the region to a handful of cells
(area-averaged) throws the detail away for good: whatever is done afterwards, the output holds
no more information than that tiny grid. A small blur of the grid and a bilinear enlargement then
hide the cell edges, so the result reads as "blurred", not as a mosaic. It costs well under a
millisecond per face.
"""

from __future__ import annotations

import cv2
import numpy as np

#: A pixel rectangle (x0, y0, x1, y1), half-open.
Rect = tuple[int, int, int, int]

#: Cells across the shorter side of a region: 6 leaves a skin-coloured smudge, not a face.
CELLS = 6
#: Smallest cell in pixels, so tiny faces are blurred hard too rather than left nearly intact.
MIN_CELL = 4


def grid_for(width: int, height: int, cells: int = CELLS, min_cell: int = MIN_CELL) -> tuple[int, int]:
    """(columns, rows) of the grid a width×height region is reduced to."""
    cell = max(min(width, height) / cells, float(min_cell))
    return max(1, round(width / cell)), max(1, round(height / cell))


def hard_blur(region: np.ndarray, grid: tuple[int, int]) -> None:
    """Blur a 2-D uint8 region (a view into a frame plane) in place, down to `grid` detail."""
    h, w = region.shape[:2]
    if h == 0 or w == 0:
        return
    small = cell_means(region, min(grid[0], w), min(grid[1], h))
    cols, rows = small.shape[1], small.shape[0]
    if cols >= 3 and rows >= 3:
        small = cv2.GaussianBlur(small, (3, 3), 0, borderType=cv2.BORDER_REPLICATE)
    region[...] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(region.shape)


def cell_means(region: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """The region's mean over each cell of a cols×rows grid (cell edges on whole pixels).

    What INTER_AREA does, from an integral image: INTER_AREA takes ~2 ns a pixel when the region
    is not a whole multiple of the grid, which it almost never is, this ~0.2 ns.
    """
    h, w = region.shape[:2]
    xs, ys = np.arange(cols + 1) * w // cols, np.arange(rows + 1) * h // rows
    corners = cv2.integral(region)[np.ix_(ys, xs)]
    sums = corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    area = np.outer(np.diff(ys), np.diff(xs))
    return ((sums + area // 2) // area).astype(np.uint8)


def yuv420p_planes(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable Y, U, V views into PyAV's packed yuv420p array (Y, then U, then V, row-major)."""
    flat = frame.reshape(-1)
    cw, ch = width // 2, height // 2
    y = flat[: width * height].reshape(height, width)
    u = flat[width * height : width * height + cw * ch].reshape(ch, cw)
    v = flat[width * height + cw * ch : width * height + 2 * cw * ch].reshape(ch, cw)
    return y, u, v


def clusters(rects: list[Rect]) -> list[list[Rect]]:
    """Group rectangles that overlap or touch (connected components).

    Why: one face between two samples is covered by several overlapping rectangles (both samples'
    boxes and the interpolated one). Blurring each separately leaves seams where they overlap,
    sharp edges inside the face that carry detail; a cluster is blurred once, as one region.
    """
    groups: list[list[Rect]] = []
    for rect in rects:
        touching = [g for g in groups if any(_touch(rect, other) for other in g)]
        merged = [rect] + [r for g in touching for r in g]
        groups = [g for g in groups if not any(g is t for t in touching)] + [merged]
    return groups


def _touch(a: Rect, b: Rect) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _blur_cluster(plane: np.ndarray, cluster: list[Rect], grid: tuple[int, int], scale: int) -> None:
    """Blur the cluster's bounding box once, then write it back only inside the cluster's rectangles
    (`scale` 2 maps luma rectangles onto a half-size chroma plane, rounding outwards)."""
    x0 = min(r[0] for r in cluster) // scale
    y0 = min(r[1] for r in cluster) // scale
    x1 = -(-max(r[2] for r in cluster) // scale)
    y1 = -(-max(r[3] for r in cluster) // scale)
    region = plane[y0:y1, x0:x1]
    if len(cluster) == 1:
        hard_blur(region, grid)
        return
    blurred = region.copy()
    hard_blur(blurred, grid)
    for rx0, ry0, rx1, ry1 in cluster:
        sx0, sy0, sx1, sy1 = rx0 // scale - x0, ry0 // scale - y0, -(-rx1 // scale) - x0, -(-ry1 // scale) - y0
        region[sy0:sy1, sx0:sx1] = blurred[sy0:sy1, sx0:sx1]


def blur_yuv420p(frame: np.ndarray, width: int, height: int, rects: list[Rect]) -> None:
    """Blur the pixel rectangles of a yuv420p frame in place: luma at full, chroma at half size.

    The chroma planes use the luma grid, so colour detail is destroyed as thoroughly as brightness.
    """
    y, u, v = yuv420p_planes(frame, width, height)
    for cluster in clusters(rects):
        grid = grid_for(
            max(r[2] for r in cluster) - min(r[0] for r in cluster),
            max(r[3] for r in cluster) - min(r[1] for r in cluster),
        )
        _blur_cluster(y, cluster, grid, 1)
        _blur_cluster(u, cluster, grid, 2)
        _blur_cluster(v, cluster, grid, 2)
