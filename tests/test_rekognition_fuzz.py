"""Fuzz the offline Rekognition Video against botocore's own service model.

Requests are generated from the StartFaceDetection / GetFaceDetection input shapes: every member,
lengths at both bounds, empty strings where the model allows them, the model's patterns and enums.
Valid requests must be answered as AWS answers them (a JobId, a page, or the error the request's
*content* calls for: missing object, unknown job, bad token); each invalid request (one member
breaking one model constraint) must be refused with ValidationException. Every raw response, success
or error, is validated against the model too. Paging is walked through every page size.

Hypothesis runs derandomized with a fixed example budget, on one in-process moto for the module.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import shutil
import string
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore_shapes import service_model, validate_error, validate_output
from face_clips import clip
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from moto import mock_aws

from lambdalab.localaws import rekognition_video

# Hypothesis keeps caches in ./.hypothesis by default; the working tree is not the place for them.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="lambdalab-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)

MODEL = service_model("rekognition")
START = MODEL.operation_model("StartFaceDetection").input_shape
GET = MODEL.operation_model("GetFaceDetection").input_shape
BUCKET, VIDEO, JUNK = "fuzz-videos", "clip.mp4", "junk.mp4"
PRINTABLE = string.printable[:-5]  # ASCII letters, digits, punctuation and space; no control characters
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
VALIDATION = re.compile(
    r"^1 validation error detected: Value (null|'.*') at '[\w.]+' failed to satisfy constraint: ", re.S
)


# --- strategies from the shapes ---------------------------------------------------------------------


def _pattern(shape) -> re.Pattern | None:
    pattern = shape.metadata.get("pattern")
    return re.compile(pattern, re.ASCII) if pattern else None  # AWS (Java) patterns: ASCII \w, \d


def _alphabet(shape) -> str | None:
    """The characters a single-character-class pattern (`[...]+`, `^[...]*$`) accepts, else None."""
    pattern = _pattern(shape)
    if pattern is None:
        return PRINTABLE
    core = pattern.pattern.strip("^$")
    if not re.fullmatch(r"\[[^\]]+\][+*]", core):
        return None
    return "".join(c for c in PRINTABLE if re.fullmatch(core[:-1], c, re.ASCII))


def valid_string(shape) -> st.SearchStrategy[str]:
    """Values the model accepts, with both length bounds always among the candidates."""
    if shape.enum:
        return st.sampled_from(shape.enum)
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
    alphabet = _alphabet(shape)
    if alphabet is None:  # a structured pattern (ARNs): generate from the regex itself
        pattern = _pattern(shape)
        values = st.from_regex(pattern, fullmatch=True, alphabet=st.sampled_from(PRINTABLE))
        return values.filter(lambda v: low <= len(v) <= (high or 2048))
    low = max(low, 1) if not alphabet.strip() else low
    high = high if high is not None else low + 64
    return st.one_of(
        st.text(alphabet, min_size=low, max_size=low),  # lower bound ("" where the model allows it)
        st.text(alphabet, min_size=high, max_size=high),  # upper bound
        st.text(alphabet, min_size=low, max_size=min(high, low + 40)),
    )


def invalid_strings(shape) -> st.SearchStrategy[str]:
    """Values breaking exactly one of the shape's constraints: a length bound, the pattern or the enum."""
    options = []
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
    alphabet = _alphabet(shape) or "a"
    if low > 0:
        options.append(st.text(alphabet, min_size=0, max_size=low - 1))
    if high is not None:
        options.append(st.text(alphabet, min_size=high + 1, max_size=high + 30))
    if shape.enum:
        options.append(st.text(string.ascii_uppercase, min_size=1, max_size=10).filter(lambda v: v not in shape.enum))
    pattern = _pattern(shape)
    if pattern is not None:  # one character of a valid value replaced by one the pattern refuses
        options.append(
            st.tuples(valid_string(shape), st.sampled_from(" !#%&()*<>?@[]{}|~\"'"), st.integers(0, 2048))
            .map(lambda t: t[0][: t[2] % (len(t[0]) or 1)] + t[1] + t[0][t[2] % (len(t[0]) or 1) + 1 :])
            .filter(lambda v: not pattern.fullmatch(v) and low <= len(v) <= (high or len(v)))
        )
    return st.one_of(options)


