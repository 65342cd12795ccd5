"""A short looping melody for the sample video's AAC track.

Why a soundtrack at all: the blur engine must copy audio untouched and keep it in sync (the
original tutorial drifted it with int(fps) and crashed on silent videos); a tune makes drift
audible and gives the test an audio stream to check.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 44100
#: A pentatonic phrase in semitones above A3 (220 Hz), one note per beat at 120 bpm.
_PHRASE = (3, 7, 10, 15, 12, 10, 7, 5, 3, 7, 10, 12, 10, 7, 3, -2)
_BEAT_SECONDS = 0.25


def melody(seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples in -1..1: plucked notes (two harmonics, fast attack, exponential decay)."""
    n = int(round(seconds * sample_rate))
    out = np.zeros(n, np.float32)
    note_len = int(_BEAT_SECONDS * sample_rate)
    t = np.arange(note_len, dtype=np.float32) / sample_rate
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / 0.12)
    for k, start in enumerate(range(0, n, note_len)):
        freq = 220.0 * 2.0 ** (_PHRASE[k % len(_PHRASE)] / 12.0)
        tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
        chunk = (0.25 * envelope * tone).astype(np.float32)
        end = min(n, start + note_len)
        out[start:end] = chunk[: end - start]
    # Fade the last 50 ms so the clip does not end on a click.
    fade = min(n, int(0.05 * sample_rate))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out
