"""The durable store for CDS Hooks feedback (``POST /cds-services/{id}/feedback``).

``parse_feedback(body)`` turns a request body into ``FeedbackEntry`` values or raises ``BadRequest``
naming the offending field (never its value). ``open_store(url)`` opens a ``FeedbackStore`` on the
database ``url`` names (``cds_service.storage.database``: a SQLite file with ``synchronous=FULL``,
so a commit is on disk when ``record`` returns, or PostgreSQL). It creates its one table if
missing, and is safe when several instances start at once.

``record`` returns only after the transaction has committed: feedback is acknowledged only when it
is durable. Any database failure becomes ``StoreUnavailable`` (503), and the client may retry: rows
are unique on (service id, card uuid, outcome, outcomeTimestamp), so a retried delivery is counted
once (the first copy wins, the duplicate writes 0 rows).

No PHI is stored: service id, card uuid, card type, outcome, outcome time, accepted suggestion
uuids, and the override reason's ``system`` and ``code``. The free-text ``userComment`` may name the
patient or their history, so it is dropped while parsing: only its length is kept (``None`` when no
comment was given). A store is thread-safe: one connection per store, used under a lock, which is
ample for feedback volumes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, cast

from cds_service.errors import BadRequest
from cds_service.storage.database import Database, Sql, create_tables, open_database

Outcome = Literal["accepted", "overridden"]

MAX_ENTRIES = 100
MAX_SUGGESTIONS = 100
MAX_COMMENT_CHARS = 1000
MAX_CODING_CHARS = 256
TABLE = "cds_feedback"

_OUTCOMES: tuple[Outcome, ...] = ("accepted", "overridden")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# A FHIR instant: seconds and an explicit zone are required, fractions up to nanoseconds.
_INSTANT = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)
_SCHEMA_LOCK_KEY = 0x7674_6563_6473_0001
UNAVAILABLE = "feedback store unavailable; the feedback was not recorded"


@dataclass(frozen=True, slots=True)
class OverrideReason:
    """Why a card was dismissed: the coded reason, and the length of any free-text comment."""

    system: str | None = None
    code: str | None = None
    comment_length: int | None = None


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    card: str
    outcome: Outcome
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Feedback for one (service id, card type).

    ``override_reasons`` maps ``system|code`` to a count; overrides without a coded reason appear
    only in ``overridden``.
    """

    service_id: str
    card_type: str | None
    accepted: int
    overridden: int
    acceptance_rate: float
    override_reasons: dict[str, int] = field(default_factory=dict)


# --- parsing ---------------------------------------------------------------------------------


