"""Standard Webhooks signatures (https://www.standardwebhooks.com): the reference library
signs, so receivers can verify with any implementation of the spec."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    """`whsec_` + 32 random bytes in base64, the spec's secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(message_id: str, at: datetime, body: str, secrets_in_use: list[str]) -> dict[str, str]:
    """The three headers (`at` naive UTC, as utcnow()); during a rotation one signature per
    secret, space-separated, as the spec allows."""
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in secrets_in_use)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.replace(tzinfo=UTC).timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
