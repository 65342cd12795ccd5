"""Learner copies are generated from the full notebooks, blank every exercise, and are never stale."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lambdalab.student_copies import blank_solutions, full_notebooks, render

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_blank_solutions_keeps_scaffold_and_removes_solution():
    source = "x = 1\n# BEGIN SOLUTION\nsecret = 42\n# END SOLUTION\nprint(x)\n"
    blanked = blank_solutions(source)
    assert "secret" not in blanked and "x = 1" in blanked and "print(x)" in blanked
    assert 'raise NotImplementedError' in blanked
    with pytest.raises(ValueError):
        blank_solutions("no markers here\n")


@pytest.mark.parametrize("path", full_notebooks(NOTEBOOKS), ids=lambda p: p.name)
def test_student_copy_is_up_to_date(path):
    student = NOTEBOOKS / "student" / path.name
    assert student.exists(), f"missing {student}: run `make student`"
    assert student.read_text(encoding="utf-8") == render(path), f"{student} is stale: run `make student`"
    copy = nbformat.read(student, as_version=4)
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")


def test_every_notebook_with_exercises_blanks_them():
    exercises = 0
    for path in full_notebooks(NOTEBOOKS):
        for cell in nbformat.read(path, as_version=4).cells:
            if "exercise" in cell.metadata.get("tags", []):
                exercises += 1
                assert "# BEGIN SOLUTION" in cell.source
    assert exercises >= 2, "the lab promises exercises for the learner"
