"""Notebook 05's function cell, `aws` branch: its code, executed, against the offline AWS.

No Docker daemon and no AWS account here, so the test runs the notebook's own cells with:

- the `aws` target's code path (`target.is_aws` is true) while every call goes to a private
  embedded AWS (moto), which validates each `ImageUri` against its ECR as Lambda does
  (`MOTO_LAMBDA_STUB_ECR=false`: without it moto accepts any URI and invents a digest);
- a fake `docker` first on PATH that records its arguments and, on `push`, puts an image manifest
  into that ECR (`ecr.put_image`), so that `describe_images` answers with a digest, as after a push.

Notebook 05 runs notebook 02 first; here 02's `aws` image cell runs with the same fake docker and
`blur_faces` is created from its image, which is all of 02 that 05's function cell reads.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import nbformat
import pytest

from lambdalab.deploy import target as target_module
from lambdalab.deploy.inventory import find_resources
from lambdalab.deploy.naming import IMAGE_FUNCTIONS
from lambdalab.deploy.tags import as_list, lab_tags
from lambdalab.deploy.target import Target
from lambdalab.deploy.teardown import teardown
from lambdalab.localaws import local_aws

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_02 = ROOT / "notebooks" / "02_build_the_pipeline.ipynb"
NOTEBOOK_05 = ROOT / "notebooks" / "05_scale_out_with_map.ipynb"
PREFIX = "lab-imgtest-5a5a"
NEW = ("split_video", "blur_segment", "join_segments")

# `docker` as far as the notebooks use it. Every call is appended to calls.jsonl; `build` remembers
# a content hash of the context folder for its tag; `push` writes that image's manifest to ECR.
FAKE_DOCKER = """\
#!{python}
import hashlib, json, os, sys
from pathlib import Path

import boto3

STATE = Path({state!r})
args = sys.argv[1:]
stdin = sys.stdin.read() if "--password-stdin" in args else None
with open(STATE / "calls.jsonl", "a") as calls:
    calls.write(json.dumps({{"argv": args, "stdin": stdin}}) + "\\n")
built = json.loads((STATE / "built.json").read_text()) if (STATE / "built.json").exists() else {{}}
if args[0] == "login":
    print("Login Succeeded")
