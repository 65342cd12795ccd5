"""Notebook 04's exercise: the `publish_new_song` handler, checked in the kernel in a second or so.

The learner's file is loaded fresh (from its source, no bytecode cache) for every case, with every
botocore client it creates put under a `Stubber`: SNS `publish` answers like SNS does, any other
call is reported. Each case is one stream event the deployed function will meet; what it published,
returned and printed is compared with what the rest of the notebook depends on.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
from botocore.stub import Stubber

from lambdalab.exercises.report import Case, ExerciseFailed, Mismatch, conclude

FIX = 'the handler cell under "4. Exercise: write the handler" (it starts with %%writefile)'
SPARE_PUBLISH_RESPONSES = 5  # per case: more publishes than records is a mistake we want to see


# --- the cases --------------------------------------------------------------------------------


def _s(value: str) -> dict:
    return {"S": value}


def stream_record(
    sequence: str, event_name: str, artist: str, title: str, *, new: dict | None = None, old: dict | None = None
) -> dict:
    """One DynamoDB stream record as Lambda delivers it (view type NEW_AND_OLD_IMAGES)."""
    change: dict[str, Any] = {
        "Keys": {"Artist": _s(artist), "SongTitle": _s(title)},
        "SequenceNumber": sequence,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
    }


def song(artist: str, title: str, **extra: dict) -> dict:
    return {"Artist": _s(artist), "SongTitle": _s(title), **extra}


@dataclass
class Expect:
    """What one record must produce."""

    record: dict
    publishes: bool = False
    fails: bool = False
    outcome: str = "skipped"  # the `outcome` of its log line ("failed" means: starts with "failed")

    @property
    def sequence(self) -> str:
        return self.record["dynamodb"]["SequenceNumber"]

    @property
    def keys(self) -> dict[str, str]:
        return {k: v["S"] for k, v in self.record["dynamodb"]["Keys"].items()}

    @property
    def label(self) -> str:
        return f"{self.record['eventName']} {self.keys['Artist']} / {self.keys['SongTitle']}"


def insert(sequence: str, artist: str, title: str, **extra: dict) -> Expect:
    return Expect(
        stream_record(sequence, "INSERT", artist, title, new=song(artist, title, **extra)),
        publishes=True,
        outcome="published",
    )


def broken(sequence: str, record: dict) -> Expect:
    return Expect(record, fails=True, outcome="failed")


@dataclass
class Scenario:
    name: str
    expects: list[Expect]
    passed_means: str


def scenarios() -> list[Scenario]:
    nina = insert("1001", "Nina Simone", "Feeling Good", Year={"N": "1965"})
    beyonce = insert("1002", "Beyoncé", "Déjà Vu", Tags={"SS": ["pop", "r&b"]})
    modify = Expect(
        stream_record(
            "1003",
            "MODIFY",
            "Acme Band",
            "Happy Day",
            new=song("Acme Band", "Happy Day", Plays={"N": "2"}),
            old=song("Acme Band", "Happy Day", Plays={"N": "1"}),
        )
    )
    remove = Expect(stream_record("1004", "REMOVE", "Acme Band", "Happy Day", old=song("Acme Band", "Happy Day")))
    no_image = broken("1005", stream_record("1005", "INSERT", "The Malformed", "No Image"))
    number_title = broken(
        "1006",
        stream_record(
            "1006", "INSERT", "The Malformed", "7", new={"Artist": _s("The Malformed"), "SongTitle": {"N": "7"}}
        ),
    )
    first, last = insert("1007", "Miriam Makeba", "Pata Pata"), insert("1009", "Caetano Veloso", "Leãozinho")
    middle = broken(
        "1008", stream_record("1008", "INSERT", "The Malformed", "No Title", new={"Artist": _s("The Malformed")})
    )
    return [
        Scenario("INSERT of a new song", [nina], "published once, exact Subject, Message and MessageAttributes"),
        Scenario("INSERT with non-ASCII names", [beyonce], "published once, names unchanged"),
        Scenario("MODIFY of an existing song", [modify], "logged as skipped, nothing published"),
        Scenario("REMOVE of a song", [remove], "logged as skipped, nothing published"),
        Scenario("INSERT without a NewImage", [no_image], "reported in batchItemFailures, nothing published"),
        Scenario(
            "INSERT whose SongTitle is a number", [number_title], "reported in batchItemFailures, nothing published"
        ),
        Scenario(
            "a batch: good, malformed (no SongTitle), good",
            [first, middle, last],
            "both good songs published, only the malformed one reported",
        ),
    ]


def expected_publish(topic_arn: str, artist: str, title: str) -> dict[str, Any]:
    return {
        "TopicArn": topic_arn,
        "Subject": f"A new song from {artist}",
        "Message": f"The song is: {title}",
        "MessageAttributes": {
            "Artist": {"DataType": "String", "StringValue": artist},
            "SongTitle": {"DataType": "String", "StringValue": title},
        },
    }


# --- running the learner's code under Stubbers --------------------------------------------------


@dataclass
class Run:
    calls: list[tuple[str, str, dict]] = field(default_factory=list)  # (service, operation, params)
    result: Any = None
    error: BaseException | None = None
    printed: list[str] = field(default_factory=list)


class FakeContext:
    """The parts of Lambda's context object a handler may use."""

    function_name = "publish_new_song"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:publish_new_song"
    memory_limit_in_mb = 128
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/publish_new_song"
    log_stream_name = "2025/01/01/[$LATEST]check"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@contextlib.contextmanager
