"""Everything the embedded AWS changes in moto, applied once before the server starts."""

from __future__ import annotations

import importlib

_applied = False

# Each module has one job and an `install()`; the order does not matter.
PATCH_MODULES = (
    "lambda_patches",
    "s3_notifications",
    "sns_delivery",
    "stream_delivery",
    "sqs_polling",
    "stepfunctions_patch",
    "rekognition_video",
)


def apply_all() -> None:
    global _applied
    if _applied:
        return
    for name in PATCH_MODULES:
        importlib.import_module(f"lambdalab.localaws.{name}").install()
    _applied = True
