"""Every resource name, derived from the learner's prefix (and the account for global S3 names).

One function per name keeps teardown honest: it can only find what the deploy code named, and
both read the same rules. Everything starts with `<prefix>-` (or `<prefix>/` for ECR) so that a
name match is a reliable first filter; tags confirm ownership.
"""

from __future__ import annotations

from dataclasses import dataclass

FACE_BLUR_FUNCTIONS = ("face_detection", "check_rekognition_job_status", "get_rekognized_faces", "blur_faces")
SONGS_FUNCTION = "publish_new_song"
# The functions deployed as container images on `aws`, one ECR repository each (notebook 02: blur_faces;
# notebook 05: split_video and join_segments, whose PyAV is not in Lambda's Python runtime).
IMAGE_FUNCTIONS = ("blur_faces", "split_video", "join_segments")


def owns_name(name: str, prefix: str) -> bool:
    """True when `name` was made from `prefix` (not merely a longer prefix such as `lab-a-1a2b3`)."""
    return name.startswith(prefix + "-") or name.startswith(prefix + "/")


@dataclass(frozen=True)
class Names:
    prefix: str
    account: str

    def function(self, folder: str) -> str:
        """`lab-alice-1a2b-face-detection` for `lambdas/face_detection`."""
        return f"{self.prefix}-{folder.replace('_', '-')}"

    def role(self, folder: str) -> str:
        """One role per function, same name as the function (IAM and Lambda are separate namespaces)."""
        name = self.function(folder)
        if len(name) > 64:
            raise ValueError(f"role name {name!r} exceeds IAM's 64 characters")
        return name

    def function_log_group(self, folder: str) -> str:
        return f"/aws/lambda/{self.function(folder)}"

    def bucket(self, purpose: str) -> str:
        """S3 names are global across all accounts: the account id makes ours unique, the prefix ours."""
        name = f"{self.prefix}-{purpose}-{self.account}"
        if len(name) > 63:
            raise ValueError(f"bucket name {name!r} exceeds S3's 63 characters")
        return name

    @property
    def input_bucket(self) -> str:
        return self.bucket("input")

    @property
    def output_bucket(self) -> str:
        return self.bucket("output")

    @property
    def state_machine(self) -> str:
        return f"{self.prefix}-face-blur"

    @property
    def state_machine_role(self) -> str:
        return f"{self.prefix}-face-blur-states"

    @property
    def state_machine_log_group(self) -> str:
        """The `/aws/vendedlogs/` path is what the console uses; its resource policy size limit is higher."""
        return f"/aws/vendedlogs/states/{self.state_machine}"

    @property
    def ecr_repository(self) -> str:
        """blur_faces' image repository (notebook 02): `lab-alice-1a2b-blur-faces`."""
        return self.ecr_repository_of("blur_faces")

    def ecr_repository_of(self, folder: str) -> str:
        """The image repository of `lambdas/<folder>`: `lab-alice-1a2b-split-video` for split_video.

        Flat, not `<prefix>/split-video`: moto's image lookup keeps only the last path segment.
        Only IMAGE_FUNCTIONS have one: the learner policy allows exactly these repositories.
        """
        if folder not in IMAGE_FUNCTIONS:
            raise ValueError(f"{folder} is not deployed as an image; image functions: {', '.join(IMAGE_FUNCTIONS)}")
        return f"{self.prefix}-{folder.replace('_', '-')}"

    @property
    def table(self) -> str:
        return f"{self.prefix}-Songs"

    @property
    def topic(self) -> str:
        return f"{self.prefix}-new-songs"

    @property
    def queue(self) -> str:
        return f"{self.prefix}-new-songs-inbox"

    def log_group_prefixes(self) -> tuple[str, ...]:
        """Where teardown looks for log groups (Lambda's own and Step Functions' vended logs)."""
        return (f"/aws/lambda/{self.prefix}-", f"/aws/vendedlogs/states/{self.prefix}-")
