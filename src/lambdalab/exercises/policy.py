"""Notebook 02's exercise: the statements of `get_rekognized_faces`' least-privilege policy.

The check runs the function's real handler (`lambdas/get_rekognized_faces/app.py`) with its AWS
clients under botocore `Stubber`s, for two videos, and records every call it makes: that is what
the policy must allow. It then reads the learner's statements the way IAM does (Allow only,
wildcards in actions and resources) and reports each call that would be denied, and each grant
beyond what the function needs (another action, another bucket, the whole bucket, `*`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from fnmatch import fnmatchcase
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from lambdalab.deploy.paths import lambda_dir
from lambdalab.exercises.report import Case, Mismatch, conclude

FIX = 'the cell under "Exercise: the policy of get_rekognized_faces" (def get_faces_statements)'
FUNCTION = "get_rekognized_faces"
# Rekognition's GetFaceDetection has no resource-level permissions: "*" is the only resource it takes.
RESOURCELESS = {"rekognition:GetFaceDetection"}
VIDEOS = ("sample-video.mp4", "uploads/class 2025/Holiday Clip.MOV")


def _handler_module() -> Any:
    spec = importlib.util.spec_from_file_location("get_rekognized_faces_app", lambda_dir(FUNCTION) / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def calls_the_function_makes(bucket: str, region: str, partition: str = "aws") -> list[tuple[str, str]]:
    """(IAM action, resource ARN) for every AWS call of the real handler, on two stubbed jobs."""
    app = _handler_module()
    rekognition = boto3.client("rekognition", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    s3 = boto3.client("s3", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    app._clients = lambda: (rekognition, s3)
    needed: list[tuple[str, str]] = []
    for number, key in enumerate(VIDEOS):
        page = {
            "JobStatus": "SUCCEEDED",
            "VideoMetadata": {"FrameRate": 25.0, "DurationMillis": 1000},
            "Faces": [
                {
                    "Timestamp": 200,
                    "Face": {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.2, "Height": 0.3}, "Confidence": 99.0},
                }
            ],
        }
        with ExitStack() as stack:
            rek_stub, s3_stub = (stack.enter_context(Stubber(c)) for c in (rekognition, s3))
            job = f"{number:064d}"
            rek_stub.add_response(
                "get_face_detection", {**page, "NextToken": "page-2"}, {"JobId": job, "MaxResults": ANY}
            )
            rek_stub.add_response("get_face_detection", page, {"JobId": job, "MaxResults": ANY, "NextToken": "page-2"})
            s3_stub.add_response(
                "put_object",
                {},
                {"Bucket": bucket, "Key": f"faces/{key}.json", "Body": ANY, "ContentType": "application/json"},
            )
            stack.enter_context(_environment(DETECTIONS_BUCKET=bucket))
            app.handler({"JobId": job, "Video": {"Bucket": "the-input-bucket", "Key": key}})
            rek_stub.assert_no_pending_responses()
            s3_stub.assert_no_pending_responses()
        needed += [
            ("rekognition:GetFaceDetection", "*"),
            ("s3:PutObject", f"arn:{partition}:s3:::{bucket}/faces/{key}.json"),
        ]
    return needed


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _allows(statements: list[dict], action: str, resource: str) -> bool:
    return any(
        statement.get("Effect") == "Allow"
        and any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action", [])))
        and any(fnmatchcase(resource, r) for r in _listed(statement.get("Resource", [])))
        for statement in statements
    )


def _expanded(action: str) -> set[str]:
    """Every IAM action a (possibly wildcarded) action names, lower-case, from parliament's IAM data."""
    import parliament  # its IAM definition knows every action of every service, offline

    try:
        return {f"{a['service']}:{a['action']}".lower() for a in parliament.expand_action(action)}
    except Exception:  # parliament raises for an unknown service or action
        return set()


def check_get_faces_statements(
    statements: Any, detections_bucket: str, region: str = "us-east-1", partition: str = "aws"
) -> None:
    """Print the passes, or raise ExerciseFailed with what the function needs against what was granted."""
    needed = calls_the_function_makes(detections_bucket, region, partition)
    needed_actions = sorted({action for action, _ in needed})
    whole_prefix = f"arn:{partition}:s3:::{detections_bucket}/faces/*"
    shape = Case("the statements are a list of IAM statements", "a list of dicts with Effect, Action, Resource")
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        shape.mismatches.append(
            Mismatch(
                "get_faces_statements(...) returned",
                'a list of statements, e.g. [{"Sid": ..., "Effect": "Allow", "Action": ..., "Resource": ...}]',
                f"{statements!r:.120}",
            )
        )
        conclude([shape], exercise="The get_rekognized_faces policy", fix=FIX, next_step="")
        return

    allowed = Case(
        "every call the function makes is allowed", f"{len(needed)} calls of two runs: {', '.join(needed_actions)}"
    )
    for action, resource in dict.fromkeys(needed):
        if not _allows(statements, action, resource):
            allowed.mismatches.append(
                Mismatch(
                    f"{action} on {resource}",
                    "allowed",
                    "denied: no Allow statement matches both the action and the resource",
                    hint="S3 object ARNs are arn:aws:s3:::<bucket>/<key>; the key here is faces/<video key>.json"
                    if action.startswith("s3:")
                    else 'this action takes Resource "*" only',
                )
            )

    narrow = Case(
        "nothing more is granted", f"only {' and '.join(needed_actions)}, only under faces/ of the output bucket"
    )
    for number, statement in enumerate(statements, 1):
        name = statement.get("Sid") or f"statement {number}"
        for action in _listed(statement.get("Action", [])):
            granted = _expanded(action)
            extra = sorted(granted - {a.lower() for a in needed_actions})
            if extra or not granted:
                if not granted:
                    got = f"{action!r}, which names no IAM action"
                elif "*" in action or "?" in action:
                    got = f"{action!r}, which grants {len(extra)} actions the function never calls, e.g. {extra[0]}"
                else:
                    got = f"{action!r}, which the function never calls"
                narrow.mismatches.append(
                    Mismatch(
                        f"{name}: Action {action!r}",
                        f"one of {needed_actions}",
                        got,
                        hint="name the actions themselves, no wildcards",
                    )
                )
                continue
            for resource in _listed(statement.get("Resource", [])):
                covered = [a for a in needed_actions if fnmatchcase(a.lower(), action.lower())]
                if all(a in RESOURCELESS for a in covered):
                    ok, expected, hint = resource == "*", '"*"', "GetFaceDetection has no resource-level permissions"
                else:
                    ok = fnmatchcase(resource, whole_prefix)  # the learner's ARN lies within faces/ of that bucket
                    expected, hint = (
                        f"{whole_prefix} or narrower",
                        "the detections go to faces/ in the output bucket only",
                    )
                if not ok:
                    narrow.mismatches.append(
                        Mismatch(f"{name}: {action} on Resource", expected, repr(resource), hint=hint)
                    )
    conclude(
        [allowed, narrow],
        exercise="The get_rekognized_faces policy",
        fix=FIX,
        next_step="The next cell puts your statements into the function's role.",
    )
