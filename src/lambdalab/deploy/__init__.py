"""Deploying the lab's two systems, idempotently and least-privileged, and tearing them down.

Notebook cells show the boto3 calls a learner must learn; these helpers converge the same state
(create-or-update) so that re-running a notebook, or `python -m lambdalab blur`, is always safe.

Public API:
    use_target, current_target, Target                 (target.py)
    session_prefix, load_deployment                    (session_state.py)
    deploy_face_blur, blur_faces_image, FaceBlurDeployment   (face_blur.py)
    deploy_songs, SongsDeployment                      (songs.py)
    teardown, TeardownReport, find_resources           (teardown.py, inventory.py)
"""

from lambdalab.deploy.face_blur import FaceBlurDeployment, blur_faces_image, deploy_face_blur
from lambdalab.deploy.inventory import Resource, find_resources
from lambdalab.deploy.session_state import load_deployment, session_prefix
from lambdalab.deploy.songs import SongsDeployment, deploy_songs
from lambdalab.deploy.target import Target, current_target, use_target
from lambdalab.deploy.teardown import TeardownReport, teardown

__all__ = [
    "FaceBlurDeployment",
    "Resource",
    "SongsDeployment",
    "Target",
    "TeardownReport",
    "blur_faces_image",
    "current_target",
    "deploy_face_blur",
    "deploy_songs",
    "find_resources",
    "load_deployment",
    "session_prefix",
    "teardown",
    "use_target",
]
