"""Refuse to start the offline AWS on a moto whose internals differ from those the lab was built on.

The lab replaces private moto methods and relies on private attributes (INTERNALS below). A moto
that changed one of them would not fail: it would behave subtly wrong (a trigger never delivered, a
parameter dropped). So the server looks each one up before patching anything, compares it with
what the lab was written against, and stops with one message on any difference.
"""

from __future__ import annotations

import dis
import importlib
import importlib.metadata
import inspect
import re
import types
from typing import Any

BUILT_FOR = "5.2.5"  # the moto INTERNALS was read from; pyproject.toml and environment.yml pin it

# What an entry expects of its dotted path:
ATTRIBUTE = "attribute"  # exists on the class, or one of its methods assigns `self.<name>`
ABSENT = "absent"  # moto does not define it: the lab adds it and would silently shadow moto's own
KEY = "key"  # the dict key written as path['key'] exists
# Any other expectation is a callable's parameters: names, kinds and defaults (annotations ignored).

INTERNALS: tuple[tuple[str, str], ...] = (
    # lambda_patches replaces these two; every invocation path (API, triggers, Step Functions) ends there.
    ("moto.awslambda.models.LambdaFunction._invoke_lambda", "(self, event=None)"),
    ("moto.awslambda.models.LambdaFunction.invoke", "(self, body, request_headers, response_headers)"),
    # lambda_runner reads the function from these and writes its logs through moto's Logs backend.
    ("moto.awslambda.models.LambdaFunction.account_id", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.region", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.function_name", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.function_arn", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.handler", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.run_time", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.memory_size", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.timeout", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.environment_vars", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.package_type", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.code_bytes", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.logs_group_name", ATTRIBUTE),
    ("moto.awslambda.models.LambdaFunction.logs_backend", ATTRIBUTE),
    ("moto.logs.models.LogsBackend.ensure_log_group", "(self, log_group_name)"),
    ("moto.logs.models.LogsBackend.create_log_stream", "(self, log_group_name, log_stream_name)"),
    ("moto.logs.models.LogsBackend.put_log_events", "(self, log_group_name, log_stream_name, log_events)"),
    # ... which an execution environment's later invocations find already there.
    ("moto.logs.exceptions.ResourceAlreadyExistsException.__init__", "(self)"),
    ("moto.awslambda.utils.get_backend", "(account_id, region)"),
    ("moto.awslambda.models.LambdaBackend.get_function", "(self, function_name_or_arn, qualifier=None)"),
    # lambda_patches also refuses, as AWS does, deprecated runtimes and unzippable packages on upload.
    ("moto.awslambda.models.LambdaBackend.create_function", "(self, spec)"),
    ("moto.awslambda.models.LambdaBackend.update_function_code", "(self, function_name, qualifier, body)"),
    ("moto.awslambda.models.LambdaBackend.update_function_configuration", "(self, function_name, qualifier, body)"),
    # ... and ends a deleted function's execution environments with it.
    ("moto.awslambda.models.LambdaBackend.delete_function", "(self, function_name, qualifier=None)"),
    ("moto.awslambda.exceptions.InvalidParameterValueException.__init__", "(self, message)"),
    # s3_notifications: S3 -> Lambda after the upload, once per upload, keys as AWS encodes them.
    ("moto.s3.notifications._invoke_awslambda", "(account_id, event_body, fn_arn, region_name)"),
    ("moto.s3.notifications._get_s3_event", "(event_name, bucket, key, notification_id)"),
    ("moto.s3.notifications.send_event", "(account_id, event_name, bucket, key)"),
    ("moto.s3.notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT", ATTRIBUTE),
    ("moto.s3.models.S3Backend.complete_multipart_upload", "(self, bucket_name, multipart_id, body)"),
    # sns_delivery: SNS -> Lambda with the real topic, subject and attributes, filter policy applied.
    (
        "moto.sns.models.Subscription.publish",
        (
            "(self, message, message_id, subject=None, message_attributes=None, group_id=None, "
            "deduplication_id=None, message_structure=None)"
        ),
    ),
    ("moto.sns.models.Subscription._filter_policy_matcher", ATTRIBUTE),
    ("moto.sns.utils.FilterPolicyMatcher.matches", "(self, message_attributes, message)"),
    ("moto.sns.models.Subscription.protocol", ATTRIBUTE),
    ("moto.sns.models.Subscription.endpoint", ATTRIBUTE),
    ("moto.sns.models.Subscription.account_id", ATTRIBUTE),
    ("moto.sns.models.Subscription.arn", ATTRIBUTE),
    ("moto.sns.models.Subscription.topic", ATTRIBUTE),
    ("moto.sns.models.Topic.arn", ATTRIBUTE),
    # sqs_polling: the message is stored first, then a poller receives, delivers and deletes it.
    ("moto.sqs.models.Queue.add_message", "(self, message)"),
    ("moto.sqs.models.Queue.lambda_event_source_mappings", ATTRIBUTE),
    ("moto.sqs.models.Queue.name", ATTRIBUTE),
    ("moto.sqs.models.Queue.account_id", ATTRIBUTE),
    ("moto.sqs.models.Queue.region", ATTRIBUTE),
    ("moto.sqs.models.Queue.queue_arn", ATTRIBUTE),
    ("moto.sqs.models.sqs_backends", ATTRIBUTE),
    (
        "moto.sqs.models.SQSBackend.receive_message",  # called positionally: (name, n, 0, visibility)
        "(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None)",
    ),
    ("moto.sqs.models.SQSBackend.delete_message", "(self, queue_name, receipt_handle)"),
    ("moto.sqs.models.SQSBackend.change_message_visibility", "(self, queue_name, receipt_handle, visibility_timeout)"),
    ("moto.sqs.models.Message.receipt_handle", ATTRIBUTE),
    ("moto.awslambda.models.LambdaBackend.send_sqs_batch", "(self, function_arn, messages, queue_arn)"),
    # stepfunctions_patch: executions really run, and unnamed ones get unique names.
    (
        "moto.stepfunctions.parser.models.StepFunctionsParserBackend.start_execution",
        "(self, state_machine_arn, name=None, execution_input=None, trace_header=None)",
    ),
    ("moto.core.config.default_user_config['stepfunctions']['execute_state_machine']", KEY),
    # stepfunctions_patch (Map): the evaluated MaxConcurrency is capped at the cores before the Map pops it.
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency.MaxConcurrencyDecl._eval_body",
        "(self, env)",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency.MaxConcurrencyDecl"
        "._eval_max_concurrency",
        "(self, env)",
    ),
    # stepfunctions_patch, callbacks: SendTaskFailure keeps its cause; a closed task's token is TaskTimedOut.
    ("moto.stepfunctions.responses.StepFunctionResponse.send_task_failure", "(self)"),
    ("moto.stepfunctions.responses.StepFunctionResponse._get_param", "(self, param_name, if_none=None)"),
    ("moto.stepfunctions.responses.StepFunctionResponse.stepfunction_backend", ATTRIBUTE),
    ("moto.core.responses.EmptyResult", ATTRIBUTE),
    ("moto.stepfunctions.parser.models.StepFunctionsParserBackend.send_task_success", "(self, task_token, outcome)"),
    (
        "moto.stepfunctions.parser.models.StepFunctionsParserBackend.send_task_failure",
        "(self, task_token, error=None, cause=None)",
    ),
    ("moto.stepfunctions.parser.models.StepFunctionsParserBackend.send_task_heartbeat", "(self, task_token)"),
    ("moto.stepfunctions.parser.models.StepFunctionsParserBackend._get_executions", "(self, execution_status=None)"),
    ("moto.stepfunctions.parser.backend.execution.Execution.exec_worker", ATTRIBUTE),
    ("moto.stepfunctions.parser.backend.execution.Execution.status", ATTRIBUTE),
    ("moto.stepfunctions.parser.api.ExecutionStatus.RUNNING", ATTRIBUTE),
    ("moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker.env", ATTRIBUTE),
    ("moto.stepfunctions.parser.asl.eval.environment.Environment.callback_pool_manager", ATTRIBUTE),
    ("moto.stepfunctions.parser.asl.eval.callback.callback.CallbackPoolManager.get", "(self, callback_id)"),
    ("moto.stepfunctions.parser.asl.eval.callback.callback.CallbackEndpoint._notify_event", ATTRIBUTE),
    ("moto.core.exceptions.AWSError.__init__", "(self, message, exception_type=None, status=None)"),
    # stream_delivery: records appended under a lock, delivered in order by one worker per mapping.
    ("moto.dynamodb.models.table.StreamShard.add", "(self, old, new)"),
    ("moto.dynamodb.models.table.StreamShard.items", ATTRIBUTE),
    ("moto.dynamodb.models.table.StreamShard.starting_sequence_number", ATTRIBUTE),
    ("moto.dynamodb.models.table.StreamShard.table", ATTRIBUTE),
    ("moto.dynamodb.models.table.StreamShard.account_id", ATTRIBUTE),
    ("moto.dynamodb.models.table.StreamRecord.__init__", "(self, table, stream_type, event_name, old, new, seq)"),
    ("moto.dynamodb.models.table.StreamRecord.record", ATTRIBUTE),
    ("moto.dynamodb.models.table.Table.stream_specification", ATTRIBUTE),
    ("moto.dynamodb.models.table.Table.lambda_event_source_mappings", ATTRIBUTE),
    ("moto.awslambda.models.LambdaBackend.send_dynamodb_items", "(self, function_arn, items, source)"),
    ("moto.awslambda.models.EventSourceMapping.enabled", ATTRIBUTE),
    ("moto.awslambda.models.EventSourceMapping.batch_size", ATTRIBUTE),
    ("moto.awslambda.models.EventSourceMapping.max_batch_window", ATTRIBUTE),
    ("moto.awslambda.models.EventSourceMapping.max_retry_attempts", ATTRIBUTE),
    ("moto.awslambda.models.EventSourceMapping.function_response_types", ATTRIBUTE),
    ("moto.awslambda.models.EventSourceMapping.event_source_arn", ATTRIBUTE),
    # rekognition_video adds two actions to moto's Rekognition; errors are moto's JSON errors.
    ("moto.rekognition.responses.RekognitionResponse.start_face_detection", ABSENT),
    ("moto.rekognition.responses.RekognitionResponse.get_face_detection", ABSENT),
    ("moto.rekognition.responses.RekognitionResponse.rekognition_backend", ATTRIBUTE),
    ("moto.rekognition.responses.RekognitionResponse.body", ATTRIBUTE),
    ("moto.rekognition.responses.RekognitionResponse.current_account", ATTRIBUTE),
    ("moto.rekognition.responses.RekognitionResponse.region", ATTRIBUTE),
    ("moto.core.exceptions.JsonRESTError.__init__", "(self, error_type, message, _='', **kwargs)"),
    ("moto.core.exceptions.JsonRESTError.description", ATTRIBUTE),
    ("moto.s3.models.s3_backends", ATTRIBUTE),
    (
        "moto.s3.models.S3Backend.get_object",
        "(self, bucket_name, key_name, version_id=None, part_number=None, return_delete_marker=False)",
    ),
    ("moto.s3.models.S3Backend.get_bucket", "(self, bucket_name)"),
    ("moto.s3.models.FakeBucket.region_name", ATTRIBUTE),
    ("moto.s3.models.FakeKey.value", ATTRIBUTE),
    # rekognition_jobs publishes the completion to SNS through moto's backend.
    ("moto.sns.models.sns_backends", ATTRIBUTE),
    (
        "moto.sns.models.SNSBackend.publish",
        (
            "(self, message, arn, phone_number=None, subject=None, message_attributes=None, group_id=None, "
            "deduplication_id=None, message_structure=None)"
        ),
    ),
    # server: moto's threaded HTTP server.
    ("moto.server.ThreadedMotoServer.__init__", "(self, ip_address='0.0.0.0', port=5000, verbose=True)"),
    ("moto.server.ThreadedMotoServer.start", "(self)"),
    ("moto.server.ThreadedMotoServer.get_host_and_port", "(self)"),
    ("moto.server.ThreadedMotoServer.stop", "(self)"),
)

