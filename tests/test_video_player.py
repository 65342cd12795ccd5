"""player(): the <video> points where JupyterLab serves files: beside the notebook, never hidden or above."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lambdalab.viz.video import player

ROOT = Path(__file__).resolve().parents[1]


def _src(html: str) -> str:
    return re.search(r'<video src="([^"]+)"', html).group(1)


def test_hidden_or_outside_video_is_linked_from_media_beside_the_notebook(tmp_path, monkeypatch):
    notebook_dir = tmp_path / "notebooks" / "student"
    hidden = tmp_path / "notebooks" / "student" / ".lab" / "sample-video-blurred.mp4"
    hidden.parent.mkdir(parents=True)
    hidden.write_bytes(b"blurred")
    monkeypatch.chdir(notebook_dir)
    for video, name in ((ROOT / "sample-video.mp4", "sample-video.mp4"), (hidden, "sample-video-blurred.mp4")):
        src = _src(player(video)._repr_html_())
        assert src == f"media/{name}"
        assert not any(part.startswith(".") for part in Path(src).parts)
        assert (notebook_dir / src).read_bytes() == video.read_bytes()
    hidden.unlink()  # a clean-up of .lab/ must not take the player's copy with it
    assert (notebook_dir / "media" / "sample-video-blurred.mp4").read_bytes() == b"blurred"


def test_identical_copy_is_left_alone_and_a_new_result_replaces_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = tmp_path / ".lab" / "out.mp4"
    video.parent.mkdir()
    video.write_bytes(b"first")
    player(video)
    copy = tmp_path / "media" / "out.mp4"
    os.utime(copy, (1, 1))
    player(video)
    assert copy.stat().st_mtime == 1  # unchanged: a re-run does not touch committed media
    video.write_bytes(b"second")
    player(video)
    assert copy.read_bytes() == b"second"


def test_a_video_already_in_media_is_linked_in_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mp4").write_bytes(b"clip")
    assert _src(player(Path("media/clip.mp4"))._repr_html_()) == "media/clip.mp4"
