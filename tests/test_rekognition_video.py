"""The offline Rekognition Video (StartFaceDetection / GetFaceDetection) on moto, through boto3.

Every response any test here receives — successes and errors — is validated against botocore's
own Rekognition service model (tests/botocore_shapes.py), on the raw body.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request

import av
import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore_shapes import validate_error, validate_output
from face_clips import SAMPLE_VIDEO, clip, sample_truth
from moto import mock_aws

from lambdalab.faces import detector as detector_module
from lambdalab.localaws import rekognition_jobs, rekognition_video
from lambdalab.samplevideo.scoring import score

REGION = "us-east-1"
BUCKET = "lab-videos"


class ResponseRecorder:
    """Keeps the raw HTTP status and body of every Rekognition call a client makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bytes]] = []

    def attach(self, client) -> None:
        client.meta.events.register("after-call.rekognition", self._after)

    def _after(self, http_response, model, **_kwargs) -> None:
        self.calls.append((model.name, http_response.status_code, http_response.content))

    def problems(self) -> list[str]:
        found = []
        for operation, status, body in self.calls:
            check = validate_output if status == 200 else None
            errors = (
                validate_output("rekognition", operation, body)
                if check
                else validate_error("rekognition", operation, status, body)
            )
            found += [f"{operation} ({status}): {e}" for e in errors]
        return found


@pytest.fixture()
def recorder():
    rec = ResponseRecorder()
    yield rec
    assert rec.calls, "the test made no Rekognition call"
    assert rec.problems() == []


