"""Settings: embedded defaults, then ``VTE_CDS_*`` environment variables, then test overrides.

Every setting is documented in the README's table. Clinical numbers are never settings.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Public base URL of this service as EHRs call it; JWT `aud` is checked against it.
    # Empty: derived from each request's Host header (fine behind a trusting proxy only).
    "PUBLIC_URL": "",
    # JWT verification: "on" (default) or "off" (local testing only; logged loudly).
    "AUTH": "on",
    # JSON object: issuer -> {"jwks_url": ...} or {"jwks": {...}}.
    "TRUSTED_ISSUERS": "{}",
    # Comma-separated FHIR base URLs the service may query with the EHR's token.
    "FHIR_ALLOWLIST": "",
    # Seconds for one FHIR request; pages followed per query at most.
    "FHIR_TIMEOUT": 5.0,
    "FHIR_MAX_PAGES": 5,
    # Feedback store: sqlite:///path or postgresql://...
    "DATABASE_URL": "sqlite:///instance/feedback.db",
    # Comma-separated origins allowed by CORS ("*" for any, as the public sandbox needs).
    "CORS_ORIGINS": "*",
    # Largest request body accepted, in bytes.
    "MAX_BODY_BYTES": 5_000_000,
    # Language of card text when the request does not ask: "en" or "zh".
    "LANGUAGE": "en",
    # Evaluation date YYYY-MM-DD; empty means today. For reproducible demos and tests only.
    "TODAY": "",
    # Log each card's summary (off by default: card text can hold patient data).
    "LOG_CARDS": False,
}


def coerce(key: str, value: Any) -> Any:
    """Environment values arrive as text; give them the type of their default."""
    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on",
                                                                            "yes")
    if isinstance(default, int) and not isinstance(value, int):
        return int(value)
    if isinstance(default, float) and not isinstance(value, float):
        return float(value)
    return value
