"""Deploy the face-blurring pipeline (buckets, roles, four functions, state machine, trigger).

Order matters and is the one the notebook teaches:
1. buckets and log groups, so that every ARN the policies name exists;
2. one least-privilege role per function (the state machine's ARN is predictable, so
   face_detection's policy can name it before the machine exists);
3. the three pipeline functions, then face_detection;
4. the state machine, whose role may invoke exactly those three functions;
5. only then `STATE_MACHINE_ARN` on face_detection: before the machine exists there is nothing to
   point at, and a video uploaded in between must not start a half-configured pipeline;
6. last, the permission for S3 to invoke face_detection and the bucket trigger: from this moment
   uploads start work, so everything they need is in place.

Every step is create-or-update, so running this again changes nothing unless something differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from lambdalab.deploy import images, policies, session_state
from lambdalab.deploy.buckets import bucket_arn, check_no_recursion, ensure_bucket, ensure_notifications, lambda_trigger
from lambdalab.deploy.changes import Changes
from lambdalab.deploy.context import DeployContext, make_context
from lambdalab.deploy.functions import (
    FunctionSpec,
    ImageCode,
    ZipCode,
    ensure_environment,
    ensure_function,
    ensure_permission,
)
from lambdalab.deploy.iam import ensure_role
from lambdalab.deploy.logs import ensure_log_group
from lambdalab.deploy.naming import FACE_BLUR_FUNCTIONS
from lambdalab.deploy.packaging import zip_folder
from lambdalab.deploy.paths import lambda_dir
from lambdalab.deploy.state_machine import (
    ensure_state_machine,
    find_state_machine,
    logging_configuration,
    render_definition,
)
from lambdalab.deploy.target import Target

# Sizes. CPU scales with memory (1769 MB = one vCPU), so blur_faces gets 2048 MB for more than one
# core's worth of decode/blur/encode, as the original tutorial did. Timeout 900 s (Lambda's maximum)
# instead of the original 300 s: blurring time grows with video length, a timeout throws away all
# the work done so far, and billing is for the time actually used, not the limit. /tmp holds the
# downloaded input and the encoded output (H.264 both, no MJPEG intermediates): 4096 MB fits
# videos up to about 1.5 GB each way; the extra storage costs a fraction of a cent per hour.
SIZES: dict[str, dict[str, int]] = {
    "face_detection": {"memory_mb": 128, "timeout_s": 30},
    "check_rekognition_job_status": {"memory_mb": 128, "timeout_s": 15},
    "get_rekognized_faces": {"memory_mb": 256, "timeout_s": 120},
    "blur_faces": {"memory_mb": 2048, "timeout_s": 900, "ephemeral_mb": 4096},
}
DESCRIPTIONS = {
    "face_detection": "Lambda Lab: start Rekognition face detection and the blur pipeline for each new .mp4",
    "check_rekognition_job_status": "Lambda Lab: report the Rekognition Video job status to the state machine",
    "get_rekognized_faces": "Lambda Lab: collect every face box (all pages) into S3",
    "blur_faces": "Lambda Lab: blur the detected faces and write the video to the output bucket",
}
# S3 suffix filters are case-sensitive: "HOLIDAY.MP4" does not match ".mp4". One trigger per
# spelling that cameras and phones actually write; face_detection re-checks case-insensitively.
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mov", ".MOV")


def video_triggers(function_arn: str) -> list[dict[str, object]]:
    """The input bucket's LambdaFunctionConfigurations: every video suffix -> face_detection."""
    return [lambda_trigger(f"face-detection-on-{suffix[1:]}", function_arn, suffix=suffix) for suffix in VIDEO_SUFFIXES]
PERMISSION_SID = "s3-input-bucket-invokes-face-detection"


@dataclass(frozen=True)
class FaceBlurDeployment:
    """Names and ARNs the notebooks need after deploying; `changes` says what this run did."""

    target: str
    region: str
    account: str
    prefix: str
    input_bucket: str
    output_bucket: str
    detections_bucket: str
    output_prefix: str
    functions: dict[str, str]  # folder name -> function ARN
    roles: dict[str, str]  # folder name (or "state_machine") -> role ARN
    state_machine_arn: str
    state_machine_log_group: str
    image_uri: str | None = None
    changes: Changes = field(default_factory=Changes, compare=False, repr=False)

    def function_name(self, folder: str) -> str:
        return self.functions[folder].rsplit(":", 1)[1]


