"""Where the deployable artefacts live: the `lambdas/` folders and `state_machine.json`.

They sit at the top of the repository, outside the Python package, because each Lambda folder must
be deployable as it stands (zip it, or `docker build` it). The library finds them relative to its
own source checkout; `LAMBDALAB_ROOT` overrides that for unusual layouts.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_ROOT = "LAMBDALAB_ROOT"


def repo_root() -> Path:
    """The repository root: `$LAMBDALAB_ROOT`, else the checkout this package was installed from."""
    override = os.environ.get(ENV_ROOT)
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "lambdas").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise FileNotFoundError(
        f"cannot find the Lambda Lab checkout above {here}; set {ENV_ROOT} to the folder holding lambdas/"
    )


def lambda_dir(function: str) -> Path:
    """The folder of one function, e.g. `lambdas/face_detection`."""
    path = repo_root() / "lambdas" / function
    if not path.is_dir():
        raise FileNotFoundError(f"no Lambda folder {path}")
    return path


def state_machine_file() -> Path:
    return repo_root() / "state_machine.json"
