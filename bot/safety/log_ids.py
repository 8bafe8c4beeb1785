"""Conversation ids in logs: a keyed hash, so lines can be correlated but not tied to a person.

A bare hash of a Telegram chat id or a phone number can be reversed by hashing every
candidate; an HMAC with a secret kept in ``var/`` (or ``HAVEN_LOG_SECRET``) cannot.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.settings import get_settings


def pseudonym(identifier: str) -> str:
    """A short, stable, keyed hash of ``identifier`` for log lines."""
    key = get_settings().log_secret.encode("utf-8")
    digest = hmac.new(key, identifier.encode("utf-8", "replace"), hashlib.sha256)
    return digest.hexdigest()[:12]
