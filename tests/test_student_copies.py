"""Learner copies are generated from the full notebooks, blank every exercise, and are never stale."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import nbformat
import pytest

from lambdalab.student_copies import blank_solutions, full_notebooks, render, student_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_blank_solutions_keeps_scaffold_and_removes_solution():
    source = "x = 1\n# BEGIN SOLUTION\nsecret = 42\n# END SOLUTION\nprint(x)\n"
    blanked = blank_solutions(source)
    assert "secret" not in blanked and "x = 1" in blanked and "print(x)" in blanked
    assert "raise NotImplementedError" in blanked
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


# ---- the learner copies themselves: no reference solution left in them ----

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
# A line made of keywords and punctuation only (`try:`, `)`, `else:`) says nothing about the answer.
_TRIVIAL = re.compile(r"^(?:[\s()\[\]{}:,.]|\b(?:%s)\b)*$" % "|".join(keyword.kwlist))


def solution_lines(notebook: nbformat.NotebookNode) -> set[str]:
    """Every non-trivial line between the markers of any cell, stripped."""
    lines, inside = set(), False
    for cell in notebook.cells:
        for line in cell.source.splitlines():
            if line.strip().startswith(BEGIN):
                inside = True
            elif line.strip().startswith(END):
                inside = False
            elif inside and line.strip() and not _TRIVIAL.match(line.strip()):
                lines.add(line.strip())
    return lines


def leaked_lines(full: nbformat.NotebookNode, learner: nbformat.NotebookNode) -> list[str]:
    """Solution lines of `full` found in any cell of `learner`, code or markdown (its outputs are
    cleared: test_student_copy_is_up_to_date)."""
    text = {line.strip() for cell in learner.cells for line in cell.source.splitlines()}
    return sorted(solution_lines(full) & text)


def misplaced_markers(notebook: nbformat.NotebookNode) -> list[str]:
    """Marked blocks outside code cells tagged `exercise`, or markers that do not pair up."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        begins, ends = cell.source.count(BEGIN), cell.source.count(END)
        if not begins and not ends:
            continue
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
            problems.append(f"cell {index}: solution markers in a cell not tagged `exercise`")
        if begins != ends:
            problems.append(f"cell {index}: {begins} BEGIN against {ends} END markers")
    return problems


@pytest.mark.parametrize("path", full_notebooks(NOTEBOOKS), ids=lambda p: p.name)
def test_no_solution_line_is_in_any_learner_copy(path):
    full = nbformat.read(path, as_version=4)
    assert misplaced_markers(full) == []
    for student in sorted((NOTEBOOKS / "student").glob("*.ipynb")):
        assert leaked_lines(full, nbformat.read(student, as_version=4)) == [], f"{path.name} solution in {student}"


def _exercise_notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    return notebook


def test_the_leak_checks_catch_what_the_freshness_test_lets_through():
    solution = "total = 0\n# BEGIN SOLUTION\ntry:\n    total = sum(x * x for x in values)\nexcept TypeError:\n    raise\n# END SOLUTION\n"
    tagged = nbformat.v4.new_code_cell(solution, metadata={"tags": ["exercise"]})
    untagged = nbformat.v4.new_code_cell(solution)
    good = _exercise_notebook(tagged)
    assert leaked_lines(good, student_notebook(good)) == []
    assert solution_lines(good) == {"total = sum(x * x for x in values)", "except TypeError:"}
    # A marked block in a cell without the tag: copied as it is, and both checks say so.
    bad = _exercise_notebook(untagged)
    assert misplaced_markers(bad) == ["cell 0: solution markers in a cell not tagged `exercise`"]
    assert leaked_lines(bad, student_notebook(bad)) == ["except TypeError:", "total = sum(x * x for x in values)"]
    # A solution line repeated in a later, unmarked cell (e.g. a "check" cell) leaks too.
    repeated = _exercise_notebook(tagged, nbformat.v4.new_code_cell("total = sum(x * x for x in values)\nprint(total)"))
    assert leaked_lines(repeated, student_notebook(repeated)) == ["total = sum(x * x for x in values)"]
