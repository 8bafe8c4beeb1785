"""Encryption of what a referral must keep private at rest: contact details and the
conversation id.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``, already installed with Rasa's
dependencies) under the keys in HAVEN_CONTACT_KEYS, newest first: new values are encrypted
with the first key and every listed key still decrypts, so a key is rotated by putting a new
one in front, running ``haven staff rotate-key`` and then dropping the old one. Without the
variable a key is generated into ``var/contact-key`` on first use (one machine only).

A conversation is found again by ``conversation_ref``, an HMAC of its id, so the id itself
is never stored in the clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.settings import get_settings


class UnreadableSecret(ValueError):
    """A value that none of the configured keys decrypts."""


def _keys() -> list[bytes]:
    return [key.encode() for key in get_settings().contact_keys]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


def encrypt(value: Any) -> str:
    """``value`` (anything JSON can hold) encrypted with the newest key."""
    return _fernet().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def decrypt(token: str | None) -> Any:
    """The value ``encrypt`` made, or None for None; ``UnreadableSecret`` if no key fits."""
    if token is None:
        return None
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError) as error:
        raise UnreadableSecret("no configured contact key decrypts this value") from error


def rotate(token: str | None) -> str | None:
    """``token`` re-encrypted with the newest key (``MultiFernet.rotate``)."""
    return None if token is None else _fernet().rotate(token.encode()).decode()


def conversation_ref(sender_id: str) -> str:
    """The lookup key of a conversation: an HMAC-SHA256 of its id under HAVEN_LOG_SECRET
    (shared by every server; unlike a contact key it is not rotated), domain-separated from
    the pseudonyms in logs so that a log line and a referral cannot be matched."""
    key = hashlib.sha256(b"haven-referral-conversation:" + get_settings().log_secret.encode())
    return hmac.new(key.digest(), sender_id.encode(), hashlib.sha256).hexdigest()
