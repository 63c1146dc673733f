"""An allow-listed FHIR server that misbehaves, against the service as deployed (``vte-cds serve``
under gunicorn on 127.0.0.1), one test per finding of the red team:

- the EHR's FHIR token never leaves the allow-listed base path: ``..`` in a next link, written
  plainly or percent-encoded, and a ``context.patientId`` of ``../../admin/x``;
- a page that is not a Bundle is a 412 that says what came instead (and a page 2 of ``[]`` is
  not "more than N pages"); a malformed Bundle (``"entry": "abc"``, ``"entry": 5``,
  ``"link": 5``) is a data issue on the card, never "nothing found" and never a 500;
- bodies are capped (``VTE_CDS_FHIR_MAX_BYTES``) while streaming, and ``[`` x 200,000 is a 412;
- the deadline (1.5 x ``VTE_CDS_FHIR_TIMEOUT``) holds against a trickling server, and calls
  abandoned at their deadline leave the fetch pool free for later calls to a healthy server.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.reliability.served import TOKEN, FakeFhir, answer, bundle, call, service

TIMEOUT = 2.5  # generous: the controls must not time out on a loaded two-core machine
DEADLINE = 1.5 * TIMEOUT
SLACK = 1.5  # a loaded two-core machine, and one process start per module
MAX_BYTES = 2_000_000
MAX_PAGES = 3
HOOK = "/cds-services/vte-patient-view"


@pytest.fixture(scope="module")
def fhir():
    with FakeFhir() as server:
        yield server


@pytest.fixture(scope="module")
def served(fhir):
    with service(fhir, FHIR_TIMEOUT=TIMEOUT, FHIR_MAX_BYTES=MAX_BYTES,
                 FHIR_MAX_PAGES=MAX_PAGES) as server:
        yield server


def hook(base: str, missing: tuple[str, ...] = ("conditions",), patient: str | None = None):
    body = myeloma_on_lenalidomide_dexamethasone()
    conditions = [e["resource"] for e in body["prefetch"]["conditions"]["entry"]]
    for key in missing:
        body["prefetch"][key] = None
    if patient is not None:
        body["context"]["patientId"] = patient
    body["fhirServer"] = base
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer",
                                 "expires_in": 300, "scope": "patient/*.read",
                                 "subject": "cds-service"}
    return body, conditions


def post(served, body, timeout: float = 30.0):
    return call(served.port, "POST", HOOK, body, timeout=timeout)


def assert_412(answer_, *fragments: str) -> str:
    assert answer_.status == 412, answer_.text
    assert TOKEN not in answer_.text
    body = answer_.json()
    assert body["error"] == "prefetch_unavailable"
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return str(body["message"])


def full_assessment(served, answer_) -> dict:
    """The full assessment behind the answer's card link, as JSON."""
    assert answer_.status == 200, answer_.text
    links = [link["url"] for card in answer_.json()["cards"] for link in card.get("links", [])
             if "/assessments/view/" in link["url"]]
    assert links, answer_.text
    page = call(served.port, "GET", "/assessments/view/" + links[0].split("/view/")[1],
                headers={"Accept": "application/json"})
    assert page.status == 200, page.text
    return dict(page.json())


def unread(document: dict) -> list[str]:
    """The data issues that say a Bundle could not be read whole."""
    return [f"{i['reference']}: {i['reason']}" for i in document["data_issues"]
            if "Bundle.entry" in i["reason"] or "Bundle.link" in i["reason"]
            or "next link" in i["reason"]]


def paged(first: dict, second) -> callable:
    """Page 1 is ``first`` (its next link made absolute here), page 2 is ``second``."""

    def reply(handler: BaseHTTPRequestHandler, path: str) -> None:
        if "page=2" in path:
            answer(handler, 200, second)
        else:
            answer(handler, 200, first)

    return reply


# --- the token stays under the allow-listed base ----------------------------------------------


@pytest.mark.parametrize("tail", [
    "/../admin/x",
    "/%2e%2e/admin/x",
    "/%2E%2E/%2E%2E/admin/x",
    "/%252e%252e/admin/x",
    "/Condition/..%2F..%2F..%2Fadmin",
    "/.%2e/admin/x",
    "/Condition/%5c..%5c..%5cadmin",
    "/./Condition?page=2",
])
def test_next_link_with_dot_segments_never_carries_the_token(served, fhir, tail):
    holder: dict[str, str] = {}

    def reply(handler: BaseHTTPRequestHandler, path: str) -> None:
        if path.startswith("/Condition?patient="):
            answer(handler, 200, bundle(next_url=holder["base"] + tail))
        else:
            answer(handler, 200, bundle())

    base = holder["base"] = fhir.base(reply)
    body, _ = hook(base)
    before = len(fhir.seen)
    message = assert_412(post(served, body), "dot segments", "not followed")
    assert "admin" not in message
    with_token = [s.path for s in fhir.seen[before:] if s.authorization]
    assert with_token == ["/" + base.split("/", 3)[3] + "/Condition?patient=mm-rd"]


