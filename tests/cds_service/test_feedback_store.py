"""The feedback store: what an EHR's feedback becomes, and that it is still there after a restart.

Store tests run on SQLite (in tmp_path) and on the PostgreSQL server of this machine, each test in
a schema of its own that is dropped afterwards. VTE_CDS_TEST_PG_URL overrides the server URL.
An unreachable server fails these tests: it is part of the test environment, here and in CI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from cds_service.errors import BadRequest, StoreUnavailable
from cds_service.storage.feedback import (
    FeedbackEntry,
    OverrideReason,
    ReportRow,
    open_store,
    parse_feedback,
)

PG_URL = os.environ.get("VTE_CDS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[2]

SERVICE = "vte-mm-order-select"
CARD_A = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
CARD_B = "1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d"
CARD_C = "9c8b7a69-5847-4362-a1b0-c9d8e7f6a5b4"
SUGGESTION = "7e6d5c4b-3a29-4187-9f6e-5d4c3b2a1908"
CARD_TYPES = {CARD_A: "mm-prophylaxis", CARD_B: "cmvt-surveillance"}
SNOMED = "http://snomed.info/sct"
COMMENT = "Patient Jane Roe already on apixaban per Dr. Smith"


def accepted(card: str = CARD_A, at: str = "2026-11-27T09:30:00Z", **extra: object) -> dict:
    return {"card": card, "outcome": "accepted", "outcomeTimestamp": at, **extra}


def overridden(
    card: str = CARD_A, at: str = "2026-11-27T09:31:00Z", code: str | None = "1", **extra: object
) -> dict:
    reason: dict[str, object] = {"userComment": COMMENT}
    if code is not None:
        reason["reason"] = {"system": SNOMED, "code": code, "display": "not indicated"}
    return {"card": card, "outcome": "overridden", "overrideReason": reason, "outcomeTimestamp": at,
            **extra}


def entries(*items: dict) -> list[FeedbackEntry]:
    return parse_feedback({"feedback": list(items)})


# --- parsing ---------------------------------------------------------------------------------


def test_an_accepted_card_keeps_its_suggestions_and_a_utc_instant():
    [entry] = entries(accepted(
        card=CARD_A.upper(), at="2026-11-27T17:30:00.123456789+08:00",
        acceptedSuggestions=[{"id": SUGGESTION}],
    ))
    assert entry == FeedbackEntry(
        card=CARD_A, outcome="accepted",
        outcome_timestamp=datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC),
        accepted_suggestions=(SUGGESTION,),
    )


def test_an_override_keeps_the_coded_reason_and_only_the_length_of_the_comment():
    [entry] = entries(overridden(code="410534003"))
    assert entry.override_reason == OverrideReason(
        system=SNOMED, code="410534003", comment_length=len(COMMENT)
    )


def test_an_override_may_come_without_a_reason_or_with_a_comment_only():
    [bare, commented] = entries(
        {"card": CARD_A, "outcome": "overridden", "outcomeTimestamp": "2026-11-27T09:30:00Z"},
        overridden(card=CARD_B, code=None),
    )
    assert bare.override_reason is None
    assert commented.override_reason == OverrideReason(comment_length=len(COMMENT))


BAD_ENTRIES = [
    pytest.param({**accepted(), "card": None}, "feedback[1].card must be a UUID", id="no-card"),
    pytest.param({**accepted(), "card": "card-1"}, "feedback[1].card must be a UUID", id="card"),
    pytest.param({**accepted(), "card": f"{{{CARD_A}}}"}, "feedback[1].card must be a UUID",
                 id="card-braces"),
    pytest.param({**accepted(), "outcome": "dismissed"}, "feedback[1].outcome must be",
                 id="outcome"),
    pytest.param({**accepted(), "outcome": None}, "feedback[1].outcome must be", id="no-outcome"),
    pytest.param(accepted(acceptedSuggestions={"id": SUGGESTION}),
                 "feedback[1].acceptedSuggestions must be an array", id="suggestions-object"),
    pytest.param(accepted(acceptedSuggestions=[SUGGESTION]),
                 "feedback[1].acceptedSuggestions[0] must be an object", id="suggestion-string"),
    pytest.param(accepted(acceptedSuggestions=[{"id": "s-1"}]),
                 "feedback[1].acceptedSuggestions[0].id must be a UUID", id="suggestion-id"),
    pytest.param(accepted(acceptedSuggestions=[{"id": SUGGESTION}, {"id": SUGGESTION}]),
                 "feedback[1].acceptedSuggestions[1].id repeats", id="suggestion-twice"),
    pytest.param(accepted(acceptedSuggestions=[{"id": str(uuid.uuid4())} for _ in range(101)]),
                 "at most 100 suggestions", id="too-many-suggestions"),
    pytest.param(overridden(acceptedSuggestions=[{"id": SUGGESTION}]),
                 "feedback[1].acceptedSuggestions is allowed only when outcome is 'accepted'",
                 id="suggestions-on-override"),
    pytest.param(accepted(overrideReason={"userComment": "x"}),
                 "feedback[1].overrideReason is allowed only when outcome is 'overridden'",
                 id="reason-on-accept"),
    pytest.param({**overridden(), "overrideReason": "duplicate"},
                 "feedback[1].overrideReason must be an object", id="reason-string"),
    pytest.param({**overridden(), "overrideReason": {"reason": "1"}},
                 "feedback[1].overrideReason.reason must be a Coding", id="reason-code-string"),
    pytest.param({**overridden(), "overrideReason": {"reason": {"code": "1"}}},
                 "feedback[1].overrideReason.reason.system must be a non-empty string",
                 id="reason-no-system"),
    pytest.param({**overridden(), "overrideReason": {"reason": {"system": SNOMED, "code": 1}}},
                 "feedback[1].overrideReason.reason.code must be a non-empty string",
                 id="reason-numeric-code"),
    pytest.param({**overridden(), "overrideReason": {"userComment": ["no"]}},
                 "feedback[1].overrideReason.userComment must be a string", id="comment-list"),
    pytest.param({**overridden(), "overrideReason": {"userComment": "x" * 1001}},
                 "feedback[1].overrideReason.userComment must be at most 1000 characters",
                 id="comment-too-long"),
    pytest.param(accepted(at="2026-11-27T09:30:00"), "feedback[1].outcomeTimestamp must be",
                 id="naive-time"),
    pytest.param(accepted(at="2026-11-27"), "feedback[1].outcomeTimestamp must be",
                 id="date-only"),
    pytest.param(accepted(at="2026-13-27T09:30:00Z"), "feedback[1].outcomeTimestamp must be",
                 id="month-13"),
    pytest.param(accepted(at="2026-11-27T09:30:00Z\n"), "feedback[1].outcomeTimestamp must be",
                 id="trailing-newline"),
    pytest.param(accepted(at=1795771800), "feedback[1].outcomeTimestamp must be",
                 id="epoch-number"),
    pytest.param({k: v for k, v in accepted().items() if k != "outcomeTimestamp"},
                 "feedback[1].outcomeTimestamp must be", id="no-time"),
]


@pytest.mark.parametrize(("entry", "message"), BAD_ENTRIES)
def test_a_bad_field_is_named_in_the_error_and_its_value_is_not_repeated(entry, message):
    with pytest.raises(BadRequest) as caught:
        parse_feedback({"feedback": [accepted(card=CARD_B), entry]})
    text = caught.value.message
    assert message in text
    for value in ("card-1", "dismissed", "s-1", "duplicate", "x" * 20, "2026-13", COMMENT):
        assert value not in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param([accepted()], "the request body must be a JSON object", id="array-body"),
        pytest.param({}, "feedback must be a non-empty array", id="no-feedback"),
        pytest.param({"feedback": []}, "feedback must be a non-empty array", id="empty"),
        pytest.param({"feedback": accepted()}, "feedback must be a non-empty array", id="object"),
        pytest.param({"feedback": ["x"]}, "feedback[0] must be an object", id="string-entry"),
        pytest.param({"feedback": [accepted(at=f"2026-11-27T09:30:{s % 60:02d}Z")
                                   for s in range(101)]},
                     "feedback must hold at most 100 entries", id="101-entries"),
    ],
)
def test_a_malformed_body_is_refused(body, message):
    with pytest.raises(BadRequest) as caught:
        parse_feedback(body)
    assert caught.value.message == message


# --- PostgreSQL and SQLite fixtures ----------------------------------------------------------


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


@pytest.fixture
def pg_admin():
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}); the feedback store "
            "tests need it. Start it (pg_ctlcluster ... main start) or set VTE_CDS_TEST_PG_URL.",
            pytrace=False,
        )
    with conn:
        yield conn


@pytest.fixture
def pg_schema(pg_admin):
    schema = f"feedback_test_{uuid.uuid4().hex}"
    pg_admin.execute(f"CREATE SCHEMA {schema}")
    yield schema
    pg_admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_url(pg_schema):
    # application_name lets a test find its own connections among those of parallel runs.
    return with_query(PG_URL, options=f"-csearch_path={pg_schema}", application_name=pg_schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/feedback.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url):
    with open_store(store_url) as opened:
        yield opened


# --- recording and reporting, on both databases ----------------------------------------------


def test_report_counts_outcomes_and_override_codes_per_service_and_card_type(store):
    written = store.record(SERVICE, entries(
        accepted(CARD_A, "2026-11-27T09:30:00Z"),
        accepted(CARD_A, "2026-11-27T10:30:00Z", acceptedSuggestions=[{"id": SUGGESTION}]),
        overridden(CARD_A, "2026-11-27T11:30:00Z", code="1"),
        overridden(CARD_A, "2026-11-27T12:30:00Z", code="1"),
        overridden(CARD_A, "2026-11-27T13:30:00Z", code="2"),
        overridden(CARD_A, "2026-11-27T14:30:00Z", code=None),
        overridden(CARD_B, "2026-11-27T09:30:00Z", code="1"),
        accepted(CARD_C, "2026-11-27T09:30:00Z"),
    ), CARD_TYPES)
    store.record("vte-cmvt-patient-view", entries(accepted(CARD_B)), CARD_TYPES)

    assert written == 8
    assert store.report() == [
        ReportRow("vte-cmvt-patient-view", "cmvt-surveillance", 1, 0, 1.0, {}),
        ReportRow(SERVICE, None, 1, 0, 1.0, {}),
        ReportRow(SERVICE, "cmvt-surveillance", 0, 1, 0.0, {f"{SNOMED}|1": 1}),
        ReportRow(SERVICE, "mm-prophylaxis", 2, 4, 2 / 6, {f"{SNOMED}|1": 2, f"{SNOMED}|2": 1}),
    ]


def test_a_retried_delivery_is_counted_once(store):
    first = entries(accepted(CARD_A), overridden(CARD_B))
    # The same instants written in another zone: the same feedback.
    retry = entries(accepted(CARD_A, "2026-11-27T17:30:00+08:00"),
                    overridden(CARD_B, "2026-11-27T04:31:00-05:00"))

    assert store.record(SERVICE, first, CARD_TYPES) == 2
    assert store.record(SERVICE, retry, CARD_TYPES) == 0
    assert store.record(SERVICE, first + entries(accepted(CARD_C)), CARD_TYPES) == 1
    assert [(r.card_type, r.accepted, r.overridden) for r in store.report()] == [
        (None, 1, 0), ("cmvt-surveillance", 0, 1), ("mm-prophylaxis", 1, 0),
    ]


def test_the_same_card_repeated_in_one_delivery_is_counted_once(store):
    assert store.record(SERVICE, entries(accepted(), accepted()), CARD_TYPES) == 1


def test_recording_nothing_writes_nothing(store):
    assert store.record(SERVICE, []) == 0
    assert store.report() == []


def test_feedback_survives_closing_and_reopening_the_store(store_url):
    with open_store(store_url) as store:
        store.record(SERVICE, entries(accepted(), overridden(CARD_B)), CARD_TYPES)
    with open_store(store_url) as reopened:
        reopened.ping()
        assert reopened.record(SERVICE, entries(accepted()), CARD_TYPES) == 0
        assert [(r.card_type, r.accepted, r.overridden) for r in reopened.report()] == [
            ("cmvt-surveillance", 0, 1), ("mm-prophylaxis", 1, 0),
        ]


CRASH_AFTER_RECORD = """
import json, os, signal, sys
from cds_service.storage.feedback import open_store, parse_feedback
store = open_store(sys.argv[1])
print(store.record(sys.argv[2], parse_feedback(json.loads(sys.argv[3]))), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_feedback_acknowledged_just_before_the_process_is_killed_is_kept(store_url):
    body = json.dumps({"feedback": [accepted()]})
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_RECORD, store_url, SERVICE, body],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (-signal.SIGKILL, "1"), done.stderr
    with open_store(store_url) as store:
        assert [(r.service_id, r.accepted) for r in store.report()] == [(SERVICE, 1)]