def members(shape, **fixed) -> st.SearchStrategy[dict]:
    """A structure's members: required ones always, optional ones sometimes, `fixed` where given."""
    required, optional = {}, {}
    for name, member in shape.members.items():
        strategy = fixed.get(name, valid_string(member) if member.type_name == "string" else None)
        if strategy is None:
            continue
        (required if name in shape.required_members else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


S3OBJECT = START.members["Video"].members["S3Object"]
CHANNEL = START.members["NotificationChannel"]
random_object = st.fixed_dictionaries(
    {"Bucket": valid_string(S3OBJECT.members["Bucket"]), "Name": valid_string(S3OBJECT.members["Name"])},
    optional={"Version": valid_string(S3OBJECT.members["Version"])},
)
existing_object = st.sampled_from([{"Bucket": BUCKET, "Name": JUNK}])
start_requests = members(
    START,
    Video=st.one_of(existing_object, existing_object, random_object).map(lambda o: {"S3Object": o}),
    NotificationChannel=members(CHANNEL),
)


def _mutated(request: dict, path: tuple[str, ...], value) -> dict:
    copy = json.loads(json.dumps(request))
    target = copy
    for key in path[:-1]:
        target = target.setdefault(key, {})
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return copy


def _invalid(requests, paths: list[tuple[tuple[str, ...], object]]) -> st.SearchStrategy[dict]:
    """A valid request with one member made invalid (a broken string, or a required member removed)."""
    choices = []
    for path, member in paths:
        bad = st.just(None) if member is None else invalid_strings(member)
        choices.append(st.tuples(requests, st.just(path), bad).map(lambda t: _mutated(*t)))
    return st.one_of(choices)


invalid_start_requests = _invalid(
    # an existing object and a complete channel, so that the mutated member is the only fault
    st.tuples(start_requests, members(CHANNEL)).map(
        lambda t: {**t[0], "Video": {"S3Object": {"Bucket": BUCKET, "Name": JUNK}}, "NotificationChannel": t[1]}
    ),
    [
        (("Video",), None),
        (("Video", "S3Object", "Bucket"), S3OBJECT.members["Bucket"]),
        (("Video", "S3Object", "Name"), S3OBJECT.members["Name"]),
        (("Video", "S3Object", "Version"), S3OBJECT.members["Version"]),
        (("ClientRequestToken",), START.members["ClientRequestToken"]),
        (("FaceAttributes",), START.members["FaceAttributes"]),
        (("JobTag",), START.members["JobTag"]),
        (("NotificationChannel", "SNSTopicArn"), None),
        (("NotificationChannel", "SNSTopicArn"), CHANNEL.members["SNSTopicArn"]),
        (("NotificationChannel", "RoleArn"), None),
        (("NotificationChannel", "RoleArn"), CHANNEL.members["RoleArn"]),
    ],
)


# --- one in-process cloud for the module -------------------------------------------------------------


class Cloud:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bytes]] = []
        self.rek = boto3.client("rekognition", region_name="us-east-1", config=Config(parameter_validation=False))
        self.rek.meta.events.register("after-call.rekognition", self._record)
        self.tokens: dict[str, tuple[str, str]] = {}  # ClientRequestToken -> (fingerprint, JobId)

    def _record(self, http_response, model, **_kwargs) -> None:
        self.calls.append((model.name, http_response.status_code, http_response.content))

    def call(self, operation: str, request: dict) -> tuple[int, dict]:
        """(HTTP status, parsed raw body) of one call; the raw body is validated against the model."""
        self.calls.clear()
        with contextlib.suppress(self.rek.exceptions.ClientError):
            getattr(self.rek, operation)(**request)
        name, status, body = self.calls[-1]
        check = (
            validate_output(MODEL.service_name, name, body)
            if status == 200
            else validate_error(MODEL.service_name, name, status, body)
        )
        assert check == [], (request, body)
        return status, json.loads(body)

    def wait(self, job_id: str) -> dict:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, body = self.call("get_face_detection", {"JobId": job_id})
            if body["JobStatus"] != "IN_PROGRESS":
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never finished")


@pytest.fixture(scope="module")
def cloud():
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in __import__("os").environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        rekognition_video.install()
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            s3.upload_file(str(clip("tilt", 320, 180, seconds=1.2)[0]), BUCKET, VIDEO)
            s3.put_object(Bucket=BUCKET, Key=JUNK, Body=b"not a video")  # accepted at Start; the job FAILS
            cloud = Cloud()
            _, started = cloud.call("start_face_detection", {"Video": {"S3Object": {"Bucket": BUCKET, "Name": VIDEO}}})
            cloud.faces_job = started["JobId"]
            cloud.faces = cloud.wait(cloud.faces_job)["Faces"]
            _, failed = cloud.call("start_face_detection", {"Video": {"S3Object": {"Bucket": BUCKET, "Name": JUNK}}})
            cloud.failed_job = failed["JobId"]
            assert cloud.wait(cloud.failed_job)["JobStatus"] == "FAILED"
            yield cloud


# --- StartFaceDetection --------------------------------------------------------------------------------


def _fingerprint(request: dict) -> str:
    """The request as idempotency compares it: its parameters, FaceAttributes' default made explicit."""
    parameters = {"FaceAttributes": "DEFAULT", **request}
    return json.dumps({k: v for k, v in parameters.items() if k != "ClientRequestToken"}, sort_keys=True)