def stubbed_clients(run: Run):
    """Every botocore client created inside is real but stubbed: nothing leaves the kernel."""
    real_create = botocore.session.Session.create_client

    def create(self, service_name, *args, **kwargs):
        kwargs["region_name"] = kwargs.get("region_name") or "us-east-1"
        kwargs.update(aws_access_key_id="check", aws_secret_access_key="check", aws_session_token=None)
        client = real_create(self, service_name, *args, **kwargs)

        def record(model, params, **_):
            run.calls.append((service_name, model.name, copy.deepcopy(params)))

        client.meta.events.register_first("before-parameter-build.*.*", record)
        stubber = Stubber(client)
        if service_name == "sns":
            for number in range(SPARE_PUBLISH_RESPONSES * 3):
                stubber.add_response("publish", {"MessageId": f"check-message-{number}"})
        stubber.activate()
        return client

    with mock.patch.object(botocore.session.Session, "create_client", create):
        yield


def load_handler(source: str, path: str) -> Any:
    module = types.ModuleType("learner_publish_new_song")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - the learner's own code, on purpose
    return module.handler


def run_case(source: str, path: str, topic_arn: str, event: dict) -> Run:
    run = Run()
    out = io.StringIO()
    with (
        mock.patch.dict(os.environ, {"TOPIC_ARN": topic_arn}),
        stubbed_clients(run),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        try:
            handler = load_handler(source, path)
            run.result = handler(copy.deepcopy(event), FakeContext())
        except Exception as error:  # the learner's bug: reported, not raised
            run.error = error
    run.printed = out.getvalue().splitlines()
    return run


# --- comparing ---------------------------------------------------------------------------------


def compare(scenario: Scenario, run: Run, topic_arn: str) -> list[Mismatch]:
    expects = scenario.expects
    if run.error is not None:
        hint = (
            "a record the handler cannot read must not stop the batch: catch the error and add "
            '{"itemIdentifier": <its SequenceNumber>} to batchItemFailures'
        )
        if isinstance(run.error, SyntaxError) or not any(e.fails for e in expects):
            hint = "read the error: the line it names is in your cell"
        return [Mismatch("the handler raised an error", "no error", f"{type(run.error).__name__}: {run.error}", hint)]
    mismatches = []
    mismatches += compare_result(expects, run.result)
    mismatches += compare_publishes(expects, run.calls, topic_arn)
    mismatches += compare_log_lines(expects, run.printed)
    return mismatches


def compare_result(expects: list[Expect], result: Any) -> list[Mismatch]:
    expected = {"batchItemFailures": [{"itemIdentifier": e.sequence} for e in expects if e.fails]}
    if result == expected:
        return []
    hint = ""
    if expected["batchItemFailures"] and isinstance(result, dict) and not result.get("batchItemFailures"):
        hint = (
            "the record could not be read, so Lambda must be told: its SequenceNumber "
            "(record['dynamodb']['SequenceNumber']) goes into batchItemFailures"
        )
    elif not expected["batchItemFailures"] and isinstance(result, dict) and result.get("batchItemFailures"):
        hint = "only records the handler could not read are failures; this one is fine"
    elif not isinstance(result, dict):
        hint = 'return a dict: {"batchItemFailures": [...]}, an empty list when every record was handled'
    return [Mismatch("the handler returned", repr(expected), repr(result), hint)]


def compare_publishes(expects: list[Expect], calls: list[tuple[str, str, dict]], topic_arn: str) -> list[Mismatch]:
    mismatches = []
    others = [f"{service}.{operation}" for service, operation, _ in calls if (service, operation) != ("sns", "Publish")]
    if others:
        mismatches.append(
            Mismatch(
                "other AWS calls",
                "only sns.publish",
                ", ".join(others),
                "the topic already exists: publish to os.environ['TOPIC_ARN'], nothing else",
            )
        )
    published = [params for service, operation, params in calls if (service, operation) == ("sns", "Publish")]
    wanted = [expected_publish(topic_arn, e.keys["Artist"], e.keys["SongTitle"]) for e in expects if e.publishes]
    if len(published) != len(wanted):
        hint = ""
        if not published:
            hint = "publish each INSERT on the SNS client, with TopicArn, Subject, Message and MessageAttributes"
        elif not wanted:
            hint = (
                "publish for INSERT records only (MODIFY and REMOVE are logged, not announced)"
                if not any(e.fails for e in expects)
                else "a record that cannot be read is not announced"
            )
        mismatches.append(Mismatch("number of sns.publish calls", str(len(wanted)), str(len(published)), hint))
    for want, got in zip(wanted, published):
        for name in ("TopicArn", "Subject", "Message", "MessageAttributes"):
            if got.get(name) != want[name]:
                mismatches.append(
                    Mismatch(f"sns.publish {name}", repr(want[name]), repr(got.get(name)), PUBLISH_HINTS.get(name, ""))
                )
        extra = sorted(set(got) - set(want))
        if extra:
            mismatches.append(
                Mismatch(
                    "sns.publish arguments",
                    ", ".join(want),
                    ", ".join(got),
                    "TopicArn, Subject, Message and MessageAttributes, nothing else",
                )
            )
    return mismatches


PUBLISH_HINTS = {
    "TopicArn": "read it from os.environ['TOPIC_ARN'] (set on the function in section 5)",
    "Subject": "exactly 'A new song from ' + the Artist (the plain string, not {'S': ...})",
    "Message": "exactly 'The song is: ' + the SongTitle",
    "MessageAttributes": "{'Artist': {'DataType': 'String', 'StringValue': artist}, 'SongTitle': {...same...}}",
}


def compare_log_lines(expects: list[Expect], printed: list[str]) -> list[Mismatch]:
    lines = [line for line in printed if line.startswith("{")]
    shown = "\n                  ".join(printed) if printed else "(nothing printed)"
    if len(lines) != len(expects):
        return [
            Mismatch(
                "JSON log lines (printed lines that start with '{')",
                f"{len(expects)}, one per record",
                f"{len(lines)}: {shown}",
                "call log_record(record, outcome) once for every record: section 8 reads these lines back",
            )
        ]
    mismatches = []
    for expect, line in zip(expects, lines):
        try:
            logged = json.loads(line)
        except ValueError:
            mismatches.append(
                Mismatch(
                    f"log line of {expect.label}",
                    "one line of JSON",
                    line,
                    "log with log_record(record, outcome), which prints json.dumps(...)",
                )
            )
            continue
        got_outcome = str(logged.get("outcome", ""))
        outcome_ok = got_outcome.startswith("failed") if expect.outcome == "failed" else got_outcome == expect.outcome
        if logged.get("eventName") != expect.record["eventName"] or logged.get("keys") != expect.keys or not outcome_ok:
            want = {
                "eventName": expect.record["eventName"],
                "keys": expect.keys,
                "outcome": "failed: <why>" if expect.outcome == "failed" else expect.outcome,
            }
            mismatches.append(
                Mismatch(
                    f"log line of {expect.label}",
                    json.dumps(want, ensure_ascii=False),
                    line,
                    'outcome is "published", "skipped", or "failed: <why>"',
                )
            )
    return mismatches


# --- the check the notebook calls --------------------------------------------------------------

_checked: set[str] = set()  # sha256 of every source that passed in this kernel


def check_handler(path: str | Path, topic_arn: str) -> None:
    """Run the handler in `path` on every scenario; print the passes or raise `ExerciseFailed`."""
    source = Path(path).read_text(encoding="utf-8")
    results = []
    for scenario in scenarios():
        event = {"Records": [e.record for e in scenario.expects]}
        run = run_case(source, str(path), topic_arn, event)
        case = Case(f"{scenario.name} ({', '.join(e.label for e in scenario.expects)})", scenario.passed_means)
        case.mismatches = compare(scenario, run, topic_arn)
        results.append(case)
        if run.error is not None and isinstance(run.error, SyntaxError):
            break  # every case would say the same
    conclude(results, exercise="Exercise 4, the handler", fix=FIX, next_step="Next: deploy it (section 5).")
    _checked.add(hashlib.sha256(source.encode()).hexdigest())


def require_checked(path: str | Path) -> None:
    """Refuse to deploy a handler file that has not passed `check_handler` in this kernel."""
    source = Path(path).read_text(encoding="utf-8")
    if hashlib.sha256(source.encode()).hexdigest() not in _checked:
        raise ExerciseFailed(
            f"{path} is not the handler that passed its check in this session (it changed, or the "
            "kernel restarted since).\nRun the handler cell of section 4 and the check below it, then this cell again."
        )
