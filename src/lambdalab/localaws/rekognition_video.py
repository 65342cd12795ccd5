"""StartFaceDetection / GetFaceDetection for moto's Rekognition, with real face detection.

moto 5.2.5 has neither operation. Its `RekognitionResponse` dispatches a JSON action to the
method named after it in snake_case, so adding two methods to that class serves them both in
`mock_aws` (in-process) and in the server. Behaviour follows the Rekognition API reference:

- the video is read from moto's own S3 backend (same process, no HTTP); a missing bucket or key,
  or a bucket in another region, is InvalidS3ObjectException (HTTP 400), raised by Start as AWS does;
- the job runs in the background (see rekognition_jobs); GetFaceDetection says IN_PROGRESS until
  it ends, then SUCCEEDED with VideoMetadata and Faces, or FAILED with a StatusMessage;
- ClientRequestToken makes Start idempotent (same token → same JobId; same token, other
  parameters → IdempotentParameterMismatchException); JobTag and Video are echoed back;
- Faces are ordered by Timestamp and paged: MaxResults 1..1000 (default 1000; larger is capped
  at 1000 as documented), NextToken opaque; an empty NextToken means the first page, as on AWS
  (code written for AWS passes NextToken="" on its first call);
- FaceAttributes DEFAULT and ALL are accepted; both return the DEFAULT attributes (BoundingBox,
  Confidence, Pose, Quality, Landmarks) because the demographic and emotion attributes of ALL
  need models the lab does not ship;
- NotificationChannel: the completion message is published to the SNS topic (moto's backend).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from moto.core.exceptions import JsonRESTError

from lambdalab.localaws import rekognition_jobs as jobs

MAX_RESULTS = 1000

# The service model's patterns, matched as AWS's (Java) validation does: the whole value, ASCII \w, \d.
_TOKEN_RE = re.compile(r"^[a-zA-Z0-9-_]+$", re.ASCII)
_JOB_TAG_RE = re.compile(r"[a-zA-Z0-9_.\-:+=\/]+", re.ASCII)
_BUCKET_RE = re.compile(r"[0-9A-Za-z\.\-_]*", re.ASCII)
_TOPIC_RE = re.compile(r"(^arn:aws:sns:.*:\w{12}:.+$)", re.ASCII)
_ROLE_RE = re.compile(r"arn:aws:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", re.ASCII)
_S3_ACCESS = "Unable to get object metadata from S3. Check object key, region and/or access permissions."


class RekognitionError(JsonRESTError):
    """A Rekognition error as AWS sends it: HTTP 400, JSON body with `__type`, Code and Message."""

    code = 400

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)
        self.description = json.dumps({"__type": error_type, "Code": error_type, "Message": message})


def _invalid(message: str = "Request has invalid parameters") -> RekognitionError:
    return RekognitionError("InvalidParameterException", message)


def _constraint(value: Any, member: str, constraint: str) -> RekognitionError:
    # The wording AWS's request validation uses.
    return RekognitionError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}",
    )


def _check_string(value: Any, member: str, min_len: int, max_len: int, pattern: re.Pattern | None = None) -> None:
    if not isinstance(value, str):
        raise _invalid(f"{member} must be a string")
    if len(value) < min_len:
        raise _constraint(value, member, f"Member must have length greater than or equal to {min_len}")
    if len(value) > max_len:
        raise _constraint(value, member, f"Member must have length less than or equal to {max_len}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _constraint(value, member, f"Member must satisfy regular expression pattern: {pattern.pattern}")


def _null(member: str) -> RekognitionError:
    return RekognitionError(
        "ValidationException",
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null",
    )


def _request(response: Any) -> dict:
    try:
        body = json.loads(response.body or "{}")
    except ValueError:
        raise RekognitionError("SerializationException", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RekognitionError("SerializationException", "The request body must be a JSON object")
    return body


def _read_s3_object(account: str, region: str, s3_object: dict) -> bytes:
    """The object's bytes from moto's S3 backend, or InvalidS3ObjectException as Rekognition says."""
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["global"]
    try:
        bucket = backend.get_bucket(s3_object["Bucket"])
    except Exception:  # MissingBucket, or a bucket of another account
        raise RekognitionError("InvalidS3ObjectException", _S3_ACCESS) from None
    if getattr(bucket, "region_name", region) != region:  # Rekognition reads same-region buckets only
        raise RekognitionError("InvalidS3ObjectException", _S3_ACCESS)
    try:
        key = backend.get_object(s3_object["Bucket"], s3_object["Name"], version_id=s3_object.get("Version"))
    except Exception:
        key = None
    if key is None:
        raise RekognitionError("InvalidS3ObjectException", _S3_ACCESS)
    return key.value


def _parse_start(body: dict) -> tuple[dict, str, str | None, dict | None, str | None]:
    video = body.get("Video")
    if video is None:
        raise _null("video")
    s3_object = video.get("S3Object") if isinstance(video, dict) else None
    if not isinstance(s3_object, dict) or "Bucket" not in s3_object or "Name" not in s3_object:
        raise _invalid("Video.S3Object with Bucket and Name is required")
    _check_string(s3_object["Bucket"], "video.s3Object.bucket", 3, 255, _BUCKET_RE)
    _check_string(s3_object["Name"], "video.s3Object.name", 1, 1024)
    if "Version" in s3_object:
        _check_string(s3_object["Version"], "video.s3Object.version", 1, 1024)
    attributes = body.get("FaceAttributes", "DEFAULT")
    if attributes not in ("DEFAULT", "ALL"):
        raise _constraint(attributes, "faceAttributes", "Member must satisfy enum value set: [DEFAULT, ALL]")
    token = body.get("ClientRequestToken")
    if token is not None:
        _check_string(token, "clientRequestToken", 1, 64, _TOKEN_RE)
    tag = body.get("JobTag")
    if tag is not None:
        _check_string(tag, "jobTag", 1, 1024, _JOB_TAG_RE)
    channel = body.get("NotificationChannel")
    if channel is not None:
        if not isinstance(channel, dict):
            raise _invalid("NotificationChannel must be an object")
        for member, name in (
            ("SNSTopicArn", "notificationChannel.sNSTopicArn"),
            ("RoleArn", "notificationChannel.roleArn"),
        ):
            if channel.get(member) is None:
                raise _null(name)
        _check_string(channel["SNSTopicArn"], "notificationChannel.sNSTopicArn", 0, 2048, _TOPIC_RE)
        _check_string(channel["RoleArn"], "notificationChannel.roleArn", 0, 2048, _ROLE_RE)
        channel = {"SNSTopicArn": channel["SNSTopicArn"], "RoleArn": channel["RoleArn"]}
    video_echo = {"S3Object": {k: s3_object[k] for k in ("Bucket", "Name", "Version") if k in s3_object}}
    return video_echo, attributes, tag, channel, token


def start_face_detection(self: Any) -> str:
    """StartFaceDetection: validate, read the S3 object, queue the job, return its JobId."""
    body = _request(self)
    video, attributes, tag, channel, token = _parse_start(body)
    fingerprint = json.dumps([video, attributes, tag, channel], sort_keys=True)
    backend = self.rekognition_backend
    if token is not None:
        earlier = jobs.find_by_token(backend, token)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise RekognitionError(
                    "IdempotentParameterMismatchException",
                    "ClientRequestToken was already used with different parameters",
                )
            return json.dumps({"JobId": earlier.job_id})
    data = _read_s3_object(self.current_account, self.region, video["S3Object"])
    job = jobs.FaceDetectionJob(
        job_id=jobs.new_job_id(),
        account=self.current_account,
        region=self.region,
        video=video,
        face_attributes=attributes,
        job_tag=tag,
        notification=channel,
        fingerprint=fingerprint,
        data=data,
    )
    job, created = jobs.start(backend, job, token)
    if not created and job.fingerprint != fingerprint:  # a concurrent request won the same token
        raise RekognitionError(
            "IdempotentParameterMismatchException", "ClientRequestToken was already used with different parameters"
        )
    return json.dumps({"JobId": job.job_id})


def _encode_token(job_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}:{offset}".encode()).decode()


def _decode_token(token: Any, job: jobs.FaceDetectionJob) -> int:
    bad = RekognitionError("InvalidPaginationTokenException", "Invalid Token")
    if not isinstance(token, str):
        raise bad
    try:
        job_id, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        value = int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if job_id != job.job_id or not 0 < value < len(job.faces):
        raise bad
    return value


def get_face_detection(self: Any) -> str:
    """GetFaceDetection: the job's status and, once SUCCEEDED, one page of faces."""
    body = _request(self)
    job_id = body.get("JobId")
    if job_id is None:
        raise _null("jobId")
    _check_string(job_id, "jobId", 1, 64, _TOKEN_RE)
    max_results = body.get("MaxResults", MAX_RESULTS)
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise _invalid("MaxResults must be an integer")
    if max_results < 1:
        raise _constraint(max_results, "maxResults", "Member must have value greater than or equal to 1")
    max_results = min(max_results, MAX_RESULTS)
    next_token = body.get("NextToken")
    if next_token is not None:
        _check_string(next_token, "nextToken", 0, 255)
    job = jobs.find(self.rekognition_backend, job_id)
    if job is None:
        raise RekognitionError("ResourceNotFoundException", "Requested resource not found.")
    offset = 0
    if next_token:  # AWS reads an empty token as absent: the first page
        if job.status != "SUCCEEDED":  # no page was handed out yet, so no token can be valid
            raise RekognitionError("InvalidPaginationTokenException", "Invalid Token")
        offset = _decode_token(next_token, job)

    result: dict[str, Any] = {"JobStatus": job.status}
    if job.status_message:
        result["StatusMessage"] = job.status_message
    if job.status == "SUCCEEDED" and job.video_metadata:
        result["VideoMetadata"] = job.video_metadata
    page = job.faces[offset : offset + max_results] if job.status == "SUCCEEDED" else []
    result["Faces"] = page
    if job.status == "SUCCEEDED" and offset + max_results < len(job.faces):
        result["NextToken"] = _encode_token(job.job_id, offset + max_results)
    result["JobId"] = job.job_id
    result["Video"] = job.video
    if job.job_tag:
        result["JobTag"] = job.job_tag
    return json.dumps(result)


_installed = False


def install() -> None:
    """Add the two operations to moto's Rekognition (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.rekognition.responses import RekognitionResponse

    RekognitionResponse.start_face_detection = start_face_detection
    RekognitionResponse.get_face_detection = get_face_detection
    _installed = True