elif args[0] == "build":
    tag, context = args[args.index("-t") + 1], Path(args[-1])
    content = hashlib.sha256(os.environ.get("FAKE_DOCKER_SALT", "").encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        content.update(str(path.relative_to(context)).encode() + path.read_bytes())
    built[tag] = content.hexdigest()
    (STATE / "built.json").write_text(json.dumps(built))
elif args[0] == "push":
    tag = args[1]
    if tag not in built:
        sys.exit(f"An image does not exist locally with the tag: {{tag}}")
    repository, image_tag = tag.split("/", 1)[1].rsplit(":", 1)
    config = {{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
              "digest": "sha256:" + built[tag]}}
    layer = {{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2,
             "digest": "sha256:" + hashlib.sha256(("layer " + built[tag]).encode()).hexdigest()}}
    manifest = {{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": config, "layers": [layer]}}
    ecr = boto3.client("ecr")
    try:
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=image_tag)
    except ecr.exceptions.ImageAlreadyExistsException:
        pass  # the same image again: docker push says "Layer already exists" and succeeds
    print(image_tag + ": pushed")
else:
    sys.exit("fake docker: unexpected command " + " ".join(args))
"""


def code_cell(path: Path, marker: str) -> str:
    """The one code cell of `path` that contains `marker`."""
    found = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"{len(found)} code cells of {path.name} contain {marker!r}"
    return found[0]


def run_cell(source: str, namespace: dict[str, Any]) -> list[str]:
    """Execute one cell's code in `namespace`, as a kernel would; returns the lines it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<cell>", "exec"), namespace)
    return printed.getvalue().splitlines()


def docker_calls(state: Path) -> list[dict[str, Any]]:
    calls = state / "calls.jsonl"
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def outcomes(printed: list[str]) -> dict[str, str]:
    """`created   function lab-...-split-video   log group: created` -> {"split_video": "created"}."""
    found = {}
    for line in printed:
        if " function " in line and "log group:" in line:
            done, name = line.split(" function ")[0].strip(), line.split(" function ")[1].split()[0]
            found[name.removeprefix(PREFIX + "-").replace("-", "_")] = done
    return found


def deploy_blur_faces_as_02_does_on_aws(namespace_05: dict[str, Any]) -> None:
    """What 05 needs of notebook 02 on `aws`: 02's image cell (the fake docker builds and pushes),
    then `blur_faces` created from that image (by digest), with a tagged role."""
    target, names, tags = namespace_05["target"], namespace_05["names"], namespace_05["TAGS"]
    ns02 = {"target": target, "names": names, "TAGS": tags, "as_list": as_list, "boto3": boto3}
    run_cell(code_cell(NOTEBOOK_02, 'lambda_dir("blur_faces")'), ns02)
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(
        RoleName=names.role("blur_faces"), AssumeRolePolicyDocument=json.dumps(trust), Tags=as_list(tags)
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=names.function("blur_faces"),
        PackageType="Image",
        Code={"ImageUri": ns02["IMAGE_URI"]},
        Role=role,
        MemorySize=2048,
        Timeout=900,
        Tags=tags,
    )
    namespace_05["IMAGE_URI_OF_02"] = ns02["IMAGE_URI"]  # for the assertions only


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """05's cells 0-4 and its function cell on the `aws` code path, three times (created, unchanged,
    an image rebuilt from changed code), then the teardown; what each step showed."""
    tmp = tmp_path_factory.mktemp("scale-out-aws")
    state, bin_dir = tmp / "docker-state", tmp / "bin"
    state.mkdir()
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable, state=str(state)))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    seen: dict[str, Any] = {"state": state}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAMBDALAB_HOME", str(tmp / "lambdalab-home"))
        mp.setenv("MOTO_LAMBDA_STUB_ECR", "false")  # read by the server: ImageUri must exist in its ECR
        with local_aws() as endpoint:
            mp.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
            assert shutil.which("docker") == str(docker)
            account = boto3.client("sts").get_caller_identity()["Account"]
            token = boto3.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
            seen["password"] = base64.b64decode(token).decode().split(":", 1)[1]
            # The `aws` target as far as the cells can tell (is_aws), with its calls on the embedded AWS.
            target = Target(name="aws", region=os.environ["AWS_DEFAULT_REGION"], account=account)
            target.endpoint_url = endpoint  # only for describe(); clients follow AWS_ENDPOINT_URL
            mp.setattr(target_module, "use_target", lambda name=None, **_: target)

            ns: dict[str, Any] = {}
            run_cell(code_cell(NOTEBOOK_05, "MAX_CONCURRENCY ="), ns)  # the parameters cell
            ns.update(TARGET="aws", PREFIX=PREFIX)  # as papermill injects them
            run_cell(code_cell(NOTEBOOK_05, "target = use_target(TARGET)"), ns)
            ns["run_notebook"] = lambda name, parameters: deploy_blur_faces_as_02_does_on_aws(ns)
            run_cell(code_cell(NOTEBOOK_05, 'run_notebook("02_build_the_pipeline"'), ns)
            assert ns["target"] is target and target.is_aws
            seen["docker_02"] = docker_calls(state)
            roles_cell = code_cell(NOTEBOOK_05, "create_or_update_role(\n        names.role(function)")
            functions_cell = code_cell(NOTEBOOK_05, "def create_or_update_function(")

            for attempt in ("first", "second"):
                before = len(docker_calls(state))
                run_cell(roles_cell, ns)
                seen[attempt] = {
                    "printed": run_cell(functions_cell, ns),
                    "docker": docker_calls(state)[before:],
                    "image_uris": dict(ns["IMAGE_URIS"]),
                }
                lam = boto3.client("lambda")
                seen[attempt]["functions"] = {f: lam.get_function(FunctionName=names_of(ns, f)) for f in NEW}
            ecr = boto3.client("ecr")
            seen["repositories"] = {
                r["repositoryName"]: {
                    "uri": r["repositoryUri"],
                    "scan": r["imageScanningConfiguration"],
                    "tags": ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"],
                    "latest": ecr.describe_images(
                        repositoryName=r["repositoryName"], imageIds=[{"imageTag": "latest"}]
                    )["imageDetails"][0]["imageDigest"],
                }
                for r in ecr.describe_repositories()["repositories"]
            }
            seen["blur_faces_image"] = ns["IMAGE_URI_OF_02"]

            mp.setenv("FAKE_DOCKER_SALT", "split_video and join_segments changed")  # new code, new images
            seen["third"] = {"printed": run_cell(functions_cell, ns), "image_uris": dict(ns["IMAGE_URIS"])}

            seen["inventory"] = [(r.kind, r.name, r.ownership) for r in find_resources(PREFIX, target)]
            report = teardown(PREFIX, target, verbose=False)
            seen["report"] = report
            seen["repositories_after"] = [
                r["repositoryName"]
                for r in ecr.describe_repositories()["repositories"]
                if PREFIX in r["repositoryName"]
            ]
            seen["names"] = ns["names"]
            shutil.rmtree(ns["WORK"], ignore_errors=True)
    yield seen


def names_of(namespace: dict[str, Any], function: str) -> str:
    return namespace["names"].function(function)