def blur_faces_image(
    target: Target | None = None, *, prefix: str | None = None, tag: str = images.DEFAULT_TAG, verbose: bool = True
) -> tuple[str, list[str]]:
    """Create (or reuse) the ECR repository; returns the image URI and the commands that push it."""
    ctx = make_context(target, prefix, verbose)
    uri = images.ensure_repository(ctx.client("ecr"), ctx.names.ecr_repository, tags=ctx.tags, changes=ctx.changes)
    commands = images.push_commands(
        uri, region=ctx.target.region, context=str(lambda_dir("blur_faces")), tag=tag, profile=ctx.target.profile
    )
    return f"{uri}:{tag}", commands


def deploy_face_blur(
    target: Target | None = None,
    *,
    prefix: str | None = None,
    input_bucket: str | None = None,
    output_bucket: str | None = None,
    output_prefix: str = "blurred/",
    poll_interval_seconds: int = 5,
    image_uri: str | None = None,
    image_tag: str = images.DEFAULT_TAG,
    verbose: bool = True,
) -> FaceBlurDeployment:
    """Deploy (or converge) the whole face-blurring pipeline on `target` for `prefix`.

    blur_faces is a container image on `aws` (`image_uri`, default: our ECR repository at
    `image_tag`, which must have been pushed; see `blur_faces_image`) and a zip of its folder on
    `local`, where the embedded Lambda runner executes it with the project's own Python.
    Raises ValueError if the output bucket is the input bucket (recursive trigger).
    """
    ctx = make_context(target, prefix, verbose)
    names = ctx.names
    input_name = ctx.require_own_name(input_bucket or names.input_bucket, "input bucket")
    output_name = ctx.require_own_name(output_bucket or names.output_bucket, "output bucket")
    check_no_recursion(input_name, output_name)
    if not output_prefix or output_prefix.startswith("faces/"):
        raise ValueError("output_prefix must be non-empty and not under faces/ (where detections go)")

    blur_code = _blur_faces_code(ctx, image_uri, image_tag)
    s3, lam, iam, logs, sfn = (ctx.client(s) for s in ("s3", "lambda", "iam", "logs", "stepfunctions"))

    for bucket in (input_name, output_name):
        ensure_bucket(s3, bucket, region=ctx.target.region, tags=ctx.tags, changes=ctx.changes)
    for folder in FACE_BLUR_FUNCTIONS:
        ensure_log_group(logs, names.function_log_group(folder), tags=ctx.tags, changes=ctx.changes)
    sm_log_group_arn = ensure_log_group(logs, names.state_machine_log_group, tags=ctx.tags, changes=ctx.changes)

    function_arns = {f: policies.function_arn(ctx.target, names.function(f)) for f in FACE_BLUR_FUNCTIONS}
    existing_sm = find_state_machine(sfn, names.state_machine)
    values = {
        **policies.base_values(ctx.target),
        "InputBucket": input_name,
        "OutputBucket": output_name,
        "DetectionsBucket": output_name,
        "OutputPrefix": output_prefix,
        "StateMachineArn": existing_sm or policies.state_machine_arn(ctx.target, names.state_machine),
        "CheckJobStatusArn": function_arns["check_rekognition_job_status"],
        "GetRekognizedFacesArn": function_arns["get_rekognized_faces"],
        "BlurFacesArn": function_arns["blur_faces"],
    }

    roles: dict[str, str] = {}
    for folder in FACE_BLUR_FUNCTIONS:
        document = policies.render_function_policy(folder, {**values, "FunctionName": names.function(folder)})
        roles[folder] = ensure_role(
            iam,
            names.role(folder),
            trust_policy=policies.lambda_trust_policy(),
            inline_policies={policies.INLINE_POLICY_NAME: document},
            tags=ctx.tags,
            description=f"Lambda Lab: execution role of {names.function(folder)} only",
            changes=ctx.changes,
        )

    face_detection_env = {
        "OUTPUT_BUCKET": output_name,
        "OUTPUT_PREFIX": output_prefix,
        "POLL_INTERVAL_SECONDS": str(poll_interval_seconds),
    }
    environments = {
        "face_detection": dict(face_detection_env, **({"STATE_MACHINE_ARN": existing_sm} if existing_sm else {})),
        "check_rekognition_job_status": {},
        "get_rekognized_faces": {"DETECTIONS_BUCKET": output_name},
        "blur_faces": {"OUTPUT_BUCKET": output_name, "OUTPUT_PREFIX": output_prefix},
    }
    for folder in ("check_rekognition_job_status", "get_rekognized_faces", "blur_faces", "face_detection"):
        code = blur_code if folder == "blur_faces" else ZipCode(zip_folder(lambda_dir(folder)))
        function_arns[folder] = ensure_function(
            lam,
            FunctionSpec(
                name=names.function(folder),
                role_arn=roles[folder],
                code=code,
                environment=environments[folder],
                description=DESCRIPTIONS[folder],
                tags=ctx.tags,
                **SIZES[folder],
            ),
            changes=ctx.changes,
        )

    roles["state_machine"] = ensure_role(
        iam,
        names.state_machine_role,
        trust_policy=policies.states_trust_policy(ctx.target.account),
        inline_policies={policies.INLINE_POLICY_NAME: policies.render_state_machine_policy(values)},
        tags=ctx.tags,
        description=f"Lambda Lab: role of state machine {names.state_machine}: invoke its three functions, log",
        changes=ctx.changes,
    )
    sm_arn = ensure_state_machine(
        sfn,
        names.state_machine,
        definition=render_definition(values),
        role_arn=roles["state_machine"],
        logging=logging_configuration(sm_log_group_arn),
        tags=ctx.tags,
        changes=ctx.changes,
    )
    ensure_environment(
        lam, names.function("face_detection"), {**face_detection_env, "STATE_MACHINE_ARN": sm_arn}, changes=ctx.changes
    )

    ensure_permission(
        lam,
        names.function("face_detection"),
        sid=PERMISSION_SID,
        principal="s3.amazonaws.com",
        source_arn=bucket_arn(input_name, ctx.target.partition),
        source_account=ctx.target.account,
        changes=ctx.changes,
    )
    ensure_notifications(
        s3,
        input_name,
        {"LambdaFunctionConfigurations": video_triggers(function_arns["face_detection"])},
        changes=ctx.changes,
    )

    deployment = FaceBlurDeployment(
        target=ctx.target.name,
        region=ctx.target.region,
        account=ctx.target.account,
        prefix=ctx.prefix,
        input_bucket=input_name,
        output_bucket=output_name,
        detections_bucket=output_name,
        output_prefix=output_prefix,
        functions=function_arns,
        roles=roles,
        state_machine_arn=sm_arn,
        state_machine_log_group=names.state_machine_log_group,
        image_uri=blur_code.uri if isinstance(blur_code, ImageCode) else None,
        changes=ctx.changes,
    )
    session_state.save_deployment("face_blur", ctx.target.name, _summary(deployment))
    return deployment