@pytest.mark.parametrize("patient", ["../../admin/x", "..", "mm-rd/../../admin",
                                     "mm-rd?_include=*", "%2e%2e"])
def test_patient_id_that_is_not_a_fhir_id_is_400_before_any_request(served, fhir, patient):
    base = fhir.base(lambda handler, path: answer(handler, 200, bundle()))
    body, _ = hook(base, missing=("patient", "conditions"), patient=patient)
    before = len(fhir.seen)
    response = post(served, body)
    assert response.status == 400, response.text
    assert "FHIR id" in response.json()["message"]
    assert fhir.seen[before:] == []


def test_every_request_that_carries_the_token_stays_under_the_base(served, fhir):
    """A control: a complete fetch of every key sends the token only under the base path."""
    base = fhir.base(lambda handler, path: answer(handler, 200, bundle()) if "?" in path
                     else answer(handler, 404, {"resourceType": "OperationOutcome"}))
    body, _ = hook(base, missing=tuple(myeloma_on_lenalidomide_dexamethasone()["prefetch"]))
    before = len(fhir.seen)
    assert post(served, body).status == 200
    root = "/" + base.split("/", 3)[3] + "/"
    seen = fhir.seen[before:]
    assert len(seen) == 9
    for request in seen:
        assert request.authorization == f"Bearer {TOKEN}"
        assert unquote(request.path).startswith(root)
        assert "/../" not in unquote(request.path)


# --- pages that are not Bundles, and malformed Bundles ----------------------------------------


@pytest.mark.parametrize(("second", "said"), [
    ({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly",
                                                      "diagnostics": "patient mm-rd"}]},
     "an OperationOutcome (too-costly) instead of a Bundle for the Condition search page 2"),
    ([], "a JSON array instead of a Bundle for the Condition search page 2"),
    ({"resourceType": "Condition", "id": "x"}, "a Condition instead of a Bundle"),
    ("abc", "a JSON string instead of a Bundle"),
    ({"entry": []}, "JSON that is no FHIR resource instead of a Bundle"),
], ids=["operation-outcome", "empty-array", "condition", "string", "no-resource-type"])
def test_a_page_that_is_not_a_bundle_is_412_saying_what_came(served, fhir, second, said):
    holder: dict[str, str] = {}
    base = holder["base"] = fhir.base(
        lambda handler, path: paged(bundle(next_url=holder["base"] + "/Condition?page=2"),
                                    second)(handler, path))
    body, _ = hook(base)
    message = assert_412(post(served, body), said)
    assert "more than" not in message
    assert "mm-rd" not in message


def second_page(fhir, page_two: dict) -> tuple[str, dict]:
    """A base whose Condition search has the patient's conditions on page 1 and ``page_two``."""
    holder: dict = {}

    def reply(handler: BaseHTTPRequestHandler, path: str) -> None:
        if "page=2" in path:
            answer(handler, 200, page_two)
        else:
            answer(handler, 200, bundle(*holder["conditions"],
                                        next_url=holder["base"] + "/Condition?page=2"))

    base = holder["base"] = fhir.base(reply)
    body, holder["conditions"] = hook(base)
    return base, body


@pytest.mark.parametrize("malformed", [
    {"entry": "abc"}, {"entry": 5}, {"link": 5}, {"link": [{"relation": "next", "url": 5}]},
])
def test_a_malformed_bundle_is_a_data_issue_not_nothing_found(served, fhir, malformed):
    """Page 2 malformed: the card is made, the full assessment lists the data issue, and the
    conditions count as unknown (the score's upper bound rises), not as absent."""
    _, body = second_page(fhir, {**bundle(), **malformed})
    document = full_assessment(served, post(served, body))
    found = unread(document)
    assert len(found) == 1, found
    assert found[0].startswith("Condition: page 2 of the Condition search")
    _, control_body = second_page(fhir, bundle())
    control = full_assessment(served, post(served, control_body))
    assert unread(control) == []
    assert document["scores"]["mm_vte"]["points"] == control["scores"]["mm_vte"]["points"]
    assert document["scores"]["mm_vte"]["max_points"] > control["scores"]["mm_vte"]["max_points"]


@pytest.mark.parametrize("malformed", [{"entry": 5}, {"link": 5}, {"entry": "abc"}])
def test_a_malformed_bundle_that_leaves_no_card_is_412_not_silence(served, fhir, malformed):
    """Nothing of the conditions could be read, so whether the patient has myeloma is unknown:
    no card would read as "nothing to say", so the answer says why there is none."""
    base = fhir.base(lambda handler, path: answer(handler, 200, {**bundle(), **malformed}))
    body, _ = hook(base)
    assert_412(post(served, body), "conditions came as a malformed Bundle")


