"""The store behind everything that outlives a request (``cds_service.storage``), on SQLite and on
the PostgreSQL of this machine (each test in a schema of its own, dropped afterwards).

Two ``SharedStore`` objects on one database stand for two workers or two instances: each has its
own connection and its own memory, and they share only the database.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cds_service.errors import StoreUnavailable
from cds_service.storage.expiring import TABLE, ExpiringStore
from cds_service.storage.links import AssessmentLinks, chart_from_data, chart_to_data
from cds_service.storage.replays import StoreReplays
from cds_service.storage.sessions import SmartSessions
from cds_service.storage.shared import SharedStore
from cds_service.storage.snoozes import Snoozes
from fhir_mappers.chart import map_chart
from hooks.chart import document
from tests.cds_service.scenarios import SCENARIOS, TODAY
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    closed_port,
    pg_admin,
    pg_schema,
    pg_url,
)
from tests.clinical_review.test_review_charts import CASES, request_for
from vte_rules.report import to_data

STORE_KEY = "k" * 40
UTC = dt.UTC


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def opened():
    """``open(url, ...)`` makes a SharedStore (a worker) that is closed when the test ends."""
    made: list[SharedStore] = []

    def open_shared(url: str, store_key: str = "", clock: Clock | None = None) -> SharedStore:
        shared = SharedStore(url, store_key, clock=clock or Clock())
        made.append(shared)
        return shared

    yield open_shared
    for shared in made:
        shared.close()


def mapped(body: dict[str, Any], as_of: str = TODAY):
    drafts = body["context"].get("draftOrders")
    return map_chart(*body["prefetch"].values(), *([drafts] if drafts else []),
                     as_of=dt.date.fromisoformat(as_of), patient_id=body["context"]["patientId"],
                     include_drafts=drafts is not None)


def rows(url: str, pg_admin_conn=None, schema: str | None = None) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            found = conn.execute(f"SELECT kind, key, value, expires_at FROM {TABLE}").fetchall()
        conn.close()
        return found
    return pg_admin_conn.execute(
        f"SELECT kind, key, value, expires_at FROM {schema}.{TABLE}").fetchall()


# --- values that expire ------------------------------------------------------------------------


def test_a_value_is_returned_until_it_expires_and_never_after(url, opened):
    store = opened(url).expiring("down")
    store.put("link", "a", b"one", 1000.0, now=900.0)
    assert store.get("link", "a", now=999.9) == b"one"
    assert store.get("link", "a", now=1000.0) is None
    assert store.get("link", "a", now=5000.0) is None
    assert store.get("session", "a", now=900.0) is None  # kinds do not mix


def test_put_replaces_and_delete_removes(url, opened):
    store = opened(url).expiring("down")
    store.put("link", "a", b"one", 1000.0, now=0.0)
    store.put("link", "a", b"two", 2000.0, now=0.0)
    assert store.get("link", "a", now=1500.0) == b"two"
    store.delete("link", "a")
    assert store.get("link", "a", now=0.0) is None


def test_add_writes_only_when_nothing_live_is_there(url, opened):
    store = opened(url).expiring("down")
    assert store.add("jti", "a", b"", 100.0, now=0.0)
    assert not store.add("jti", "a", b"", 500.0, now=99.0)
    assert store.add("jti", "a", b"", 500.0, now=100.0)  # the first has expired
    assert not store.add("jti", "a", b"", 900.0, now=499.0)


def test_of_many_workers_adding_one_key_at_once_exactly_one_wins(url, opened):
    workers = [opened(url).expiring("down") for _ in range(6)]
    start = threading.Barrier(len(workers))

    def add(store: ExpiringStore) -> bool:
        start.wait()
        return store.add("jti", "same", b"", 100.0, now=0.0)

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        assert sorted(pool.map(add, workers)) == [False] * 5 + [True]


def test_expired_rows_are_purged_by_kind_at_most_once_a_minute(url, opened, tmp_path):
    store = opened(url).expiring("down")
    store.put("link", "old", b"x", 10.0, now=0.0)  # the first write of a kind purges
    store.put("snooze", "old", b"", 10.0, now=0.0)
    store.put("link", "new", b"x", 1000.0, now=20.0)  # within the minute: no purge yet
    assert store.get("link", "old", now=5.0) == b"x"
    store.put("link", "newer", b"x", 1000.0, now=61.0)  # a minute on: expired links go
    assert store.get("link", "old", now=5.0) is None
    assert store.get("snooze", "old", now=5.0) == b""  # another kind keeps its own time
    assert store.purge("snooze", now=11.0) == 1
    assert store.get("link", "new", now=61.0) == b"x"


def test_several_rows_of_several_kinds_are_written_at_once_and_read_by_key(url, opened):
    store = opened(url).expiring("down")
    store.put("snooze", "k", b"", 1000.0, now=0.0)
    store.put_many([("link", "a", b"sealed", 500.0), ("card-patient", "c1", b"hash", 900.0),
                    ("card-patient", "c2", b"old", 900.0), ("card-patient", "c2", b"new", 950.0)],
                   now=10.0)
    assert store.get("link", "a", now=10.0) == b"sealed"
    assert store.get_many("card-patient", ["c1", "c2", "c3"], now=10.0) == {
        "c1": b"hash", "c2": b"new"}  # the last of two rows for one key wins
    assert store.get_many("card-patient", ["c1", "c2"], now=920.0) == {"c2": b"new"}
    assert store.get_many("snooze", ["k"], now=10.0) == {"k": b""}
    assert store.get_many("snooze", [], now=10.0) == {}


def test_rows_written_at_once_replace_what_is_there(url, opened):
    store = opened(url).expiring("down")
    store.put_many([("link", "a", b"one", 500.0), ("link", "b", b"one", 500.0)], now=0.0)
    store.put_many([("link", "a", b"two", 800.0)], now=0.0)
    assert store.get_many("link", ["a", "b"], now=600.0) == {"a": b"two"}


def test_writing_several_rows_purges_each_kind_when_due(url, opened):
    store = opened(url).expiring("down")
    store.put_many([("link", "old", b"x", 10.0), ("snooze", "old", b"", 10.0)], now=0.0)
    store.put_many([("link", "new", b"x", 1000.0), ("snooze", "new", b"", 1000.0)], now=61.0)
    assert store.get("link", "old", now=5.0) is None
    assert store.get("snooze", "old", now=5.0) is None


def test_a_write_on_sqlite_holds_the_lock_for_one_statement_only(tmp_path, opened):
    """No BEGIN ... COMMIT around a write: another process's writer never waits while this
    one runs Python between statements."""
    shared = opened(f"sqlite:///{tmp_path}/s.db")
    store = shared.expiring("down")
    # the first write of a kind purges it first, on its own
    store.put_many([("link", "warm", b"x", 100.0), ("card-patient", "w", b"x", 100.0)], now=0.0)
    seen: list[str] = []
    conn = store._db._conn
    conn.set_trace_callback(seen.append)
    store.put_many([("link", "a", b"x", 100.0), ("card-patient", "c", b"h", 100.0)], now=1.0)
    conn.set_trace_callback(None)
    assert [q.split()[0] for q in seen] == ["INSERT"], seen


# --- links ---------------------------------------------------------------------------------


def test_a_link_made_by_one_worker_opens_in_another_for_an_hour(url, opened):
    clock = Clock()
    one, two = opened(url, clock=clock), opened(url, clock=clock)
    build, _ = SCENARIOS["myeloma_on_lenalidomide_dexamethasone"]
    chart = mapped(build())
    token = AssessmentLinks(one).put(chart)
    assert len(token) >= 22  # 128 random bits
    found = AssessmentLinks(two).get(token)
    assert found is not None
    assert document(found) == document(chart)
    clock.now += 3599
    assert AssessmentLinks(two).get(token) is not None
    clock.now += 1
    assert AssessmentLinks(two).get(token) is None
    assert AssessmentLinks(two).get("not-a-token") is None


def test_the_store_holds_neither_the_link_token_nor_readable_patient_facts(url, opened, request):
    shared = opened(url)
    build, _ = SCENARIOS["myeloma_on_lenalidomide_dexamethasone"]
    token = AssessmentLinks(shared).put(mapped(build()))
    if url.startswith("sqlite"):
        found = rows(url)
        raw = b"".join(p.read_bytes() for p in Path(url.removeprefix("sqlite:///")).parent.iterdir())
    else:
        found = rows(url, request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_schema"))
        raw = b"".join(bytes(r[2]) + r[1].encode() for r in found)
    links = [r for r in found if r[0] == "link"]
    assert len(links) == 1
    assert token not in links[0][1]
    for readable in (token.encode(), b"mm-rd", b"Observation/", b"lenalidomide", b"Patient/"):
        assert readable not in raw


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_kept_chart_gives_the_very_same_assessment(name):
    build, _ = SCENARIOS[name]
    chart = mapped(build())
    kept = chart_from_data(json.loads(json.dumps(chart_to_data(chart))))
    assert document(kept) == document(chart)
    assert to_data(kept.issues) == to_data(chart.issues)


def test_every_review_chart_kept_gives_the_very_same_assessment():
    for path in CASES:
        case = json.loads(path.read_text("utf-8"))
        chart = mapped(request_for(case), case["as_of"])
        kept = chart_from_data(json.loads(json.dumps(chart_to_data(chart))))
        assert document(kept) == document(chart), path.stem
        assert to_data(kept.issues) == to_data(chart.issues), path.stem


def test_a_birth_year_only_age_kept_gives_the_very_same_assessment():
    # the possible ages (75, 76) decide MM-T5-10/11: a link opened later must read them too
    born = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1950"}
    chart = map_chart([born], as_of=dt.date(2026, 12, 1), patient_id="p")
    kept = chart_from_data(json.loads(json.dumps(chart_to_data(chart))))
    assert kept.facts["age_years"].possible == (75.0, 76.0)
    assert document(kept) == document(chart)


def test_the_kept_chart_leaves_out_drafts_allergies_and_free_text():
    build, _ = SCENARIOS["ivc_filter_order_for_cmvt"]
    chart = mapped(build())
    assert any(m.draft for m in chart.medications) or chart.services
    data = chart_to_data(chart)
    assert set(data) == {"as_of", "facts_as_of", "facts", "issues", "medications"}
    kept = chart_from_data(data)
    assert not any(m.draft for m in kept.medications)
    assert kept.allergies == ()
    assert kept.services == ()
    assert all(m.text is None for m in kept.medications)


def test_a_link_sealed_under_another_store_key_reads_as_expired(url, opened):
    token = AssessmentLinks(opened(url, "a" * 40)).put(
        mapped(SCENARIOS["cmvt_low_risk"][0]()))
    assert AssessmentLinks(opened(url, "a" * 40)).get(token) is not None
    assert AssessmentLinks(opened(url, "b" * 40)).get(token) is None
    assert AssessmentLinks(opened(url)).get(token) is None


# --- shared keys ---------------------------------------------------------------------------


def test_without_a_store_key_every_worker_reads_the_one_key_the_first_made(url, opened, caplog):
    workers = [opened(url) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = set(pool.map(lambda w: w.secret("seal"), workers))
    assert len(keys) == 1
    assert len(next(iter(keys))) == 32
    assert "VTE_CDS_STORE_KEY is not set" in caplog.text


def test_with_a_store_key_no_key_is_written_to_the_store(url, opened, request):
    one, two = opened(url, STORE_KEY), opened(url, STORE_KEY)
    assert one.secret("seal") == two.secret("seal")
    assert one.secret("seal") != one.secret("patient-key")
    assert one.secret("seal") != opened(url, "z" * 40).secret("seal")
    AssessmentLinks(one).put(mapped(SCENARIOS["cmvt_low_risk"][0]()))
    found = (rows(url) if url.startswith("sqlite") else
             rows(url, request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_schema")))
    assert [r[0] for r in found] == ["link"]


# --- SMART sessions ------------------------------------------------------------------------


def test_a_smart_session_saved_by_one_worker_is_read_and_ended_by_another(url, opened):
    clock = Clock()
    one, two = SmartSessions(opened(url, clock=clock)), SmartSessions(opened(url, clock=clock))
    record = {"client_state": {"server": {"auth": {"access_token": "SECRET-TOKEN"}}},
              "iss": "https://ehr.example/fhir", "expires": clock.now + 600, "patient": "p1"}
    one.save("sid-1", record, clock.now + 600)
    assert two.load("sid-1") == record
    assert one.signing_key() == two.signing_key()
    two.drop("sid-1")
    assert one.load("sid-1") is None
    one.save("sid-2", record, clock.now + 600)
    clock.now += 600
    assert two.load("sid-2") is None


# --- jti replays ---------------------------------------------------------------------------


def test_a_jti_is_accepted_once_across_workers_until_its_token_expires(url, opened):
    one, two = StoreReplays(opened(url)), StoreReplays(opened(url))
    key = ("https://ehr.example", "jti-1")
    assert one.first_use(key, until=1330.0, now=1000.0)
    assert not two.first_use(key, until=1330.0, now=1001.0)
    assert not one.first_use(key, until=1330.0, now=1329.0)
    assert two.first_use(("https://other.example", "jti-1"), until=1330.0, now=1001.0)
    # expired tokens are refused by their exp; the record may then go
    assert two.first_use(key, until=1700.0, now=1330.0)


def test_the_replay_record_keeps_nothing_of_the_token(url, opened, request):
    StoreReplays(opened(url)).first_use(("https://ehr.example", "jti-visible"), 1330.0, 1000.0)
    found = (rows(url) if url.startswith("sqlite") else
             rows(url, request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_schema")))
    assert [(r[0], bytes(r[2]), r[3]) for r in found] == [("jti", b"", 1330.0)]
    assert "jti-visible" not in found[0][1]
    assert "ehr.example" not in found[0][1]


# --- snoozes -------------------------------------------------------------------------------

NOON = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_snooze_holds_for_its_card_kind_and_patient_until_its_time(url, opened):
    one, two = Snoozes(opened(url)), Snoozes(opened(url))
    key = one.patient_key("mm-rd")
    assert key == two.patient_key("mm-rd")  # every worker computes the same key
    one.snooze("mm-prophylaxis", key, NOON + dt.timedelta(hours=24), now=NOON)
    assert two.is_snoozed("mm-prophylaxis", key, NOON)
    assert two.is_snoozed("mm-prophylaxis", key, NOON + dt.timedelta(hours=23, minutes=59))
    assert not two.is_snoozed("mm-prophylaxis", key, NOON + dt.timedelta(hours=24))
    assert not two.is_snoozed("cmvt", key, NOON)
    assert not two.is_snoozed("mm-prophylaxis", two.patient_key("someone-else"), NOON)
    # a later snooze replaces the first, in another time zone too
    china = dt.timezone(dt.timedelta(hours=8))
    two.snooze("mm-prophylaxis", key, dt.datetime(2026, 11, 27, 21, 0, tzinfo=china), now=NOON)
    assert one.is_snoozed("mm-prophylaxis", key, NOON + dt.timedelta(minutes=59))
    assert not one.is_snoozed("mm-prophylaxis", key, NOON + dt.timedelta(hours=1))


def test_the_snooze_store_holds_a_keyed_hash_never_the_patient_id(url, opened, request):
    snoozes = Snoozes(opened(url, STORE_KEY))
    key = snoozes.patient_key("mm-rd")
    assert len(key) == 64
    assert "mm-rd" not in key
    assert key != Snoozes(opened(url, "z" * 40)).patient_key("mm-rd")  # keyed, not a bare hash
    snoozes.snooze("mm-prophylaxis", key, NOON, now=NOON - dt.timedelta(hours=1))
    found = (rows(url) if url.startswith("sqlite") else
             rows(url, request.getfixturevalue("pg_admin"), request.getfixturevalue("pg_schema")))
    assert [r[1] for r in found] == [f"mm-prophylaxis/{key}"]


@pytest.mark.parametrize(("kind", "key", "moment", "message"), [
    ("mm-prophylaxis", "mm-rd", NOON, "patient_key"),
    ("mm-prophylaxis", "A" * 64, NOON, "patient_key"),
    ("", "a" * 64, NOON, "card_kind"),
    ("mm prophylaxis", "a" * 64, NOON, "card_kind"),
    ("mm-prophylaxis", "a" * 64, dt.datetime(2026, 11, 27, 12), "time zone"),
])
def test_snoozes_refuse_a_readable_id_an_odd_kind_or_a_naive_time(tmp_path, opened, kind, key,
                                                                  moment, message):
    snoozes = Snoozes(opened(f"sqlite:///{tmp_path}/s.db"))
    with pytest.raises(ValueError, match=message):
        snoozes.snooze(kind, key, moment)
    with pytest.raises(ValueError, match=message):
        snoozes.is_snoozed(kind, key, moment)


# --- failures ------------------------------------------------------------------------------


def test_a_store_that_cannot_be_reached_says_what_could_not_be_done(opened):
    began = time.monotonic()
    shared = opened(f"postgresql://postgres@127.0.0.1:{closed_port()}/test")
    with pytest.raises(StoreUnavailable, match="assessment link could not be saved"):
        AssessmentLinks(shared).put(mapped(SCENARIOS["cmvt_low_risk"][0]()))
    with pytest.raises(StoreUnavailable, match="token could not be checked for replay"):
        StoreReplays(shared).first_use(("i", "j"), 10.0, 0.0)
    with pytest.raises(StoreUnavailable, match="SMART session could not be read"):
        SmartSessions(shared).load("sid")
    with pytest.raises(StoreUnavailable, match="snooze could not be read"):
        Snoozes(shared).is_snoozed("cmvt", "a" * 64, NOON)
    assert time.monotonic() - began < 2


def test_a_postgresql_that_never_answers_is_unavailable_after_the_connect_timeout(opened):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        shared = opened(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/test")
        began = time.monotonic()
        with pytest.raises(StoreUnavailable, match="replay"):
            StoreReplays(shared).first_use(("i", "j"), 10.0, 0.0)
        assert 1.5 < time.monotonic() - began < 5


def test_a_postgresql_statement_is_cut_at_the_statement_timeout(
        pg_url, pg_admin, pg_schema, opened):  # noqa: F811
    store = opened(pg_url).expiring("down")
    store.put("link", "a", b"x", 10.0, now=0.0)
    with pg_admin.transaction():
        pg_admin.execute(f"LOCK TABLE {pg_schema}.{TABLE} IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        with pytest.raises(StoreUnavailable, match="could not be read"):
            store.get("link", "a", now=0.0, failure="the link could not be read")
        assert 4 < time.monotonic() - began < 8
    assert store.get("link", "a", now=0.0) == b"x"


def test_sqlite_runs_in_wal_mode_so_readers_do_not_wait_for_writers(tmp_path, opened):
    url = f"sqlite:///{tmp_path}/store.db"
    opened(url).expiring("down").put("link", "a", b"x", 10.0, now=0.0)
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