def test_threads_sharing_one_store_lose_no_feedback(store):
    def deliver(thread: int) -> int:
        feedback = entries(*(accepted(str(uuid.uuid4())) for _ in range(10)))
        return sum(store.record(SERVICE, [item]) for item in feedback)

    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(deliver, range(8)))
    assert written == [10] * 8
    assert [(r.accepted, r.overridden) for r in store.report()] == [(80, 0)]


def test_instances_starting_at_once_on_a_new_database_all_open(store_url):
    start = threading.Barrier(8)

    def open_and_write(worker: int) -> int:
        start.wait()
        with open_store(store_url) as store:
            return store.record(SERVICE, entries(accepted(str(uuid.uuid4()))))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(open_and_write, range(8))) == [1] * 8


def test_a_closed_store_refuses_feedback_as_unavailable(store_url):
    store = open_store(store_url)
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.record(SERVICE, entries(accepted()))


# --- SQLite --------------------------------------------------------------------------------


def test_sqlite_creates_the_folders_of_a_new_database(tmp_path):
    path = tmp_path / "var" / "lib" / "vte-cds" / "feedback.db"
    with open_store(f"sqlite:///{path}") as store:
        store.record(SERVICE, entries(accepted()))
    assert path.is_file()


def test_sqlite_relative_path_is_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///data/feedback.db") as store:
        store.ping()
    assert (tmp_path / "data" / "feedback.db").is_file()


