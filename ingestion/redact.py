"""Secrets never in text: one function every message passes through before it reaches the console, the run
ledger (and its JSONL mirror) or the load figures.

It masks the values of URL parameters whose name says secret (``?key=``, ``api_key=``, ``access_token=``,
``apiToken=``, ``password=``, ``secret=``) or that a declared system sends its key in (:func:`register_parameter`),
credentials after ``Authorization:`` / ``Bearer`` / ``Basic``, and every secret the process has been given
(:func:`register`: a service desk's token, key or password, as resolved from the environment or
``.dlt/secrets.toml``), as written and percent-encoded, wherever it appears.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
# A URL parameter whose name ends in one of these is a secret: key, api_key, access_key, apiToken, private_token ...
SECRET_NAMES = ("key", "token", "password", "passwd", "secret", "signature", "sig")
_PARAMETER = re.compile(r"(?i)((?<![A-Za-z0-9_-])[A-Za-z0-9_-]*(?:" + "|".join(SECRET_NAMES) + r")=)[^&#\s'\"<>]+")
_AUTHORIZATION = re.compile(
    r"(?i)(\b(?:authorization|x-[a-z-]*(?:key|token))['\"]?\s*[:=]\s*['\"]?"
    r"(?:(?:bearer|basic|token)\s+)?)[^\s'\",}]+"
)
_SCHEME = re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}")
_PARAMETER_TEXT = _PARAMETER.pattern
_AUTHORIZATION_TEXT = _AUTHORIZATION.pattern
_known: set[str] = set()
_parameters: set[str] = set()
_headers: set[str] = set()
_lock = threading.Lock()


def register(*secrets: str | None) -> None:
    """Secrets this process holds: masked wherever they appear from now on, as they are and as a URL carries them
    (percent-encoded); values under 4 characters are too short to find safely, and too short to be real secrets."""
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= 4:
                _known.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})


def register_parameter(name: str, *, header: bool = False) -> None:
    """A URL parameter (``key``) or, with ``header``, a header (``X-Desk-Auth``) a declared system sends its secret
    in: its value is masked wherever ``name=value`` (or ``name: value``) appears."""
    global _PARAMETER, _AUTHORIZATION
    with _lock:
        (_headers if header else _parameters).add(re.escape(name))
        if _parameters:
            _PARAMETER = re.compile(_PARAMETER_TEXT.replace("(?:", f"(?:{'|'.join(sorted(_parameters))}|", 1))
        if _headers:
            _AUTHORIZATION = re.compile(
                _AUTHORIZATION_TEXT.replace("(?:authorization", f"(?:{'|'.join(sorted(_headers))}|authorization")
            )


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