@pytest.fixture()
def cloud(monkeypatch, recorder):
    """In-process moto with the emulator installed; returns a client factory."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):  # a session's local server must not capture these calls
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    rekognition_video.install()
    with mock_aws():

        def make(service: str, region: str = REGION, **kwargs):
            client = boto3.client(service, region_name=region, **kwargs)
            if service == "rekognition":
                recorder.attach(client)
            return client

        make("s3").create_bucket(Bucket=BUCKET)
        yield make


def _upload(make, path, key: str = "in/video.mp4") -> str:
    make("s3").upload_file(str(path), BUCKET, key)
    return key


def _start(rek, key: str, **kwargs) -> str:
    return rek.start_face_detection(Video={"S3Object": {"Bucket": BUCKET, "Name": key}}, **kwargs)["JobId"]


def _wait(rek, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = rek.get_face_detection(JobId=job_id)
        if response["JobStatus"] != "IN_PROGRESS":
            return response
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still IN_PROGRESS after {timeout} s")


def _all_faces(rek, job_id: str, page: int) -> list[dict]:
    faces, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        response = rek.get_face_detection(JobId=job_id, MaxResults=page, **kwargs)
        assert len(response["Faces"]) <= page
        faces += response["Faces"]
        token = response.get("NextToken")
        if not token:
            return faces


@pytest.fixture(scope="module")
def short_clip():
    return clip("tilt", 320, 180, seconds=1.2, audio=True)


def _error(call) -> dict:
    with pytest.raises(Exception) as info:
        call()
    return info.value.response


def test_job_is_in_progress_until_detection_ends_then_succeeds(cloud, short_clip, monkeypatch):
    path, truth = short_clip
    rek = cloud("rekognition")
    key = _upload(cloud, path)
    gate = threading.Event()
    real_run = rekognition_jobs.run
    monkeypatch.setattr(rekognition_jobs, "run", lambda job: (gate.wait(30), real_run(job)))

    job_id = _start(rek, key, JobTag="lesson-3")
    assert len(job_id) == 64 and all(c in "0123456789abcdef" for c in job_id)
    first = rek.get_face_detection(JobId=job_id)
    assert first["JobStatus"] == "IN_PROGRESS"
    assert first["Faces"] == [] and "VideoMetadata" not in first and "NextToken" not in first
    assert first["JobId"] == job_id and first["JobTag"] == "lesson-3"
    assert first["Video"] == {"S3Object": {"Bucket": BUCKET, "Name": key}}

    gate.set()
    done = _wait(rek, job_id)
    assert done["JobStatus"] == "SUCCEEDED" and "StatusMessage" not in done
    assert done["VideoMetadata"] == {
        "Codec": "h264",
        "DurationMillis": 1200,
        "Format": "QuickTime / MOV",
        "FrameRate": 25.0,
        "FrameHeight": 180,
        "FrameWidth": 320,
        "ColorRange": "LIMITED",
    }
    # Judged against the generator's ground truth, not against the detector the emulator calls.
    by_time: dict[int, list] = {t: [] for t in range(0, 1200, 200)}  # every 200 ms sample of 1.2 s
    for face in done["Faces"]:
        by_time[face["Timestamp"]].append(face["Face"]["BoundingBox"])  # KeyError: off the 200 ms grid
    measured = score(truth, by_time)
    assert measured.true_positives == 12 and measured.false_positives == 0, measured  # 2 faces x 6 samples
    assert measured.mean_iou >= 0.8, measured
    assert done["JobTag"] == "lesson-3"


def test_sample_video_from_start_to_succeeded(cloud):
    rek = cloud("rekognition")
    key = _upload(cloud, SAMPLE_VIDEO, "sample-video.mp4")
    started = time.perf_counter()
    job_id = _start(rek, key)
    done = _wait(rek, job_id)
    elapsed = time.perf_counter() - started
    print(f"StartFaceDetection -> SUCCEEDED on sample-video.mp4: {elapsed:.2f} s, {len(done['Faces'])} faces")
    assert done["JobStatus"] == "SUCCEEDED"
    assert done["VideoMetadata"]["DurationMillis"] == 10000 and done["VideoMetadata"]["FrameWidth"] == 1280
    stamps = [f["Timestamp"] for f in done["Faces"]]
    assert stamps == sorted(stamps)
    by_time: dict[int, list] = {t: [] for t in range(0, 10000, 200)}
    for face in done["Faces"]:
        by_time[face["Timestamp"]].append(face["Face"]["BoundingBox"])
    measured = score(sample_truth(), by_time)
    assert measured.recall >= 0.95 and measured.precision >= 0.95


def test_pages_with_max_results_and_next_token(cloud, short_clip):
    path, _ = short_clip
    rek = cloud("rekognition")
    job_id = _start(rek, _upload(cloud, path))
    everything = _wait(rek, job_id)["Faces"]
    assert "NextToken" not in rek.get_face_detection(JobId=job_id)
    for page in (1, 3, 7):
        assert _all_faces(rek, job_id, page) == everything


def test_max_results_defaults_to_and_is_capped_at_1000(cloud, short_clip):
    path, _ = short_clip
    rek = cloud("rekognition")
    job_id = _start(rek, _upload(cloud, path))
    _wait(rek, job_id)
    # Make the finished job long (2500 faces) without decoding a long video.
    from moto.rekognition.models import rekognition_backends

    job = rekognition_jobs.find(rekognition_backends["123456789012"][REGION], job_id)
    template = job.faces[0]
    job.faces = [{"Timestamp": i * 40, "Face": template["Face"]} for i in range(2500)]
    assert len(rek.get_face_detection(JobId=job_id)["Faces"]) == 1000
    capped = rek.get_face_detection(JobId=job_id, MaxResults=5000)
    assert len(capped["Faces"]) == 1000 and capped["NextToken"]
    assert len(_all_faces(rek, job_id, 1000)) == 2500


def test_same_client_request_token_returns_the_same_job(cloud, short_clip):
    path, _ = short_clip
    rek = cloud("rekognition")
    key = _upload(cloud, path)
    first = _start(rek, key, ClientRequestToken="upload-42", JobTag="a")
    again = _start(rek, key, ClientRequestToken="upload-42", JobTag="a")
    other = _start(rek, key, JobTag="a")
    assert first == again != other
    mismatch = _error(lambda: _start(rek, key, ClientRequestToken="upload-42", JobTag="b"))
    assert mismatch["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert mismatch["ResponseMetadata"]["HTTPStatusCode"] == 400
    _wait(rek, first)
    _wait(rek, other)


def test_missing_object_or_bucket_is_invalid_s3_object(cloud, short_clip):
    rek = cloud("rekognition")
    for bucket, key in ((BUCKET, "nope.mp4"), ("no-such-bucket", "video.mp4")):
        response = _error(lambda: rek.start_face_detection(Video={"S3Object": {"Bucket": bucket, "Name": key}}))
        assert response["Error"]["Code"] == "InvalidS3ObjectException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "Unable to get object metadata from S3" in response["Error"]["Message"]


def test_bucket_in_another_region_is_invalid_s3_object(cloud, short_clip):
    path, _ = short_clip
    s3 = cloud("s3", region="eu-west-1")
    s3.create_bucket(Bucket="eu-videos", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.upload_file(str(path), "eu-videos", "v.mp4")
    rek = cloud("rekognition")
    response = _error(lambda: rek.start_face_detection(Video={"S3Object": {"Bucket": "eu-videos", "Name": "v.mp4"}}))
    assert response["Error"]["Code"] == "InvalidS3ObjectException"
    eu = cloud("rekognition", region="eu-west-1")
    assert _wait(eu, _start_in(eu, "eu-videos", "v.mp4"))["JobStatus"] == "SUCCEEDED"


def _start_in(rek, bucket: str, key: str) -> str:
    return rek.start_face_detection(Video={"S3Object": {"Bucket": bucket, "Name": key}})["JobId"]


def test_unknown_job_id_is_resource_not_found(cloud):
    rek = cloud("rekognition")
    response = _error(lambda: rek.get_face_detection(JobId="0" * 64))
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bad_next_token_is_invalid_pagination_token(cloud, short_clip):
    path, _ = short_clip
    rek = cloud("rekognition")
    key = _upload(cloud, path)
    job_a, job_b = _start(rek, key), _start(rek, key)
    _wait(rek, job_a)
    _wait(rek, job_b)
    token_b = rek.get_face_detection(JobId=job_b, MaxResults=1)["NextToken"]
    for token in ("garbage", token_b):  # nonsense, and a token of another job
        response = _error(lambda: rek.get_face_detection(JobId=job_a, NextToken=token))
        assert response["Error"]["Code"] == "InvalidPaginationTokenException"


def test_constraint_violations_are_validation_errors(cloud, short_clip):
    path, _ = short_clip
    key = _upload(cloud, path)
    raw = cloud("rekognition", config=Config(parameter_validation=False))  # as a non-boto3 client might send
    for call in (
        lambda: raw.start_face_detection(Video={"S3Object": {"Bucket": BUCKET, "Name": key}}, FaceAttributes="SOME"),
        lambda: raw.start_face_detection(Video={"S3Object": {"Bucket": BUCKET, "Name": key}}, JobTag="no spaces"),
        lambda: raw.get_face_detection(JobId="0" * 64, MaxResults=0),
    ):
        response = _error(call)
        assert response["Error"]["Code"] == "ValidationException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_undecodable_video_fails_with_a_status_message(cloud):
    rek = cloud("rekognition")
    junk = np.random.default_rng(3).integers(0, 256, 40_000, dtype=np.uint8).tobytes()
    cloud("s3").put_object(Bucket=BUCKET, Key="junk.mp4", Body=junk)
    done = _wait(rek, _start(rek, "junk.mp4"))
    assert done["JobStatus"] == "FAILED"
    assert done["StatusMessage"].startswith("Unsupported codec/format.")
    assert done["Faces"] == []


def test_video_that_is_not_h264_fails_like_rekognition(cloud, tmp_path):
    path = tmp_path / "mpeg4.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    rek = cloud("rekognition")
    done = _wait(rek, _start(rek, _upload(cloud, path, "mpeg4.mp4")))
    assert done["JobStatus"] == "FAILED"
    assert done["StatusMessage"].startswith("Unsupported codec/format.") and "mpeg4" in done["StatusMessage"]


def test_face_attributes_all_is_accepted(cloud, short_clip):
    path, _ = short_clip
    rek = cloud("rekognition")
    done = _wait(rek, _start(rek, _upload(cloud, path), FaceAttributes="ALL"))
    assert done["JobStatus"] == "SUCCEEDED"
    assert set(done["Faces"][0]["Face"]) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}


def test_completion_is_published_to_the_notification_topic(cloud, short_clip):
    path, _ = short_clip
    sns, sqs = cloud("sns"), cloud("sqs")
    topic = sns.create_topic(Name="AmazonRekognition-done")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="rekognition-done")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    rek = cloud("rekognition")
    channel = {"SNSTopicArn": topic, "RoleArn": "arn:aws:iam::123456789012:role/rekognition-sns"}
    job_id = _start(rek, _upload(cloud, path), NotificationChannel=channel, JobTag="notify-me")
    assert _wait(rek, job_id)["JobStatus"] == "SUCCEEDED"
    deadline = time.monotonic() + 10
    messages = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", [])
        time.sleep(0.05)
    body = json.loads(messages[0]["Body"])
    assert body["JobId"] == job_id and body["Status"] == "SUCCEEDED" and body["API"] == "StartFaceDetection"
    assert body["JobTag"] == "notify-me" and body["Video"] == {"S3ObjectName": "in/video.mp4", "S3Bucket": BUCKET}


def test_detector_is_loaded_once_for_many_jobs(cloud, short_clip, monkeypatch):
    path, _ = short_clip
    created = []
    real_init = detector_module.FaceDetector.__init__

    def counting_init(self, *args, **kwargs):
        created.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(detector_module.FaceDetector, "__init__", counting_init)
    monkeypatch.setattr(detector_module, "_shared", None)  # as in a fresh server: no earlier test loaded it
    rek = cloud("rekognition")
    key = _upload(cloud, path)
    for job_id in [_start(rek, key) for _ in range(3)]:
        assert _wait(rek, job_id)["JobStatus"] == "SUCCEEDED"
    assert len(created) == 1


def test_validator_catches_what_it_must():
    """The shape validator is the judge of every test above: show that it can fail."""
    good = {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 0, "Face": {"Confidence": 99.0}}]}
    assert validate_output("rekognition", "GetFaceDetection", json.dumps(good)) == []
    for bad in (
        {"JobStatus": "DONE"},
        {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": "0"}]},
        {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 0, "Face": {"Confidence": 101.0}}]},
        {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 0, "Face": {"Landmarks": [{"Type": "chin"}]}}]},
        {"JobStatus": "SUCCEEDED", "Facess": []},
        {"JobId": "x" * 65},
    ):
        assert validate_output("rekognition", "GetFaceDetection", json.dumps(bad)), bad
    assert validate_error("rekognition", "GetFaceDetection", 400, '{"__type": "NoSuchKey", "message": "x"}')
    assert validate_error(
        "rekognition", "GetFaceDetection", 200, '{"__type": "ResourceNotFoundException", "message": "x"}'
    )


def test_through_the_embedded_server(aws, short_clip, recorder):
    """One round trip through lambdalab.localaws (moto server in its own process, all patches)."""
    path, _ = short_clip
    s3, rek = aws("s3"), aws("rekognition")
    recorder.attach(rek)
    bucket = f"rekognition-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(path), bucket, "clip.mp4")
    job_id = rek.start_face_detection(Video={"S3Object": {"Bucket": bucket, "Name": "clip.mp4"}})["JobId"]
    done = _wait(rek, job_id)
    assert done["JobStatus"] == "SUCCEEDED" and len(done["Faces"]) >= 10
    # The wire format of an error, as any HTTP client sees it: status 400 and a JSON __type.
    endpoint = rek.meta.endpoint_url
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps({"JobId": "f" * 64}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "RekognitionService.GetFaceDetection",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/rekognition/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    body = info.value.read()
    assert info.value.code == 400
    assert json.loads(body)["__type"] == "ResourceNotFoundException"
    assert validate_error("rekognition", "GetFaceDetection", 400, body) == []