def test_three_image_functions_run_the_pushed_images_by_digest(run):
    names, repositories = run["names"], run["repositories"]
    functions = run["first"]["functions"]
    for function in ("split_video", "join_segments"):
        repository = repositories[names.ecr_repository_of(function)]
        got = functions[function]
        assert got["Configuration"]["PackageType"] == "Image"
        assert got["Code"]["ImageUri"] == f"{repository['uri']}@{repository['latest']}"  # by digest
        assert got["Configuration"]["CodeSha256"] == repository["latest"].removeprefix("sha256:")
        assert got["Configuration"].get("Runtime") is None and got["Configuration"].get("Handler") is None
        assert got["Configuration"]["ImageConfigResponse"]["ImageConfig"].get("Command") in (None, [])  # the CMD
    segment = functions["blur_segment"]
    assert segment["Configuration"]["PackageType"] == "Image"
    assert segment["Code"]["ImageUri"] == run["blur_faces_image"]  # blur_faces' image, as 02 pushed it
    assert "@sha256:" in run["blur_faces_image"]
    assert segment["Configuration"]["ImageConfigResponse"]["ImageConfig"]["Command"] == ["app.segment_handler"]
    assert segment["Configuration"].get("Runtime") is None and segment["Configuration"].get("Handler") is None
    # The rest of the settings are the cell's, as on local.
    assert functions["split_video"]["Configuration"]["Environment"]["Variables"]["SEGMENTS_BUCKET"] == (
        names.output_bucket
    )
    assert segment["Configuration"]["MemorySize"] == 2048
    assert outcomes(run["first"]["printed"]) == dict.fromkeys(NEW, "created")


def test_a_second_run_changes_nothing_and_a_new_image_updates_only_its_code(run):
    assert outcomes(run["second"]["printed"]) == dict.fromkeys(NEW, "unchanged")
    assert run["second"]["image_uris"] == run["first"]["image_uris"]
    assert outcomes(run["third"]["printed"]) == {
        "split_video": "updated (code)",
        "blur_segment": "unchanged",
        "join_segments": "updated (code)",
    }
    for function in ("split_video", "join_segments"):
        assert run["third"]["image_uris"][function] != run["first"]["image_uris"][function]


def test_docker_logs_in_then_builds_for_lambda_and_pushes_each_folder(run):
    names, repositories = run["names"], run["repositories"]
    calls = run["first"]["docker"]
    login = calls[0]
    registry = repositories[names.ecr_repository_of("split_video")]["uri"].split("/", 1)[0]
    assert login["argv"] == ["login", "--username", "AWS", "--password-stdin", registry]
    assert login["stdin"] == run["password"]  # ECR's token, on stdin, never on the command line
    expected = []
    for function in ("split_video", "join_segments"):
        tagged = repositories[names.ecr_repository_of(function)]["uri"] + ":latest"
        expected += [
            [
                "build",
                "--platform",
                "linux/amd64",
                "--provenance=false",
                "-t",
                tagged,
                str(ROOT / "lambdas" / function),
            ],
            ["push", tagged],
        ]
    assert [c["argv"] for c in calls[1:]] == expected
    # 02's own image cell, run with the same fake docker: blur_faces' folder, the same flags.
    assert [c["argv"][0] for c in run["docker_02"]] == ["login", "build", "push"]
    assert run["docker_02"][1]["argv"][-1] == str(ROOT / "lambdas" / "blur_faces")


def test_the_image_repositories_are_tagged_scanned_and_torn_down(run):
    names, repositories = run["names"], run["repositories"]
    ours = {names.ecr_repository_of(f) for f in IMAGE_FUNCTIONS}
    assert ours <= set(repositories)
    for name in ours:
        assert {t["Key"]: t["Value"] for t in repositories[name]["tags"]} == lab_tags(PREFIX)
        assert repositories[name]["scan"] == {"scanOnPush": True}
    assert {(n, o) for kind, n, o in run["inventory"] if kind == "ecr repository"} == {(n, "owned") for n in ours}
    report = run["report"]
    assert report.complete, report.table()
    assert {r.name for r in report.deleted if r.kind == "ecr repository"} == ours
    assert run["repositories_after"] == []


def test_the_dockerfiles_build_on_the_lambda_python_base_image():
    """What the cell builds: the Lambda Python base image, the folder's pinned requirements, its
    modules, and the handler the function expects when no ImageConfig overrides it."""
    for function in ("split_video", "join_segments"):
        folder = ROOT / "lambdas" / function
        dockerfile = (folder / "Dockerfile").read_text()
        assert "FROM public.ecr.aws/lambda/python:3.12" in dockerfile
        assert "pip install --no-cache-dir -r ${LAMBDA_TASK_ROOT}/requirements.txt --target ${LAMBDA_TASK_ROOT}" in (
            dockerfile
        )
        assert "COPY *.py ${LAMBDA_TASK_ROOT}/" in dockerfile
        assert 'CMD ["app.handler"]' in dockerfile
        own = {"split_video": "segments", "join_segments": "join"}[function]
        assert f"from {own} import" in (folder / "app.py").read_text() and (folder / f"{own}.py").is_file()
        assert [line for line in (folder / "requirements.txt").read_text().splitlines() if "==" in line] == [
            "av==18.1.0"  # abi3 manylinux_2_28 x86_64 wheel: installs on the base image's Python 3.12
        ]
