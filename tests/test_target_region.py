"""On `aws`, a region without Amazon Rekognition Video is refused before anything is saved."""

from __future__ import annotations

import pytest
from deploy_support import clean_env  # noqa: F401  (fixture)
from moto import mock_aws

from lambdalab.deploy import session_state
from lambdalab.deploy.target import rekognition_regions, require_rekognition_video, use_target


def test_regions_come_from_botocore_endpoint_data():
    regions = rekognition_regions()
    # Regions AWS documents for Rekognition Video, and two it has never offered Rekognition in.
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "us-gov-west-1"} <= set(regions)
    assert "eu-north-1" not in regions and "af-south-1" not in regions
    assert regions == sorted(regions)
    assert not [r for r in regions if "-iso" in r]  # isolated partitions: no learner account lives there


def test_refusal_names_the_regions_that_have_it():
    require_rekognition_video("eu-west-1")  # no error
    with pytest.raises(RuntimeError) as refused:
        require_rekognition_video("eu-north-1")
    message = str(refused.value)
    assert message.startswith("region eu-north-1 has no Amazon Rekognition Video")
    assert "us-east-1" in message and "eu-west-1" in message and "eu-north-1," not in message


def test_aws_target_refuses_such_a_region_and_saves_nothing(clean_env):  # noqa: F811
    with mock_aws(), pytest.raises(RuntimeError, match="region eu-north-1 has no Amazon Rekognition Video"):
        use_target("aws", region="eu-north-1", verbose=False)
    assert session_state.load_session().get("target") != "aws"
    with mock_aws():  # teardown must still reach whatever exists there
        target = use_target("aws", region="eu-north-1", verbose=False, rekognition_video=False)
    assert target.region == "eu-north-1"


def test_local_target_is_not_checked(clean_env, monkeypatch):  # noqa: F811
    with mock_aws():
        from lambdalab.deploy.target import connect

        assert connect("local", region="eu-north-1").region == "eu-north-1"