def test_sqlite_keeps_no_trace_of_the_user_comment(tmp_path):
    path = tmp_path / "feedback.db"
    with open_store(f"sqlite:///{path}") as store:
        store.record(SERVICE, entries(overridden()))
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Jane Roe" not in raw
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT comment_length FROM cds_feedback").fetchall() == [
            (len(COMMENT),)
        ]
    conn.close()


def test_sqlite_in_memory_is_refused_because_it_is_not_durable():
    with pytest.raises(ValueError, match="file path"):
        open_store("sqlite:///:memory:")


def test_an_unknown_scheme_is_refused_without_repeating_the_url():
    with pytest.raises(ValueError, match="sqlite:/// or postgresql://") as caught:
        open_store("mysql://feedback:s3cret@db/feedback")
    assert "s3cret" not in str(caught.value)


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgresql_keeps_no_trace_of_the_user_comment(pg_url, pg_admin, pg_schema):
    with open_store(pg_url) as store:
        store.record(SERVICE, entries(overridden()))
    [(row,)] = pg_admin.execute(f"SELECT row_to_json(f)::text FROM {pg_schema}.cds_feedback f")
    assert "Jane Roe" not in row
    assert json.loads(row)["comment_length"] == len(COMMENT)


def test_two_service_instances_on_one_postgresql_see_each_others_feedback(pg_url):
    with open_store(pg_url) as first, open_store(pg_url) as second:
        assert first.record(SERVICE, entries(accepted(CARD_A)), CARD_TYPES) == 1
        assert second.record(SERVICE, entries(overridden(CARD_B)), CARD_TYPES) == 1
        # The same feedback delivered to the other instance: still counted once.
        assert second.record(SERVICE, entries(accepted(CARD_A)), CARD_TYPES) == 0
        assert first.report() == second.report() == [
            ReportRow(SERVICE, "cmvt-surveillance", 0, 1, 0.0, {f"{SNOMED}|1": 1}),
            ReportRow(SERVICE, "mm-prophylaxis", 1, 0, 1.0, {}),
        ]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_postgresql_on_a_closed_port_is_unavailable_at_once():
    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="not recorded"):
        open_store(f"postgresql://postgres@127.0.0.1:{closed_port()}/test")
    assert time.monotonic() - began < 2


