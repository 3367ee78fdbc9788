"""Idempotency-Key for creates: a retried request returns the first result, never a duplicate.

The record is written in the same transaction as the encounter it describes, and the
(user, key) pair is unique, so two concurrent requests with one key cannot both create: the
second one's insert fails, its transaction (encounter included) rolls back, and it replays
the first one's answer. A key reused with a different body is an error, not a replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction

from clinic.api.errors import ApiError
from clinic.api.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


def request_fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            400,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters, e.g. a UUID.",
            code="invalid_idempotency_key",
            fields=[{"field": "Idempotency-Key", "message": "1 to 255 printable characters"}],
        )
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> tuple[int, dict[str, Any], bool]:
    if record.request_hash != fingerprint:
        raise ApiError(
            422,
            f"Idempotency-Key {record.key!r} was already used with a different request body; "
            "use a new key for a new request.",
            code="idempotency_key_reused",
            fields=[{"field": "Idempotency-Key", "message": "already used with a different body"}],
        )
    return record.status_code, record.response, True


def run_once(
    user: Any, key: str | None, payload: dict[str, Any], create: Callable[[], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any], bool]:
    """Run `create` at most once per (user, key); returns (status, body, replayed)."""
    if key is None:
        status, body = create()
        return status, body, False
    key = check_key(key)
    fingerprint = request_fingerprint(payload)
    existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    try:
        with transaction.atomic():
            status, body = create()
            stored = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
            IdempotencyRecord.objects.create(
                user=user, key=key, request_hash=fingerprint, status_code=status, response=stored
            )
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back entirely.
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return status, stored, False
