"""Deterministic zip packages of a Lambda folder.

Lambda reports `CodeSha256` = base64(sha256(zip bytes)). If two builds of unchanged code give the
same bytes, a re-deploy can compare hashes and skip the upload. Zip files normally embed file
modification times and directory order, so we fix both: sorted entries, 1980-01-01 timestamps,
fixed permissions, a fixed compression level.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ipynb_checkpoints", "node_modules"})
SKIP_SUFFIXES = (".pyc", ".pyo")


def _included(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(part in SKIP_DIRS or part.startswith(".") for part in parts):
        return False
    return path.is_file() and not path.name.endswith(SKIP_SUFFIXES)


def zip_folder(folder: Path | str) -> bytes:
    """The folder's files (not caches or dot-files) as zip bytes that depend only on their content."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    files = sorted((p for p in root.rglob("*") if _included(p, root)), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise ValueError(f"{root} holds no files to package")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16  # regular file, rw-r--r--: Lambda must read it
            info.create_system = 3  # Unix, so the permissions above are honoured
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def code_sha256(package: bytes) -> str:
    """What Lambda reports as CodeSha256 for this zip."""
    return base64.b64encode(hashlib.sha256(package).digest()).decode("ascii")
