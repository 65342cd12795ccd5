"""The exercises' feedback, tested the way a learner meets it: wrong answers typed into the learner
copies (`notebooks/student/`), run in a real kernel on the local target.

Each scripted wrong answer must fail in the check cell right after its exercise, with a message that
names the mistake. The check must wait on nothing in the cloud: it runs with every AWS endpoint
pointed at a closed port, so any real call would fail with a connection error instead of the
expected message. With the reference solution the same copy passes, to the end.

To add an exercise (02, 03): tag its code cell `exercise` (solution between the markers), tag the
cell that checks it `check`, and add `WrongAnswer` rows below; `solution=True` rows need nothing more.
"""

from __future__ import annotations

import re
import secrets
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from lambdalab.notebook_run import run_notebook
from lambdalab.student_copies import SOLUTION

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PLACEHOLDER = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(.*\)\n?", re.MULTILINE)
DEAD_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens, any call fails at once


@dataclass(frozen=True)
class WrongAnswer:
    """A learner's answer to one exercise and the words the check must answer it with."""

    name: str
    notebook: str  # file name in notebooks/student/
    exercise: str  # id of the code cell tagged `exercise`
    answer: str  # replaces the `# YOUR CODE HERE` placeholder (dedented; indented like it)
    expect: tuple[str, ...]  # fragments of the check cell's error message


# The reference handler of 04, with one line changed per mistake (the full notebook's solution).
def handler_with(old: str, new: str) -> str:
    source = solution_of("04_dynamodb_streams_sns.ipynb", HANDLER)
    assert old in source, old
    return source.replace(old, new)


def solution_of(notebook: str, cell_id: str) -> str:
    cell = next(c for c in nbformat.read(NOTEBOOKS / notebook, as_version=4).cells if c.get("id") == cell_id)
    body = SOLUTION.search(cell.source).group(0)
    return textwrap.dedent("\n".join(body.splitlines()[1:-1]) + "\n")


FACES, LARGEST = "01_rekognition_faces.ipynb", "a85bbe32"
PIPELINE, POLICY = "02_build_the_pipeline.ipynb", "get-faces-statements"
RUN, WHY = "03_run_the_pipeline.ipynb", "why-it-failed"
GET_FACE_DETECTION = (
    '{"Sid": "GetFaceDetection", "Effect": "Allow", "Action": "rekognition:GetFaceDetection", "Resource": "*"}'
)


def faces_statements(
    write_action: str = "s3:PutObject", write_resource: str = "faces/*", *, detection: bool = True
) -> str:
    write = (
        f'{{"Sid": "WriteDetections", "Effect": "Allow", "Action": "{write_action}", '
        f'"Resource": f"arn:{{partition}}:s3:::{{output_bucket}}/{write_resource}"}}'
    )
    return f"return [{GET_FACE_DETECTION + ', ' if detection else ''}{write}]"


LAST_EXIT = 'exits = [e["stateExitedEventDetails"] for e in events if e["type"] == "TaskStateExited"]\n'
SONGS, HANDLER = "04_dynamodb_streams_sns.ipynb", "66e160ef"