_MISSING = object()
_KEYS = re.compile(r"\['([^']*)'\]")
_LOADS = ("LOAD_FAST", "LOAD_DEREF")


class IncompatibleMoto(SystemExit):
    """Uncaught, it ends the process with status 1 and the message on stderr (no traceback)."""


def installed_version() -> str:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown)"


def parameters(obj: Any) -> str:
    """A callable's parameters as the table writes them: names, kinds and defaults, no annotations."""
    signature = inspect.signature(obj)
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def resolve(dotted: str) -> tuple[Any, Any]:
    """(owner, value) for 'package.module.Name.attr'; value is _MISSING when the last part is.

    Raises LookupError naming the first part that is missing before the last one.
    """
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
            break
        except ImportError:
            continue
    else:
        raise LookupError(f"module {parts[0]} not found")
    owner = None
    for index in range(split, len(parts)):
        owner, value = value, getattr(value, parts[index], _MISSING)
        if value is _MISSING and index < len(parts) - 1:
            raise LookupError(f"{'.'.join(parts[: index + 1])} not found")
    return owner, value


def assigned_attributes(cls: type) -> set[str]:
    """Names that methods of `cls` and of its moto bases assign as `self.<name>` (read from bytecode)."""
    names: set[str] = set()
    for klass in _moto_classes(cls):
        for member in vars(klass).values():
            function = getattr(member, "__func__", member)  # classmethod / staticmethod
            if inspect.isfunction(function):
                names |= _stores_on_self(function.__code__)
    return names


