"""The signed webhook target: one JSON document per readiness change, for systems without an
API we support (an HR system, an LMS plug-in, a queue in front of either).

The body is signed with HMAC-SHA256 over `<timestamp>.<body>` with a shared secret, sent as
`X-LRS-Connector-Signature: t=<timestamp>,v1=<hex>`; receivers recompute it, compare in
constant time and refuse old timestamps (docs/lms.md shows how). `X-LRS-Connector-Delivery`
stays the same across retries of one change, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson
import requests
from marshmallow import Schema, fields, validate, validates_schema

from lrs_connector.lms.config import (
    TargetConfigError,
    TargetContext,
    check_one_credential,
    read_secret,
)
from lrs_connector.lms.targets import (
    Change,
    Finding,
    GiveUp,
    LearnerRef,
    Retry,
    Secret,
    retry_after,
)

SIGNATURE_HEADER = "X-LRS-Connector-Signature"
DELIVERY_HEADER = "X-LRS-Connector-Delivery"
EVENT = "readiness.changed"


class ConfigSchema(Schema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    secret = fields.String()
    secret_file = fields.String()
    secret_env = fields.String()
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.5, max=120))
    include_identifiers = fields.Boolean(load_default=True)

    @validates_schema
    def _one_secret(self, data: dict, **kwargs: Any) -> None:
        check_one_credential(data, "secret")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance: float = 300.0) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class WebhookTarget:
    kind = "webhook"

    def __init__(self, name: str, url: str, secret: Secret, http: requests.Session,
                 timeout: float, include_identifiers: bool) -> None:
        self.name = name
        self.url = url
        self._secret = secret
        self.http = http
        self.timeout = timeout
        self.include_identifiers = include_identifiers

    def resolve(self, learner: LearnerRef) -> str | None:
        """The receiver knows people by what statements named them: the most specific alias
        (an LMS account before an email address); the learner id is always sent too."""
        ranked = sorted(learner.aliases, key=lambda key: (not key.startswith("account:"),
                                                          not key.startswith("mbox:")))
        return ranked[0] if ranked else f"learner:{learner.learner_id}"

    def document(self, user_id: str, change: Change) -> dict[str, Any]:
        learner: dict[str, Any] = {"id": change.learner_id}
        if self.include_identifiers:
            learner["identifier"] = user_id
        return {
            "event": EVENT,
            "delivery": change.delivery_id,
            "learner": learner,
            "readiness": {k: v for k, v in change.as_dict().items() if k != "learner_id"},
        }

    def deliver(self, user_id: str, change: Change) -> str:
        body = orjson.dumps(self.document(user_id, change))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret.value, int(time.time()), body),
            DELIVERY_HEADER: f"{change.delivery_id}-{change.computed_at.isoformat()}",
            "User-Agent": "lrs-connector",
        }
        try:
            response = self.http.post(self.url, data=body, headers=headers,
                                      timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            raise Retry(f"no answer from {self.url} within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise Retry(f"cannot reach {self.url}: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"accepted ({status})"
        if status in (408, 425, 429) or status >= 500:
            raise Retry(f"the receiver answered {status}", retry_after(response.headers))
        if 300 <= status < 400:
            raise GiveUp(f"the receiver answered a redirect ({status}); configure the final URL")
        raise GiveUp(f"the receiver refused the change ({status}): "
                     f"{_excerpt(response)}")

    def check(self) -> list[Finding]:
        """Sends a signed `ping` event: the receiver should answer 2xx."""
        body = orjson.dumps({"event": "ping"})
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret.value, int(time.time()), body),
            "User-Agent": "lrs-connector",
        }
        try:
            response = self.http.post(self.url, data=body, headers=headers,
                                      timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return [Finding("reachable", False, f"cannot reach {self.url}: "
                            f"{type(exc).__name__}", "check the URL and that the receiver runs")]
        if 200 <= response.status_code < 300:
            return [Finding("reachable", True, f"{self.url} accepted a signed ping "
                            f"({response.status_code})")]
        return [Finding("reachable", False, f"{self.url} answered {response.status_code} to a "
                        "signed ping", "the receiver must answer 2xx to events it accepts "
                        "(including `ping`) and verify signatures with the shared secret")]


def _excerpt(response: requests.Response) -> str:
    text = response.text[:200].replace("\n", " ")
    return text or "(empty body)"


def build(name: str, config: dict[str, Any], context: TargetContext) -> WebhookTarget:
    secret = read_secret(config, "secret", f"lms_targets.{name}", context.environ)
    if len(secret.value) < 16:
        raise TargetConfigError(f"lms_targets.{name}.secret: use at least 16 characters")
    return WebhookTarget(name, config["url"], secret, context.http, config["timeout"],
                         config["include_identifiers"])