@pytest.mark.parametrize("malformed", ["abc", 5, [{"no": "resource"}]])
def test_a_malformed_prefetch_bundle_that_leaves_no_card_is_412_not_silence(served, malformed):
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"]["conditions"]["entry"] = malformed
    assert_412(post(served, body), "conditions came as a malformed Bundle")


# --- bodies: garbage, size, time --------------------------------------------------------------


@pytest.mark.parametrize(("payload", "said"), [
    (b"[" * 200_000, "nested too deep"),
    (b"[" * 100 + b"]" * 100, "nested deeper than 64 levels"),
    (b'{"resourceType": "Bundle", "entry": [' + b"{" * 5000, "no JSON"),
], ids=["open-brackets-200000", "nested-100", "truncated"])
def test_garbage_json_from_the_fhir_server_is_412_not_500(served, fhir, payload, said):
    base = fhir.base(lambda handler, path: answer(handler, 200, payload))
    body, _ = hook(base)
    assert_412(post(served, body), said, "Condition search")


def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(served, fhir):
    def reply(handler: BaseHTTPRequestHandler, path: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(300_000_000))
        handler.end_headers()
        handler.wfile.write(b'{"resourceType": "Bundle", "entry": [')
        fhir.stopping.wait(10)

    base = fhir.base(reply)
    body, _ = hook(base)
    response = post(served, body)
    assert_412(response, f"more than {MAX_BYTES} bytes", "VTE_CDS_FHIR_MAX_BYTES")
    assert response.seconds < 1.0


def test_an_endless_body_is_cut_at_the_cap_within_the_deadline(served, fhir):
    """Chunked, no length: the service stops reading at the cap, whatever the server sends."""
    piece = b'{"resourceType": "Condition", "id": "x", "note": [{"text": "' + b"a" * 60000 \
        + b'"}]},'

    def reply(handler: BaseHTTPRequestHandler, path: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(5000):  # 300 MB, if anyone read it all
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    base = fhir.base(reply)
    body, _ = hook(base)
    response = post(served, body)
    assert_412(response, f"more than {MAX_BYTES} bytes")
    assert response.seconds < DEADLINE + SLACK


def trickle(handler: BaseHTTPRequestHandler, path: str) -> None:
    """Headers at once, then a byte every 0.1 s for a minute: no single read waits long."""
    data = b'{"resourceType": "Bundle", "entry": []}' + b" " * 1000
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    for i in range(len(data)):
        handler.wfile.write(data[i:i + 1])
        handler.wfile.flush()
        time.sleep(0.1)


def test_a_trickling_server_is_cut_off_at_the_deadline(served, fhir):
    base = fhir.base(trickle)
    body, _ = hook(base, missing=tuple(myeloma_on_lenalidomide_dexamethasone()["prefetch"]))
    response = post(served, body)
    assert_412(response, "timed out")
    assert response.seconds < DEADLINE + SLACK


def test_calls_abandoned_at_their_deadline_leave_the_pool_to_later_calls(served, fhir):
    """Sixteen calls of nine queries each to a trickling server (144 queries that would
    trickle for a minute, three times each worker's pool), then calls to a healthy server:
    those are answered at once, because abandoned queries stopped at their deadline."""
    slow = fhir.base(trickle)
    healthy_holder: dict[str, list] = {}
    healthy = fhir.base(lambda handler, path: answer(
        handler, 200, bundle(*healthy_holder["conditions"])))
    everything = tuple(myeloma_on_lenalidomide_dexamethasone()["prefetch"])
    slow_body, _ = hook(slow, missing=everything)
    healthy_body, healthy_holder["conditions"] = hook(healthy)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            answers = list(pool.map(lambda _: post(served, slow_body), range(4)))
            assert all(a.status == 412 for a in answers)
            assert max(a.seconds for a in answers) < DEADLINE + SLACK
        later = list(pool.map(lambda _: post(served, healthy_body), range(8)))
    assert [a.status for a in later] == [200] * 8, [a.text[:200] for a in later]
    assert max(a.seconds for a in later) < TIMEOUT


def test_a_silent_server_holds_no_call_past_the_deadline(served, fhir):
    def silent(handler: BaseHTTPRequestHandler, path: str) -> None:
        fhir.stopping.wait(20)

    base = fhir.base(silent)
    body, _ = hook(base, missing=tuple(myeloma_on_lenalidomide_dexamethasone()["prefetch"]))
    started = time.monotonic()
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(post(served, body)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status for a in answers] == [412] * 4
    assert time.monotonic() - started < DEADLINE + SLACK