def test_postgresql_that_never_answers_is_unavailable_after_the_connect_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        began = time.monotonic()
        with pytest.raises(StoreUnavailable):
            open_store(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/test")
        assert 1.5 < time.monotonic() - began < 5


def test_a_connection_dropped_by_the_server_is_replaced_without_losing_feedback(
    pg_url, pg_admin, pg_schema
):
    with open_store(pg_url) as store:
        store.ping()
        [(terminated,)] = pg_admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (pg_schema,),
        ).fetchall()
        assert terminated == 1
        assert store.record(SERVICE, entries(accepted())) == 1
        assert [r.accepted for r in store.report()] == [1]


@pytest.fixture
def pg_role(pg_admin, pg_schema):
    role = f"feedback_test_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(f"CREATE ROLE {role} LOGIN")
    pg_admin.execute(f"GRANT ALL ON SCHEMA {pg_schema} TO {role}")
    yield role
    pg_admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
    )
    pg_admin.execute(f"DROP OWNED BY {role}")
    pg_admin.execute(f"DROP ROLE {role}")


def test_postgresql_lost_at_record_time_refuses_the_feedback_as_unavailable(
    pg_url, pg_admin, pg_role
):
    with open_store(with_user(pg_url, pg_role)) as store:
        store.ping()
        pg_admin.execute(f"ALTER ROLE {pg_role} NOLOGIN")
        pg_admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (pg_role,)
        )
        with pytest.raises(StoreUnavailable, match="not recorded"):
            store.record(SERVICE, entries(accepted()))
        pg_admin.execute(f"ALTER ROLE {pg_role} LOGIN")
        assert store.record(SERVICE, entries(accepted())) == 1
