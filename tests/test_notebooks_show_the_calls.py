"""The notebooks are the lab: the AWS calls each lesson is about stand in their code cells.

Notebooks 02-04 must call these themselves (not through a lambdalab helper), and no notebook may
call a create-or-update helper of the library: the deployment code lives in the cells.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON_CALLS = {
    "02_build_the_pipeline.ipynb": [
        "create_role(",
        "put_role_policy(",
        "create_function(",
        "update_function_code(",
        "create_state_machine(",
        "update_function_configuration(",
        "add_permission(",
        "put_bucket_notification_configuration(",
        "create_log_group(",
        "create_bucket(",
    ],
    "03_run_the_pipeline.ipynb": [
        "describe_execution(",
        'get_paginator("get_execution_history")',
        'get_paginator("filter_log_events")',
        "upload_file(",
        "download_file(",
    ],
    "04_dynamodb_streams_sns.ipynb": [
        "create_table(",
        "create_role(",
        "put_role_policy(",
        "create_function(",
        "create_event_source_mapping(",
        "create_topic(",
        "subscribe(",
        "put_item(",
        "filter_log_events",
    ],
}


def code_of(name: str) -> str:
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    return "\n".join(c.source for c in cells if c.cell_type == "code")


@pytest.mark.parametrize("name", sorted(LESSON_CALLS))
def test_the_lesson_calls_are_in_the_code_cells(name):
    code = code_of(name)
    assert [call for call in LESSON_CALLS[name] if call not in code] == []


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9]*.ipynb")), ids=lambda p: p.name)
def test_no_notebook_hides_a_deployment_behind_a_helper(path):
    code = code_of(path.name)
    assert re.findall(r"\bensure_\w+\(", code) == []
    assert re.findall(r"\bdeploy_(face_blur|songs)\b", code) == []
