"""Settings: embedded defaults, then ``VTE_CDS_*`` environment variables, then test overrides.

Every setting is documented in the README's table. Clinical numbers are never settings.

``load`` fills a config mapping (the Flask app's, or a bare one for commands that serve nothing);
``check`` gives settings their types and refuses one the service cannot work with by raising
``ConfigError``, whose text is one line: the variable, what is wrong with it, and the way out.
The trusted issuers are checked where they are parsed (``cds_service.app``), with the same error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from flask import Config

DEFAULTS: dict[str, Any] = {
    # Public base URL of this service as EHRs call it; JWT `aud` is checked against it.
    # Empty: derived from each request's Host header (fine behind a trusting proxy only).
    "PUBLIC_URL": "",
    # JWT verification: "on" (default) or "off" (local testing only; logged loudly).
    "AUTH": "on",
    # JSON: issuer -> {"profile": ..., "jwks_url": ...}; see cds_service/security/issuers.py.
    "TRUSTED_ISSUERS": "{}",
    # Comma-separated FHIR base URLs the service may query with the EHR's token.
    "FHIR_ALLOWLIST": "",
    # Seconds for one FHIR request; pages followed per query at most.
    "FHIR_TIMEOUT": 5.0,
    "FHIR_MAX_PAGES": 5,
    # Hours a patient-view card overridden with "not now" stays quiet for that patient.
    "SNOOZE_HOURS": 24.0,
    # Bytes one hook call may read from the FHIR server, every query and page together.
    "FHIR_MAX_BYTES": 20_000_000,
    # The store (feedback, and everything that outlives a request): sqlite:///path or
    # postgresql://...
    "DATABASE_URL": "sqlite:///instance/feedback.db",
    # Secret the store's encryption and hashing keys derive from; empty: kept in the store.
    "STORE_KEY": "",
    # Comma-separated origins allowed by CORS ("*" for any, as the public sandbox needs).
    "CORS_ORIGINS": "*",
    # Largest request body accepted, in bytes.
    "MAX_BODY_BYTES": 5_000_000,
    # Seconds a client may take to send a request's headers, then its body (vte-cds serve).
    "CLIENT_HEADER_TIMEOUT": 10.0,
    "CLIENT_BODY_TIMEOUT": 30.0,
    # Language of card text when the request does not ask: "en" or "zh".
    "LANGUAGE": "en",
    # Evaluation date YYYY-MM-DD; empty means today. For reproducible demos and tests only.
    "TODAY": "",
    # Log each card's summary (off by default: card text can hold patient data).
    "LOG_CARDS": False,
    # "text", or "json": one JSON object per line (cds_service/logs.py).
    "LOG_FORMAT": "text",
    # Bearer token GET /metrics asks for when authentication is on; empty: /metrics is off.
    "METRICS_TOKEN": "",
}

MIN_STORE_KEY_CHARS = 32
ISSUERS_HELP = ("name the issuers you trust as docs/security.md shows (e.g. "
                "'{\"https://sandbox.cds-hooks.org\": {\"profile\": \"cds-hooks-sandbox\"}}')")
NO_ISSUER_HELP = (f"{ISSUERS_HELP}, or run bin/run with no arguments for the demo, which listens "
                  "on 127.0.0.1 only with authentication off")


class ConfigError(Exception):
    """A setting the service cannot start with."""

    def __init__(self, name: str, problem: str, way_out: str) -> None:
        super().__init__(f"VTE_CDS_{name} {problem}. Fix: {way_out}")
        self.name = name


def load(config: Config, test_config: Mapping[str, Any] | None = None) -> None:
    """Defaults, then ``VTE_CDS_*`` variables (JSON where they parse as JSON), then overrides."""
    config.from_mapping(DEFAULTS)
    config.from_prefixed_env("VTE_CDS")
    if test_config:
        config.from_mapping(test_config)


def environment() -> Config:
    """The settings of this process, for commands that build no app."""
    config = Config(".")
    load(config)
    return config


def auth_on(config: Mapping[str, Any]) -> bool:
    return str(config["AUTH"]).lower() != "off"


def check(config: MutableMapping[str, Any], names: Iterable[str] = DEFAULTS) -> None:
    """Give each named setting its type, in place; ConfigError for the first that is wrong."""
    for name in names:
        convert, problem, way_out = _RULES[name]
        try:
            config[name] = convert(config[name])
        except (ValueError, TypeError):
            raise ConfigError(name, problem, way_out) from None


def _on_off(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("on", "off"):
        raise ValueError(value)
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no", ""):
        return False
    raise ValueError(value)


def _positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(value)
        number = kind(value)
        if not number > 0 or number == float("inf"):
            raise ValueError(value)
        return number

    return convert


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or \
            parts.fragment:
        raise ValueError(value)
    return value


def _base_url(value: Any) -> str:
    text = str(value or "").strip()
    return _http_url(text) if text else ""


def _url_list(value: Any) -> Any:
    entries = value if isinstance(value, list | tuple) else str(value or "").split(",")
    for entry in entries:
        if str(entry).strip():
            _http_url(str(entry).strip())
    return value


def _issuers(value: Any) -> Any:
    if not isinstance(value, str | Mapping | list):
        raise TypeError(value)
    return value


def _database_url(value: Any) -> str:
    text = str(value)
    if not text.startswith(("sqlite:///", "postgresql://", "postgres://")) or \
            text in ("sqlite:///", "postgresql://", "postgres://"):
        raise ValueError("unknown scheme")
    return text


def _store_key(value: Any) -> str:
    text = str(value or "")
    if text and (len(text) < MIN_STORE_KEY_CHARS or text != text.strip()):
        raise ValueError("too short")
    return text


def _log_format(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("text", "json"):
        raise ValueError(value)
    return text


def _language(value: Any) -> str:
    text = str(value).strip()
    if not text.lower().startswith(("en", "zh")):
        raise ValueError(value)
    return text


def _date(value: Any) -> str:
    text = str(value or "").strip()
    if text:
        dt.date.fromisoformat(text)
    return text


def _text(value: Any) -> str:
    return str(value)


# name -> (conversion, what is wrong when it fails, the way out)
_RULES: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "PUBLIC_URL": (_base_url, "is not an http(s) base URL",
                   "give the URL EHRs call, e.g. https://cds.hospital.org, or leave it empty"),
    "AUTH": (_on_off, "must be on or off",
             "leave it on (the default) and set VTE_CDS_TRUSTED_ISSUERS, or use off for a "
             "try-out on 127.0.0.1 only"),
    "TRUSTED_ISSUERS": (_issuers, "must be JSON", ISSUERS_HELP),
    "FHIR_ALLOWLIST": (_url_list, "holds an entry that is not an http(s) URL",
                       "list FHIR base URLs separated by commas, e.g. https://fhir.hospital.org/R4"),
    "FHIR_TIMEOUT": (_positive(float), "must be a number of seconds above 0",
                     "set e.g. VTE_CDS_FHIR_TIMEOUT=5, or unset it for the default"),
    "FHIR_MAX_PAGES": (_positive(int), "must be a whole number above 0",
                       "set e.g. VTE_CDS_FHIR_MAX_PAGES=5, or unset it for the default"),
    "SNOOZE_HOURS": (_positive(float), "must be a number of hours above 0",
                     "set e.g. VTE_CDS_SNOOZE_HOURS=24, or unset it for the default"),
    "FHIR_MAX_BYTES": (_positive(int), "must be a whole number of bytes above 0",
                       "set e.g. VTE_CDS_FHIR_MAX_BYTES=20000000, or unset it for the default"),
    "DATABASE_URL": (_database_url, "names no feedback store this service can open",
                     "use sqlite:///path/to/feedback.db or postgresql://user@host:5432/db, or "
                     "unset it for instance/feedback.db"),
    "STORE_KEY": (_store_key, f"must be at least {MIN_STORE_KEY_CHARS} characters, without "
                  "spaces around them",
                  "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))', "
                  "or unset it to keep the keys in the store"),
    "CORS_ORIGINS": (_text, "must be text", "list origins separated by commas, or *"),
    "MAX_BODY_BYTES": (_positive(int), "must be a whole number of bytes above 0",
                       "set e.g. VTE_CDS_MAX_BODY_BYTES=5000000, or unset it for the default"),
    "CLIENT_HEADER_TIMEOUT": (_positive(float), "must be a number of seconds above 0",
                              "set e.g. VTE_CDS_CLIENT_HEADER_TIMEOUT=10, or unset it for the "
                              "default"),
    "CLIENT_BODY_TIMEOUT": (_positive(float), "must be a number of seconds above 0",
                            "set e.g. VTE_CDS_CLIENT_BODY_TIMEOUT=30, or unset it for the "
                            "default"),
    "LANGUAGE": (_language, "must be en or zh", "use en or zh, or unset it for en"),
    "TODAY": (_date, "must be a date YYYY-MM-DD", "set e.g. VTE_CDS_TODAY=2026-11-27, or unset it "
              "for today"),
    "LOG_CARDS": (_flag, "must be true or false", "use true or false, or unset it for false"),
    "LOG_FORMAT": (_log_format, "must be text or json",
                   "use json for one JSON object per line, or unset it for text"),
    "METRICS_TOKEN": (_store_key, f"must be at least {MIN_STORE_KEY_CHARS} characters, without "
                      "spaces around them",
                      "make one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
                      ", or unset it to keep /metrics off while authentication is on"),
}