def _moto_classes(cls: type) -> list[type]:
    return [klass for klass in cls.__mro__ if klass.__module__.startswith("moto")]


def _stores_on_self(code: types.CodeType) -> set[str]:
    if not code.co_argcount:
        return set()
    me, previous, names = code.co_varnames[0], None, set()
    for instruction in dis.get_instructions(code):
        # `self.x = v` is LOAD_FAST self (LOAD_DEREF when a closure uses self); STORE_ATTR x.
        # 3.13 may fuse two loads into one instruction whose argval is (v, self).
        if instruction.opname == "STORE_ATTR" and previous is not None and previous.opname.startswith(_LOADS):
            loaded = previous.argval[-1] if isinstance(previous.argval, tuple) else previous.argval
            if loaded == me:
                names.add(instruction.argval)
        previous = instruction
    return names


def _problem(path: str, expected: str, attributes: dict[type, set[str]]) -> str | None:
    """What is wrong with one internal, or None when it is as the lab expects."""
    keys = _KEYS.findall(path)
    try:
        owner, value = resolve(path.split("[", 1)[0])
    except LookupError as missing:
        return str(missing)
    if expected == KEY:
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                shown = path.split("[", 1)[0] + "".join(f"['{k}']" for k in keys[: depth + 1])
                return f"{shown} not found"
            value = value[key]
        return None
    if expected == ABSENT:
        if value is _MISSING or getattr(value, "__module__", "").startswith("lambdalab."):
            return None  # not defined by moto (or already the lab's own, added in this process)
        return f"{path} is now defined by moto itself (the lab adds its own)"
    if expected == ATTRIBUTE:
        if not inspect.isclass(owner):
            return None if value is not _MISSING else f"{path} not found"
        # moto's own: a member of a moto class (not of a base like werkzeug's), or set by moto's methods
        name = path.rsplit(".", 1)[1]
        if any(name in vars(k) for k in _moto_classes(owner)) or name in _cached(attributes, owner):
            return None
        return f"{path} not found (neither on the class nor assigned by its methods)"
    if value is _MISSING:
        return f"{path} not found"
    try:
        found = parameters(value)
    except (TypeError, ValueError):
        return f"{path} is no longer a callable with parameters {expected}"
    return None if found == expected else f"{path}: expected parameters {expected}, found {found}"


def _cached(attributes: dict[type, set[str]], cls: type) -> set[str]:
    if cls not in attributes:
        attributes[cls] = assigned_attributes(cls)
    return attributes[cls]


def problems() -> list[str]:
    """Every internal that is not as the lab expects, one line each (empty when all match)."""
    attributes: dict[type, set[str]] = {}  # per call: a test may change a class between calls
    return [problem for path, expected in INTERNALS if (problem := _problem(path, expected, attributes))]


def message(found: list[str]) -> str:
    lines = [
        (
            f"Lambda Lab's offline AWS cannot start: it was built for moto {BUILT_FOR}, and the installed "
            f"moto {installed_version()} changed what the lab replaces or relies on:"
        ),
        *(f"  - {line}" for line in found),
        f'Install the moto the lab was built for in this environment: pip install "moto=={BUILT_FOR}"',
    ]
    return "\n".join(lines)


def require_compatible() -> None:
    """Stop the process with one message when any internal differs; call before patching moto."""
    found = problems()
    if found:
        raise IncompatibleMoto(message(found))
