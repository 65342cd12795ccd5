"""SNS → Lambda as AWS delivers it: asynchronously, with the real topic, subject and attributes.

moto invokes the function inside the Publish call with a canned event ("TestInvoke" subject,
example topic ARN, made-up attributes); a learner reading `event` would be misled.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from moto.sns.models import Subscription

from lambdalab.localaws import async_pool

_original_publish = Subscription.publish


def lambda_event(
    subscription: Any, message: str, message_id: str, subject: str | None, attributes: dict[str, Any] | None
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription.arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": now,
                    "Signature": "LOCAL",
                    "SigningCertUrl": "",
                    "MessageId": message_id,
                    "Message": message,
                    "MessageAttributes": {
                        name: {
                            "Type": value.get("Type") or value.get("DataType"),
                            "Value": value.get("Value") or value.get("StringValue"),
                        }
                        for name, value in (attributes or {}).items()
                    },
                    "Type": "Notification",
                    "UnsubscribeUrl": "",
                    "TopicArn": subscription.topic.arn,
                    "Subject": subject,
                },
            }
        ]
    }


def _publish(
    self: Any,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> None:
    if self.protocol != "lambda":
        return _original_publish(self, message, message_id, subject, message_attributes, *args, **kwargs)
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return None
    from moto.awslambda.utils import get_backend

    event = lambda_event(self, message, message_id, subject, message_attributes)
    region = self.endpoint.split(":")[3]
    function = get_backend(self.account_id, region).get_function(self.endpoint)
    async_pool.submit(function.invoke, json.dumps(event), {"x-amz-invocation-type": "RequestResponse"}, {})
    return None


def install() -> None:
    Subscription.publish = _publish  # type: ignore[method-assign]
