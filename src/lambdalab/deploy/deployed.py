"""What notebook 02 deployed, as the `blur` command, the tests and the benchmarks see it.

Nothing here creates anything: `face_blur_from_notebook` runs notebook 02 (the one implementation of the
pipeline's deployment) with parameters, and reads back the names and ARNs its last cell saved in
the session file.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalab.deploy import session_state
from lambdalab.notebook_run import run_notebook


@dataclass(frozen=True)
class FaceBlurDeployment:
    prefix: str
    input_bucket: str
    output_bucket: str
    output_prefix: str
    functions: dict[str, str]  # folder name under lambdas/ -> function ARN
    state_machine_arn: str
    video_suffixes: tuple[str, ...]  # the input bucket's trigger suffixes (S3 matches them case-sensitively)

    def function_name(self, folder: str) -> str:
        return self.functions[folder].rsplit(":", 1)[1]


def saved_face_blur(target: str, prefix: str) -> FaceBlurDeployment:
    """The face-blur deployment notebook 02 saved for `prefix` on `target`; LookupError if none."""
    saved = session_state.load_deployment("face_blur", target)
    if saved is None or saved.get("prefix") != prefix:
        raise LookupError(f"no face-blur deployment of {prefix} on {target} in {session_state.session_file()}")
    return FaceBlurDeployment(
        prefix=saved["prefix"],
        input_bucket=saved["input_bucket"],
        output_bucket=saved["output_bucket"],
        output_prefix=saved["output_prefix"],
        functions=dict(saved["functions"]),
        state_machine_arn=saved["state_machine_arn"],
        video_suffixes=tuple(saved["video_suffixes"]),
    )


def face_blur_from_notebook(
    prefix: str, *, target: str = "local", poll_interval_seconds: int = 1
) -> FaceBlurDeployment:
    """Run notebook 02 for `prefix` on `target` (create, or converge what exists); what it deployed."""
    run_notebook(
        "02_build_the_pipeline",
        {"TARGET": target, "PREFIX": prefix, "POLL_INTERVAL_SECONDS": poll_interval_seconds},
    )
    return saved_face_blur(target, prefix)
