"""The one-batch endpoint's cursor: the last key of a batch, opaque to the client and tamper-evident.

A cursor is ``base64url(json) "." base64url(hmac)``; the HMAC (SHA-256, keyed by the server's secret) covers
the table name and the key, so a cursor edited by hand, cut short or made for another table is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from pghaul.copy.keyset import Key
from pghaul.errors import UsageError

_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(table: str, last_key: Key, key: bytes) -> str:
    payload = json.dumps({"t": table, "k": list(last_key)}, separators=(",", ":"), ensure_ascii=False).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def _bad_cursor() -> UsageError:
    return UsageError(
        "the cursor is malformed, was changed, or belongs to another table",
        "send the nextCursor of the previous reply unchanged, or leave the cursor out to start from the beginning",
    )


def decode_cursor(cursor: str, table: str, key_width: int, key: bytes) -> Key:
    try:
        payload_text, _, mac_text = cursor.partition(".")
        payload = _unb64(payload_text)
        mac = _unb64(mac_text)
    except (ValueError, UnicodeEncodeError):
        raise _bad_cursor() from None
    if not mac or not hmac.compare_digest(mac, _mac(key, payload)):
        raise _bad_cursor()
    try:
        data = json.loads(payload)
    except ValueError:
        raise _bad_cursor() from None
    values = data.get("k") if isinstance(data, dict) else None
    if (
        data.get("t") != table
        or not isinstance(values, list)
        or len(values) != key_width
        or not all(isinstance(v, str) for v in values)
    ):
        raise _bad_cursor()
    return tuple(values)
