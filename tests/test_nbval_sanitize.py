"""The nbval sanitizers hide what varies between two honest runs and nothing a wrong output shows.

The patterns are read and applied exactly as nbval does (its own parser, in file order, `re.sub`
on the whole output text), so a sanitizer widened to swallow a real value fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

CFG = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
PATTERNS = list(dict(get_sanitize_patterns(CFG.read_text())).items())  # nbval keeps an OrderedDict


def sanitize(text: str) -> str:
    for regex, replace in PATTERNS:
        text = re.sub(regex, replace, text)
    return text


HEX32, HEX64 = "7ba7180213e566192bec223bcd0a8db3", "90a94403d8d7e2c29e40d334811379a304f22693e8c87103f64d4f477347dae9"

# (what a correct run prints, what a wrong result prints): they must still differ after sanitizing.
WRONG_OUTPUTS = {
    "video duration": (
        "output  h264 yuv420p 1280x720, 250 frames, 10.01 s, audio: aac 432 frames",
        "output  h264 yuv420p 1280x720, 250 frames, 3.20 s, audio: aac 432 frames",
    ),
    "frame count": (
        "input   h264 yuv420p 1280x720, 250 frames, 10.01 s",
        "input   h264 yuv420p 1280x720, 80 frames, 10.01 s",
    ),
    "figure panels": ("<Figure size 1260x520 with 6 Axes>", "<Figure size 1260x520 with 1 Axes>"),
    "figure size": ("<Figure size 1000x870 with 6 Axes>", "<Figure size 640x480 with 6 Axes>"),
    "execution named by a uuid instead of <stem>-<digest>": (
        f"execution: sample-video-{HEX32}",
        "execution: 0f8fad5b-d9cb-469f-a165-70867728950e",
    ),
    "execution stem": (f"execution: sample-video-{HEX32}", f"execution: clip-{HEX32}"),
    "execution digest length": (f"execution: sample-video-{HEX32}", f"execution: sample-video-{HEX32[:16]}"),
    "a 64-hex value that is not a job id": (f"sha256: {HEX64}", f"sha256: {HEX64[::-1]}"),
    "state runs": (
        "<tr><td>CheckJobStatus</td><td>5</td><td>1.7 s</td></tr>",
        "<tr><td>CheckJobStatus</td><td>1</td><td>1.7 s</td></tr>",
    ),
    "a timing outside the state table": ("blurred in 2.1 s", "blurred in 9.9 s"),
    "faces blurred": ("blurred 51 face boxes over 250 frames", "blurred 0 face boxes over 250 frames"),
}

# (one honest run, another honest run): the same after sanitizing.
HONEST_VARIATION = {
    "port": ("embedded AWS at http://127.0.0.1:4698, account", "embedded AWS at http://127.0.0.1:51234, account"),
    "learner prefix": (
        "created bucket lab-root-8864-input-123456789012",
        "created bucket lab-alice-0f3a-input-123456789012",
    ),
    "request id": (
        "START RequestId: 5b79283d-a24a-4c44-ba2a-97bfddbecea3 Version: $LATEST",
        "START RequestId: 0f8fad5b-d9cb-469f-a165-70867728950e Version: $LATEST",
    ),
    "job id": (f"JobId: {HEX64}", f"JobId: {HEX64[::-1]}"),
    "job id in a log line": (
        f'{{"key": "sample-video.mp4", "jobId": "{HEX64}"}}',
        f'{{"key": "sample-video.mp4", "jobId": "{HEX64[::-1]}"}}',
    ),
    "failed job": (f"cause: Rekognition job {HEX64} failed", f"cause: Rekognition job {HEX64[::-1]} failed"),
    "execution digest": (f"execution: sample-video-{HEX32}", f"execution: sample-video-{HEX32[::-1]}"),
    "execution arn": (
        f'"executionArn": "arn:aws:states:us-east-1:123456789012:execution:lab-root-8864-face-blur:sample-video-{HEX32}"',
        f'"executionArn": "arn:aws:states:us-east-1:123456789012:execution:lab-bob-77aa-face-blur:sample-video-{HEX32[::-1]}"',
    ),
    "REPORT line": (
        "Duration: 305.76 ms\tBilled Duration: 306 ms\tMemory Size: 128 MB\tMax Memory Used: 523 MB",
        "Duration: 1.02 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 99 MB",
    ),
    "cold or warm start": (
        "Duration: 305.76 ms\tBilled Duration: 306 ms\tMemory Size: 128 MB\tMax Memory Used: 52 MB\tInit Duration: 201.15 ms",
        "Duration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 52 MB",
    ),
    "state seconds": (
        "<tr><td>BlurFaces</td><td>1</td><td>2.1 s</td></tr>",
        "<tr><td>BlurFaces</td><td>1</td><td>13.0 s</td></tr>",
    ),
    "timestamp": ("at 2024-05-01T10:11:12.123Z", "at 2025-01-31 23:59:59+00:00"),
    "object address": ("<Foo object at 0x7f3a2b1c>", "<Foo object at 0x55aa01>"),
}


@pytest.mark.parametrize("right,wrong", WRONG_OUTPUTS.values(), ids=WRONG_OUTPUTS)
def test_a_wrong_output_still_fails_the_comparison(right, wrong):
    assert sanitize(right) != sanitize(wrong)


@pytest.mark.parametrize("one,other", HONEST_VARIATION.values(), ids=HONEST_VARIATION)
def test_what_varies_between_honest_runs_is_hidden(one, other):
    assert sanitize(one) == sanitize(other)


def test_memory_size_is_compared_although_durations_are_not():
    one = "Duration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 2048 MB\tMax Memory Used: 500 MB"
    assert sanitize(one) != sanitize(one.replace("Memory Size: 2048", "Memory Size: 128"))
