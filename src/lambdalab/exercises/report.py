"""Expected-against-got reports, raised as errors a learner reads in a notebook cell.

A `LearnerFacingError` shows its message and nothing else in Jupyter (IPython prints what
`_render_traceback_` returns instead of a traceback into this library), while papermill, nbclient
and nbval still see a failed cell with that message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LearnerFacingError(Exception):
    """An error whose message says what went wrong and what to do next; its traceback would not."""

    def _render_traceback_(self) -> list[str]:
        red, reset = "\x1b[31m", "\x1b[0m"
        lines = str(self).splitlines() or [type(self).__name__]
        return [f"{red}{type(self).__name__}: {lines[0]}{reset}", *lines[1:]]


class ExerciseFailed(LearnerFacingError, AssertionError):
    """The learner's answer does not do what the exercise asks (an AssertionError, as tests expect)."""


@dataclass
class Mismatch:
    what: str  # in the exercise's terms, e.g. "sns.publish Subject"
    expected: str
    got: str
    hint: str = ""

    def lines(self) -> list[str]:
        lines = [f"    {self.what}", f"        expected: {self.expected}", f"        got:      {self.got}"]
        if self.hint:
            lines.append(f"        hint: {self.hint}")
        return lines


@dataclass
class Case:
    """One situation the learner's code must handle, and what was wrong (nothing when it passed)."""

    name: str
    passed_means: str  # what a pass proves, printed when it passes
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches


def conclude(cases: list[Case], *, exercise: str, fix: str, next_step: str) -> None:
    """Print the passes, or raise one `ExerciseFailed` that lists every failing case.

    `exercise` names it ("Exercise 4, the handler"), `fix` names the cell to change, `next_step`
    says what to do once everything passes.
    """
    failing = [case for case in cases if not case.passed]
    if not failing:
        for case in cases:
            print(f"✓ {case.name}: {case.passed_means}")
        print(f"All {len(cases)} cases pass. {next_step}")
        return
    lines = [f"{exercise} is not right yet: {len(failing)} of {len(cases)} cases fail.", ""]
    for case in failing:
        lines.append(f"✗ {case.name}")
        for mismatch in case.mismatches:
            lines.extend(mismatch.lines())
    passing = [case.name for case in cases if case.passed]
    if passing:
        lines += ["", "passing: " + "; ".join(passing)]
    lines += ["", f"Fix {fix}, run it, then run this check again."]
    raise ExerciseFailed("\n".join(lines))
