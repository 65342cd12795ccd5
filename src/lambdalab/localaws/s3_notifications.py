"""S3 → Lambda notifications as AWS delivers them: after the upload returns, once per upload.

moto calls the function inside the PutObject request, a multipart upload notifies twice
(ObjectCreated:Put from its internal put, then CompleteMultipartUpload), and keys arrive with '/'
encoded as %2F, which AWS leaves as it is.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from moto.s3 import models as s3_models
from moto.s3 import notifications

from lambdalab.localaws import async_pool

_state = threading.local()
_original_send_event = notifications.send_event
_original_complete = s3_models.S3Backend.complete_multipart_upload
_original_get_s3_event = notifications._get_s3_event


def _get_s3_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
    event = _original_get_s3_event(*args, **kwargs)
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        record["s3"]["object"]["key"] = urllib.parse.quote_plus(key, safe="/")
    return event


def _invoke_in_background(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    from moto.awslambda.utils import get_backend

    def deliver() -> None:
        func = get_backend(account_id, region_name).get_function(fn_arn)
        func.invoke(json.dumps(event_body), {"x-amz-invocation-type": "RequestResponse"}, {})

    async_pool.submit(deliver)


def _send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    completing = getattr(_state, "completing_multipart", False)
    if completing and event_name == notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT:
        return  # the CompleteMultipartUpload event that follows is the one AWS sends
    _original_send_event(account_id, event_name, bucket, key)


def _complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
    _state.completing_multipart = True
    try:
        return _original_complete(self, *args, **kwargs)
    finally:
        _state.completing_multipart = False


def install() -> None:
    notifications._invoke_awslambda = _invoke_in_background
    notifications._get_s3_event = _get_s3_event
    notifications.send_event = _send_event
    s3_models.S3Backend.complete_multipart_upload = _complete_multipart_upload