WRONG_ANSWERS = [
    WrongAnswer(
        "01 biggest face by confidence",
        FACES,
        LARGEST,
        'return max(faces, key=lambda f: f["Face"]["Confidence"])',
        (
            "you picked the highest Confidence",
            "expected: the face at t = 1200 ms",
            "got:      the face at t = 400 ms",
            'Fix the cell under "7. Exercise: the biggest face"',
        ),
    ),
    WrongAnswer(
        "01 biggest face by width",
        FACES,
        LARGEST,
        'return max(faces, key=lambda f: f["Face"]["BoundingBox"]["Width"])',
        ("you compared Width only", "expected: the face at t = 3000 ms"),
    ),
    WrongAnswer(
        "01 returns the area, not the record",
        FACES,
        LARGEST,
        'return max(f["Face"]["BoundingBox"]["Width"] * f["Face"]["BoundingBox"]["Height"] for f in faces)',
        ("return the whole face record",),
    ),
    WrongAnswer(
        "02 s3:* instead of the one action",
        PIPELINE,
        POLICY,
        faces_statements("s3:*"),
        (
            "nothing more is granted",
            "Action 's3:*'",
            "which grants",
            "name the actions themselves",
            'Fix the cell under "Exercise: the policy of get_rekognized_faces"',
        ),
    ),
    WrongAnswer(
        "02 the whole output bucket",
        PIPELINE,
        POLICY,
        faces_statements(write_resource="*"),
        ("nothing more is granted", "faces/* or narrower", "got:      'arn:aws:s3:::lab-feedback-"),
    ),
    WrongAnswer(
        "02 GetFaceDetection left out",
        PIPELINE,
        POLICY,
        faces_statements(detection=False),
        (
            "every call the function makes is allowed",
            "rekognition:GetFaceDetection on *",
            "expected: allowed",
            "denied",
        ),
    ),
    WrongAnswer(
        "03 reads the first CheckJobStatus",
        RUN,
        WHY,
        LAST_EXIT
        + 'return {"state": exits[0]["name"], "message": json.loads(exits[0]["output"])["Job"]["StatusMessage"]}',
        (
            "a job polled three times",
            "you read the first CheckJobStatus",
            'Fix the cell under "Exercise: why did it fail?"',
        ),
    ),
    WrongAnswer(
        "03 returns the execution's Cause",
        RUN,
        WHY,
        'failed = [e for e in events if e["type"] == "ExecutionFailed"][0]["executionFailedEventDetails"]\n'
        'return {"state": "CheckJobStatus", "message": failed["cause"]}',
        ("that is the execution's Cause",),
    ),
    WrongAnswer(
        "03 returns the Fail state",
        RUN,
        WHY,
        LAST_EXIT + 'fail = [e for e in events if e["type"] == "FailStateEntered"][0]["stateEnteredEventDetails"]\n'
        'return {"state": fail["name"], "message": json.loads(exits[-1]["output"])["Job"]["StatusMessage"]}',
        ("that is the Fail state",),
    ),
    WrongAnswer(
        "04 wrong Subject",
        SONGS,
        HANDLER,
        handler_with('Subject=f"A new song from {artist}"[:99]', 'Subject=f"New song: {artist}"'),
        (
            "sns.publish Subject",
            "expected: 'A new song from Nina Simone'",
            "got:      'New song: Nina Simone'",
            'Fix the handler cell under "4. Exercise: write the handler"',
        ),
    ),
    WrongAnswer(
        "04 attributes left out",
        SONGS,
        HANDLER,
        handler_with("MessageAttributes={", "Unused={"),
        ("sns.publish arguments",),
    ),
    WrongAnswer(
        "04 empty batchItemFailures for a broken record",
        SONGS,
        HANDLER,
        handler_with('failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})', "pass"),
        (
            "INSERT without a NewImage",
            "the handler returned",
            "expected: {'batchItemFailures': [{'itemIdentifier': '1005'}]}",
            "got:      {'batchItemFailures': []}",
            "goes into batchItemFailures",
        ),
    ),
    WrongAnswer(
        "04 a broken record stops the batch",
        SONGS,
        HANDLER,
        handler_with("except Exception as error:", "except ZeroDivisionError as error:"),
        ("the handler raised an error", "KeyError: 'NewImage'", "must not stop the batch"),
    ),
    WrongAnswer(
        "04 forgets sns.publish",
        SONGS,
        HANDLER,
        handler_with("sns.publish(", "dict("),
        ("number of sns.publish calls", "expected: 1", "got:      0"),
    ),
    WrongAnswer(
        "04 announces MODIFY too",
        SONGS,
        HANDLER,
        handler_with('if record["eventName"] == "INSERT":', 'if record["eventName"] != "REMOVE":'),
        ("MODIFY of an existing song", "number of sns.publish calls", "publish for INSERT records only"),
    ),
    WrongAnswer(
        "04 logs plain text instead of a JSON line",
        SONGS,
        HANDLER,
        handler_with("log_record(record, outcome)", 'print(record["eventName"], outcome)'),
        ("JSON log lines", "got:      0: INSERT published", "call log_record(record, outcome)"),
    ),
    WrongAnswer(
        "04 typo: does not run at all",
        SONGS,
        HANDLER,
        handler_with("failures = []", "failures = [}"),
        ("the handler raised an error", "SyntaxError"),
    ),
]


