"""Learner copies of the notebooks: outputs cleared and exercise solutions blanked.

A cell tagged `exercise` keeps its text outside `# BEGIN SOLUTION` / `# END SOLUTION` and loses
what is inside; the learner gets a `raise NotImplementedError` in its place, so running ahead
without doing the exercise fails loudly at the right cell. The full notebooks stay the source of
truth (and what CI runs); `python -m lambdalab student` regenerates `notebooks/student/`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

SOLUTION = re.compile(r"^([ \t]*)# BEGIN SOLUTION\n.*?^[ \t]*# END SOLUTION\n?", re.MULTILINE | re.DOTALL)
PLACEHOLDER = '{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError("Exercise: complete this cell")\n'


def blank_solutions(source: str) -> str:
    blanked, count = SOLUTION.subn(lambda m: PLACEHOLDER.format(indent=m.group(1)), source)
    if count == 0:
        raise ValueError("an exercise cell has no '# BEGIN SOLUTION' ... '# END SOLUTION' block")
    return blanked


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    copy_ = copy.deepcopy(notebook)
    for cell in copy_.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = blank_solutions(cell.source)
    return copy_


def full_notebooks(notebooks_dir: Path) -> list[Path]:
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))


def render(path: Path) -> str:
    """The learner copy of one notebook, as the exact text written to disk."""
    notebook = nbformat.read(path, as_version=4)
    return nbformat.writes(student_notebook(notebook)) + "\n"


def write_all(notebooks_dir: Path) -> list[Path]:
    out_dir = notebooks_dir / "student"
    out_dir.mkdir(exist_ok=True)
    written = []
    for path in full_notebooks(notebooks_dir):
        target = out_dir / path.name
        target.write_text(render(path), encoding="utf-8")
        written.append(target)
    return written