@FUZZ
@given(request=start_requests)
def test_valid_start_requests_are_answered_as_aws_answers_them(cloud, request):
    status, body = cloud.call("start_face_detection", request)
    event(f"{status} {body.get('__type', 'JobId')}")  # --hypothesis-show-statistics: what was covered
    token = request.get("ClientRequestToken")
    s3 = request["Video"]["S3Object"]
    if token in cloud.tokens and cloud.tokens[token][0] != _fingerprint(request):
        assert (status, body["__type"]) == (400, "IdempotentParameterMismatchException"), body
    elif token in cloud.tokens:
        assert (status, body) == (200, {"JobId": cloud.tokens[token][1]})  # the same job, not a new one
    elif (s3["Bucket"], s3["Name"]) != (BUCKET, JUNK) or "Version" in s3:
        assert (status, body["__type"]) == (400, "InvalidS3ObjectException"), body  # no such object (version)
    else:
        assert status == 200 and re.fullmatch(r"[0-9a-f]{64}", body["JobId"]), body
        if token is not None:
            cloud.tokens[token] = (_fingerprint(request), body["JobId"])


@FUZZ
@given(request=invalid_start_requests)
def test_start_requests_breaking_the_model_are_validation_errors(cloud, request):
    status, body = cloud.call("start_face_detection", request)
    assert (status, body["__type"]) == (400, "ValidationException"), (request, body)
    assert VALIDATION.match(body["Message"]), body["Message"]


# --- GetFaceDetection ----------------------------------------------------------------------------------


JOB_ID = GET.members["JobId"]
get_requests = st.fixed_dictionaries(
    {  # mostly the two known jobs, a quarter of the time any id the model allows (an unknown job)
        "JobId": st.sampled_from(["faces", "faces", "failed", "any"]).flatmap(
            lambda k: valid_string(JOB_ID) if k == "any" else st.just(k)
        )
    },
    optional={
        "MaxResults": st.one_of(st.integers(1, 30), st.sampled_from([999, 1000, 1001, 2**31 - 1])),
        "NextToken": st.one_of(st.just(""), valid_string(GET.members["NextToken"])),
    },
)


@FUZZ
@given(request=get_requests)
def test_valid_get_requests_are_answered_as_aws_answers_them(cloud, request):
    job = {"faces": cloud.faces_job, "failed": cloud.failed_job}.get(request["JobId"])
    request = {**request, "JobId": job or request["JobId"]}
    status, body = cloud.call("get_face_detection", request)
    event(f"{status} {body.get('__type', body.get('JobStatus'))}")
    if job is None:
        assert (status, body["__type"]) == (400, "ResourceNotFoundException"), body
    elif request.get("NextToken"):  # a token this job never handed out
        assert (status, body["__type"]) == (400, "InvalidPaginationTokenException"), body
    elif job == cloud.failed_job:
        assert status == 200 and body["JobStatus"] == "FAILED" and body["Faces"] == [] and "NextToken" not in body
    else:  # absent or empty NextToken: the first page
        size = min(request.get("MaxResults", 1000), 1000)
        assert status == 200 and body["JobStatus"] == "SUCCEEDED"
        assert body["Faces"] == cloud.faces[:size]
        assert ("NextToken" in body) == (size < len(cloud.faces))


invalid_get_requests = _invalid(
    st.fixed_dictionaries({"JobId": st.just("0" * 64)}, optional={"MaxResults": st.integers(1, 100)}),
    [(("JobId",), None), (("JobId",), JOB_ID), (("NextToken",), GET.members["NextToken"])],
) | st.integers(-(2**31), 0).map(lambda n: {"JobId": "0" * 64, "MaxResults": n})


@FUZZ
@given(request=invalid_get_requests)
def test_get_requests_breaking_the_model_are_validation_errors(cloud, request):
    status, body = cloud.call("get_face_detection", request)
    assert (status, body["__type"]) == (400, "ValidationException"), (request, body)
    assert VALIDATION.match(body["Message"]), body["Message"]


def test_paging_through_every_page_size(cloud):
    """Every MaxResults from 1 to past the end (and past the 1000 cap): the pages, followed by their
    NextTokens, give every face once, in order; each page is full but the last."""
    faces = cloud.faces
    assert len(faces) >= 6, "the clip must give several faces to page through"
    for size in [*range(1, len(faces) + 2), 1000, 1001]:
        pages, token = [], ""  # "" first, as code written for AWS often sends
        while True:
            request = {"JobId": cloud.faces_job, "MaxResults": size, "NextToken": token}
            status, body = cloud.call("get_face_detection", request)
            assert status == 200, body
            pages.append(body["Faces"])
            token = body.get("NextToken")
            if token is None:
                break
        assert [face for page in pages for face in page] == faces, size
        assert [len(page) for page in pages[:-1]] == [size] * (len(pages) - 1) and 0 < len(pages[-1]) <= size
        assert len(pages) == -(-len(faces) // min(size, 1000))