# --- the harness ----------------------------------------------------------------------------------


class LearnerSession:
    """One kernel on one learner copy, in its own folder and with its own resource prefix."""

    def __init__(self, notebook: str, folder: Path) -> None:
        self.name = notebook
        self.notebook = nbformat.read(NOTEBOOKS / "student" / notebook, as_version=4)
        self.prefix = f"lab-feedback-{secrets.token_hex(2)}"
        parameters = self.index(tag="parameters")
        self.notebook.cells[
            parameters
        ].source += f'\nTARGET = "local"\nPREFIX = "{self.prefix}"'  # the other parameters keep their value
        self.client = NotebookClient(
            self.notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        self.next = 0  # the next cell to run

    def start(self) -> LearnerSession:
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel()
        self.client.start_new_kernel_client()
        return self

    def stop(self) -> None:
        self.client._cleanup_kernel()

    def index(self, *, tag: str | None = None, cell_id: str | None = None, after: int = -1) -> int:
        for index, cell in enumerate(self.notebook.cells):
            if index > after and (cell.get("id") == cell_id or tag in cell.metadata.get("tags", [])):
                return index
        raise LookupError(f"no cell {cell_id or tag!r} after cell {after}")

    def run(self, index: int) -> None:
        cell = self.notebook.cells[index]
        if cell.cell_type == "code":
            self.client.execute_cell(cell, index)

    def run_until(self, stop: int) -> None:
        """Run every cell from the next one up to, not including, `stop`."""
        while self.next < stop:
            self.run(self.next)
            self.next += 1

    def code(self, source: str) -> None:
        """Run code in the kernel outside the notebook (test plumbing only)."""
        cell = nbformat.v4.new_code_cell(source)
        self.client.execute_cell(cell, -1)

    def answer(self, cell_id: str, answer: str) -> int:
        """Put `answer` in the exercise cell in place of the placeholder; returns its index."""
        index = self.index(cell_id=cell_id)
        cell = self.notebook.cells[index]
        student = nbformat.read(NOTEBOOKS / "student" / self.name, as_version=4).cells[index]
        match = PLACEHOLDER.search(student.source)
        assert match, f"cell {cell_id} of the learner copy has no placeholder"
        cell.source = (
            student.source[: match.start()] + textwrap.indent(answer, match.group(1)) + student.source[match.end() :]
        )
        return index

    def check(self, cell_id: str, answer: str) -> tuple[str | None, float]:
        """Run the exercise with `answer`, then its check cell with no reachable AWS.

        Returns (the check's error message or None, the check cell's seconds)."""
        exercise = self.answer(cell_id, answer)
        self.run_until(exercise)
        self.run(exercise)
        check = self.index(tag="check", after=exercise)
        for between in range(exercise + 1, check):
            self.run(between)
        self.code(f"import os\n_saved = dict(os.environ)\nos.environ['AWS_ENDPOINT_URL'] = {DEAD_ENDPOINT!r}")
        started = time.monotonic()
        try:
            self.run(check)
            error = None
        except CellExecutionError:
            (output,) = [o for o in self.notebook.cells[check].outputs if o.output_type == "error"]
            error = f"{output.ename}: {output.evalue}"
        seconds = time.monotonic() - started
        self.code("os.environ.clear(); os.environ.update(_saved)")
        self.next = check + 1
        return error, seconds

    def run_to_end(self) -> None:
        self.run_until(len(self.notebook.cells))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> Iterator[dict]:
    """One started kernel per learner copy, shared by the wrong answers of that notebook."""
    open_sessions: dict[str, LearnerSession] = {}

    def session(notebook: str) -> LearnerSession:
        if notebook not in open_sessions:
            folder = tmp_path_factory.mktemp(notebook.split("_")[0])
            opened = LearnerSession(notebook, folder)
            if notebook == RUN:  # 03 runs the pipeline 02 builds: build it for this prefix first
                run_notebook("02_build_the_pipeline", {"TARGET": "local", "PREFIX": opened.prefix})
            open_sessions[notebook] = opened.start()
        return open_sessions[notebook]

    yield session
    for opened in open_sessions.values():
        # Leave nothing deployed: run the notebook's own clean-up cell, as a learner would.
        try:
            try:
                opened.run(opened.index(tag="clean-up"))
            except LookupError:  # 02 leaves its pipeline for 03; remove it as 03's clean-up would
                opened.code(f"from lambdalab.deploy.teardown import teardown\nteardown({opened.prefix!r}, target)")
        finally:
            opened.stop()


@pytest.mark.parametrize("wrong", WRONG_ANSWERS, ids=lambda w: w.name)
def test_a_wrong_answer_fails_in_its_check_cell_and_says_why(sessions, wrong):
    session = sessions(wrong.notebook)
    error, seconds = session.check(wrong.exercise, wrong.answer)
    print(f"{wrong.name}: check cell failed in {seconds:.1f} s with\n{error}")
    assert error is not None, f"the check passed a wrong answer: {wrong.name}"
    assert error.startswith("ExerciseFailed: ")
    for fragment in wrong.expect:
        assert fragment in error, f"{fragment!r} missing from the check's message:\n{error}"


def outputs_text(session: LearnerSession, cell_id: str) -> str:
    cell = session.notebook.cells[session.index(cell_id=cell_id)]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_reference_answer_passes_and_the_01_copy_runs_to_the_end(sessions):
    session = sessions(FACES)
    error, seconds = session.check(LARGEST, solution_of(FACES, LARGEST))
    assert error is None, error
    assert "All 4 cases pass" in outputs_text(session, "e5a1d7c3")
    session.run_to_end()  # the landmarks of the face found, and the clean-up
    assert "% of the frame" in outputs_text(session, "b8f2c6e1")


# The check cannot see everything: a handler that talks to SNS in a region it hard-codes passes
# (its calls are stubbed) and fails once deployed. The wait for the announcements must then stop on
# the function's first failure, show its log and say what to do, instead of waiting out 60 s.
HARD_CODED_REGION = ('sns = boto3.client("sns")', 'sns = boto3.client("sns", region_name="eu-west-1")')


def test_a_handler_that_fails_once_deployed_stops_the_wait_with_its_log(sessions):
    session = sessions(SONGS)
    cell = session.notebook.cells[session.index(cell_id=HANDLER)]
    error, _ = session.check(HANDLER, solution_of(SONGS, HANDLER))
    assert error is None, error
    cell.source = cell.source.replace(*HARD_CODED_REGION)
    assert HARD_CODED_REGION[1] in cell.source
    session.next = session.index(cell_id=HANDLER)
    songs = session.index(cell_id="e619d28a")
    session.run_until(songs)  # the handler (with the region), its check (passes), deploy, mapping
    assert "All 7 cases pass" in outputs_text(session, "1e9ebafc")
    started = time.monotonic()
    with pytest.raises(CellExecutionError):
        session.run(songs)
    seconds = time.monotonic() - started
    (output,) = [o for o in session.notebook.cells[songs].outputs if o.output_type == "error"]
    message = f"{output.ename}: {output.evalue}"
    print(f"the songs cell failed after {seconds:.1f} s with\n{message}")
    assert output.ename == "FunctionFailed"  # it stopped on the log, not on its 60 s timeout (WaitTimedOut)
    assert f"{session.prefix}-publish-new-song failed after" in message
    assert "0 of 3 messages had arrived" in message
    assert '"level": "ERROR"' in message and "NotFound" in message  # the function's own log line, verbatim
    assert "Last log lines of" in message and "START RequestId" in message
    assert "Next step: fix the handler cell (section 4), run its check, then re-run from section 5" in message
    shown = "\n".join(output.traceback)  # what Jupyter shows: the report, no traceback into the library
    assert "Traceback" not in shown and "messaging.py" not in shown and "Next step:" in shown


def test_04_re_run_after_an_interrupted_run_passes(tmp_path):
    """Interrupted after the songs were written and changed (no clean-up): the table still holds
    two of them, the mapping, function, role, topic, queue and handler file are all there. A fresh
    kernel then runs the whole copy, with the reference handler, to the end."""
    first = LearnerSession(SONGS, tmp_path).start()
    try:
        first.answer(HANDLER, solution_of(SONGS, HANDLER))
        first.run_until(first.index(cell_id="cd7b6ecf") + 1)
    finally:
        first.stop()  # the kernel dies: no clean-up cell
    again = LearnerSession(SONGS, tmp_path)
    again.prefix = first.prefix
    again.notebook.cells[again.index(tag="parameters")].source += f'\nPREFIX = "{first.prefix}"'
    again.start()
    try:
        again.answer(HANDLER, solution_of(SONGS, HANDLER))
        again.run_to_end()
    finally:
        again.stop()
    assert "cleared 2 leftover song(s)" in outputs_text(again, "e619d28a")
    assert outputs_text(again, "e619d28a").count("A new song from") == 3
    assert "mapping already exists" in outputs_text(again, "ef38203b")
    saw = outputs_text(again, "c3393f2c")
    assert saw.count("INSERT") == 3 and saw.count("published") == 3
    assert "left behind: []" in outputs_text(again, "5a459cca")


# --- the waits, on in-process moto: a timeout and a failure both carry the log and the next step ----


def _log(logs, function: str, stream: str, *lines: str) -> None:
    group = f"/aws/lambda/{function}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": line} for line in lines]
    )