def parse_feedback(body: Any) -> list[FeedbackEntry]:
    """Validate a feedback request body. Absent and ``null`` optional fields are the same."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    entries = body.get("feedback")
    if not isinstance(entries, list) or not entries:
        raise BadRequest("feedback must be a non-empty array")
    if len(entries) > MAX_ENTRIES:
        raise BadRequest(f"feedback must hold at most {MAX_ENTRIES} entries")
    return [_parse_entry(entry, f"feedback[{i}]") for i, entry in enumerate(entries)]


def _parse_entry(entry: Any, where: str) -> FeedbackEntry:
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} must be an object")
    card = _uuid(entry.get("card"), f"{where}.card")
    outcome = entry.get("outcome")
    if outcome not in _OUTCOMES:
        raise BadRequest(f"{where}.outcome must be 'accepted' or 'overridden'")
    suggestions = entry.get("acceptedSuggestions")
    if suggestions is not None and outcome != "accepted":
        raise BadRequest(f"{where}.acceptedSuggestions is allowed only when outcome is 'accepted'")
    reason = entry.get("overrideReason")
    if reason is not None and outcome != "overridden":
        raise BadRequest(f"{where}.overrideReason is allowed only when outcome is 'overridden'")
    return FeedbackEntry(
        card=card,
        outcome=cast(Outcome, outcome),
        outcome_timestamp=_instant(entry.get("outcomeTimestamp"), f"{where}.outcomeTimestamp"),
        accepted_suggestions=(
            () if suggestions is None
            else _suggestions(suggestions, f"{where}.acceptedSuggestions")
        ),
        override_reason=None if reason is None else _reason(reason, f"{where}.overrideReason"),
    )


def _uuid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise BadRequest(f"{where} must be a UUID string")
    return value.lower()


def _instant(value: Any, where: str) -> datetime:
    message = f"{where} must be an ISO 8601 instant with a timezone, e.g. 2026-11-27T09:30:00Z"
    match = _INSTANT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BadRequest(message)
    seconds, fraction, zone = match.groups()
    # Python keeps microseconds: finer digits are dropped, the same way on every retry.
    micro = (fraction or "0")[:6].ljust(6, "0")
    try:
        parsed = datetime.fromisoformat(f"{seconds}.{micro}{'+00:00' if zone == 'Z' else zone}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:59-01:00 is past the calendar in UTC
        raise BadRequest(message) from None


def _suggestions(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be an array")
    if len(value) > MAX_SUGGESTIONS:
        raise BadRequest(f"{where} must hold at most {MAX_SUGGESTIONS} suggestions")
    ids: list[str] = []
    for i, suggestion in enumerate(value):
        if not isinstance(suggestion, dict):
            raise BadRequest(f"{where}[{i}] must be an object")
        suggestion_id = _uuid(suggestion.get("id"), f"{where}[{i}].id")
        if suggestion_id in ids:
            raise BadRequest(f"{where}[{i}].id repeats an earlier suggestion")
        ids.append(suggestion_id)
    return tuple(ids)


def _reason(value: Any, where: str) -> OverrideReason:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object")
    coding = value.get("reason")
    comment = value.get("userComment")
    if comment is not None:
        if not isinstance(comment, str):
            raise BadRequest(f"{where}.userComment must be a string")
        if len(comment) > MAX_COMMENT_CHARS:
            raise BadRequest(f"{where}.userComment must be at most {MAX_COMMENT_CHARS} characters")
    comment_length = None if comment is None else len(comment)
    if coding is None:
        return OverrideReason(comment_length=comment_length)
    if not isinstance(coding, dict):
        raise BadRequest(f"{where}.reason must be a Coding object")
    return OverrideReason(
        system=_coding_text(coding.get("system"), f"{where}.reason.system"),
        code=_coding_text(coding.get("code"), f"{where}.reason.code"),
        comment_length=comment_length,
    )


def _coding_text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where} must be a non-empty string")
    if len(value) > MAX_CODING_CHARS:
        raise BadRequest(f"{where} must be at most {MAX_CODING_CHARS} characters")
    return value


# --- the store -------------------------------------------------------------------------------

_COLUMNS = (
    "service_id", "card_uuid", "card_type", "outcome", "outcome_at", "accepted_suggestions",
    "override_system", "override_code", "comment_length", "recorded_at",
)
_UNIQUE_KEY = "service_id, card_uuid, outcome, outcome_at"
_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    f" ON CONFLICT ({_UNIQUE_KEY}) DO NOTHING"
)
_REPORT_SQL = (
    f"SELECT service_id, card_type, outcome, override_system, override_code, COUNT(*) FROM {TABLE}"
    " GROUP BY service_id, card_type, outcome, override_system, override_code"
)


def _ddl(id_column: str, uuid_type: str, time_type: str, json_type: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id {id_column},
    service_id TEXT NOT NULL,
    card_uuid {uuid_type} NOT NULL,
    card_type TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    outcome_at {time_type} NOT NULL,
    accepted_suggestions {json_type} NOT NULL,
    override_system TEXT,
    override_code TEXT,
    comment_length INTEGER CHECK (comment_length >= 0),
    recorded_at {time_type} NOT NULL,
    UNIQUE ({_UNIQUE_KEY})
)"""


_DDL = {
    "sqlite": _ddl("INTEGER PRIMARY KEY", "TEXT", "TEXT", "TEXT"),
    "postgresql": _ddl("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "UUID", "TIMESTAMPTZ",
                       "JSONB"),
}


