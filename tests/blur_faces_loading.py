"""Import the blur_faces Lambda (its `blur_engine` package and its `app` module) by path.

Why not `sys.path.insert(0, "lambdas/blur_faces")`: every Lambda folder has an `app.py`, and a plain
`import app` would return whichever was imported first. The app is loaded under a unique module
name; `blur_engine` is registered under its own name because `app.py` imports it that way, as it
does when the folder is deployed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAMBDA_DIR = Path(__file__).resolve().parents[1] / "lambdas" / "blur_faces"


def load_engine() -> ModuleType:
    """The `blur_engine` package of lambdas/blur_faces (loaded once per process)."""
    existing = sys.modules.get("blur_engine")
    if existing is not None:
        if Path(existing.__file__).resolve().parent != LAMBDA_DIR / "blur_engine":
            raise RuntimeError(f"another blur_engine is already imported: {existing.__file__}")
        return existing
    init = LAMBDA_DIR / "blur_engine" / "__init__.py"
    spec = importlib.util.spec_from_file_location("blur_engine", init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["blur_engine"] = module
    spec.loader.exec_module(module)
    return module


def load_app() -> ModuleType:
    """lambdas/blur_faces/app.py as module `lambda_blur_faces_app`."""
    name = "lambda_blur_faces_app"
    if name in sys.modules:
        return sys.modules[name]
    load_engine()
    spec = importlib.util.spec_from_file_location(name, LAMBDA_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