def _blur_faces_code(ctx: DeployContext, image_uri: str | None, tag: str) -> ZipCode | ImageCode:
    if not ctx.target.is_aws:
        return ZipCode(zip_folder(lambda_dir("blur_faces")))
    ecr = ctx.client("ecr")
    if image_uri is not None and not image_uri.startswith(f"{ctx.target.account}.dkr.ecr."):
        return ImageCode(image_uri)  # someone else's registry: we cannot inspect it
    repository_uri = images.ensure_repository(ecr, ctx.names.ecr_repository, tags=ctx.tags, changes=ctx.changes)
    uri = image_uri or f"{repository_uri}:{tag}"
    if "@sha256:" in uri:
        return ImageCode(uri, uri.split("@sha256:", 1)[1])  # pinned by digest: immutable
    repository, image_tag = uri.split("/", 1)[1].rsplit(":", 1)
    digest = images.image_digest(ecr, repository, image_tag)
    if digest is None:
        commands = images.push_commands(
            repository_uri, region=ctx.target.region, context=str(lambda_dir("blur_faces")),
            tag=image_tag, profile=ctx.target.profile,
        )
        raise RuntimeError(f"no image {uri} in ECR yet; build and push it first:\n  " + "\n  ".join(commands))
    return ImageCode(uri, digest)


def _summary(deployment: FaceBlurDeployment) -> dict[str, object]:
    data = dataclasses.asdict(deployment)
    data.pop("changes", None)
    return data
