"""Secrets never in text: one function every message passes through before it reaches the console, the run
ledger (and its JSONL mirror) or the load figures.

It masks the values of URL parameters with a secret's name (``?key=``, ``token=``, ``api_key=``, ``access_token=``,
``password=``, ``secret=``), credentials after ``Authorization:`` / ``Bearer`` / ``Basic``, and every secret the
process has been given (:func:`register`: the service desk's token, as resolved from the environment or
``.dlt/secrets.toml``) wherever it appears.
"""

from __future__ import annotations

import re
import threading

MASK = "***"
SECRET_NAMES = ("key", "api_key", "apikey", "token", "access_token", "auth_token", "password", "passwd", "secret",
                "client_secret")
_PARAMETER = re.compile(r"(?i)(\b(?:" + "|".join(SECRET_NAMES) + r")=)[^&#\s'\"<>]+")
_AUTHORIZATION = re.compile(r"(?i)(\b(?:authorization|x-[a-z-]*(?:key|token))['\"]?\s*[:=]\s*['\"]?"
                            r"(?:(?:bearer|basic|token)\s+)?)[^\s'\",}]+")
_SCHEME = re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}")
_known: set[str] = set()
_lock = threading.Lock()


def register(*secrets: str | None) -> None:
    """Secrets this process holds: masked wherever they appear from now on (values under 4 characters are too
    short to find safely, and too short to be real secrets)."""
    with _lock:
        _known.update(secret for secret in secrets if secret and len(secret) >= 4)


def redact(text: str | None) -> str | None:
    """``text`` with every secret masked."""
    if not text:
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _PARAMETER.sub(lambda match: match.group(1) + MASK, text)
    text = _AUTHORIZATION.sub(lambda match: match.group(1) + MASK, text)
    return _SCHEME.sub(lambda match: match.group(1) + MASK, text)