def _sqlite_instant(t: datetime) -> str:
    # Fixed-width UTC text: equal instants give equal keys, and text order is time order.
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pg_instant(t: datetime) -> datetime:
    return t


class FeedbackStore:
    """Where feedback is made durable; every database failure surfaces as ``StoreUnavailable``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._instant: Callable[[datetime], object] = (
            _sqlite_instant if db.dialect == "sqlite" else _pg_instant)
        try:
            create_tables(db, [_DDL[db.dialect]], _SCHEMA_LOCK_KEY, UNAVAILABLE)
        except BaseException:
            db.close()
            raise

    def record(
        self,
        service_id: str,
        entries: Sequence[FeedbackEntry],
        card_types: Mapping[str, str] | None = None,
    ) -> int:
        """Commit ``entries``; return the rows written (0 for entries already recorded).

        ``card_types`` maps a card uuid to the kind of card the service issued (e.g.
        ``mm-prophylaxis``); a card missing from it is stored with no card type.
        """
        rows = _rows(service_id, entries, card_types, self._instant)
        if not rows:
            return 0
        return self._db.run(
            lambda sql: sum(sql.execute(_INSERT, row).rowcount for row in rows),
            write=True, failure=UNAVAILABLE)

    def report(self) -> list[ReportRow]:
        """Counts per (service id, card type), ordered by service id then card type."""
        return _build_report(self._db.run(_report_counts, failure=UNAVAILABLE))

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers."""
        self._db.run(lambda sql: sql.execute("SELECT 1").fetchone(), failure=UNAVAILABLE)

    def close(self) -> None:
        """Release the connection; the store refuses further calls."""
        self._db.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _report_counts(sql: Sql) -> list[Any]:
    return sql.execute(_REPORT_SQL).fetchall()


def open_store(url: str) -> FeedbackStore:
    """Open the store named by ``url``; ``ValueError`` for an unknown scheme or a bad URL."""
    return FeedbackStore(open_database(url, failure=UNAVAILABLE))


def _rows(
    service_id: str,
    entries: Sequence[FeedbackEntry],
    card_types: Mapping[str, str] | None,
    instant: Callable[[datetime], object],
) -> list[tuple[object, ...]]:
    """Insert parameters in ``_COLUMNS`` order; ``instant`` turns a UTC datetime into a value."""
    if not service_id:
        raise ValueError("service_id must not be empty")
    types = {card.lower(): kind for card, kind in (card_types or {}).items()}
    now = instant(datetime.now(UTC))
    rows: list[tuple[object, ...]] = []
    for entry in entries:
        reason = entry.override_reason or OverrideReason()
        rows.append((
            service_id, entry.card, types.get(entry.card), entry.outcome,
            instant(entry.outcome_timestamp.astimezone(UTC)),
            json.dumps(list(entry.accepted_suggestions)),
            reason.system, reason.code, reason.comment_length, now,
        ))
    return rows


def _build_report(counts: Iterable[tuple[Any, ...]]) -> list[ReportRow]:
    tallies: dict[tuple[str, str | None], tuple[dict[str, int], dict[str, int]]] = {}
    for service_id, card_type, outcome, system, code, count in counts:
        outcomes, reasons = tallies.setdefault((service_id, card_type), ({}, {}))
        outcomes[outcome] = outcomes.get(outcome, 0) + count
        if code is not None:
            token = f"{system}|{code}"
            reasons[token] = reasons.get(token, 0) + count
    report = []
    for (service_id, card_type), (outcomes, reasons) in tallies.items():
        accepted = outcomes.get("accepted", 0)
        overridden = outcomes.get("overridden", 0)
        report.append(ReportRow(
            service_id=service_id, card_type=card_type, accepted=accepted, overridden=overridden,
            acceptance_rate=accepted / (accepted + overridden), override_reasons=reasons,
        ))
    return sorted(report, key=lambda row: (row.service_id, row.card_type or ""))