@pytest.mark.parametrize(
    "last_line, raised",
    [
        ('{"level": "INFO", "eventName": "INSERT", "outcome": "published"}', "WaitTimedOut"),
        ("2025-01-01T00:00:00.000Z 1234 Task timed out after 30.00 seconds", "FunctionFailed"),
        ("[ERROR] KeyError: 'NewImage'", "FunctionFailed"),
    ],
)
def test_a_watched_wait_says_what_the_function_logged_and_what_to_do(offline_credentials, last_line, raised):
    import boto3
    from moto import mock_aws

    from lambdalab.messaging import drain_queue
    from lambdalab.viz.logs import FunctionWatch, wait_for_log_lines

    with mock_aws():
        logs, sqs = boto3.client("logs"), boto3.client("sqs")
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        _log(logs, "fn", "old", "START RequestId: old", "[ERROR] from an earlier run", "END RequestId: old")
        watch = FunctionWatch(logs, "fn", next_step="fix the handler cell", since_ms=int(time.time() * 1000) + 1)
        time.sleep(0.01)
        _log(logs, "fn", "new", "START RequestId: new", last_line, "END RequestId: new")
        for wait in (
            lambda: drain_queue(sqs, queue, expected=1, timeout_seconds=1, watch=watch),
            lambda: wait_for_log_lines(
                logs, "fn", lambda line: "never" in line, count=1, timeout_seconds=1, watch=watch
            ),
        ):
            with pytest.raises(Exception) as caught:
                wait()
            message = str(caught.value)
            assert type(caught.value).__name__ == raised
            assert last_line in message and "START RequestId: new" in message
            assert "earlier run" not in message  # lines before the watch began are not this run's
            assert message.endswith("Next step: fix the handler cell")
            if raised == "WaitTimedOut":
                assert isinstance(caught.value, TimeoutError) and "within 1 s" in message
