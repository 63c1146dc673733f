"""The SMART app's server side through Flask's test client: the launch against a mocked
authorization server, the token kept server side, the overrides API and its validation."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from cds_service.app import create_app
from cds_service.web import feedback_view, smart
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone

FHIR = "https://fhir.example/r4"
EHR = "https://ehr.example/fhir"
AUTHORIZE = "https://auth.example/authorize"
TOKEN_URL = "https://auth.example/token"
ACCESS_TOKEN = "SECRET-ACCESS-TOKEN-5f1c9e"
SMART_PATIENT = "smart-mm"
ISSUERS = {"https://ehr.example": {"jwks_url": "https://ehr.example/jwks.json"}}


def smart_resources(pid: str = SMART_PATIENT) -> list[dict[str, Any]]:
    """The myeloma scenario (score 10) under its own ids, without its BMI and family-history
    findings: the documented score is 9 (high), BMI and family history are unknown."""
    text = json.dumps(myeloma_on_lenalidomide_dexamethasone())
    request = json.loads(text.replace('"mm-rd', f'"{pid}').replace("/mm-rd", f"/{pid}"))
    out: list[dict[str, Any]] = []
    for value in request["prefetch"].values():
        out.extend([e["resource"] for e in value.get("entry", [])]
                   if value.get("resourceType") == "Bundle" else [value])
    out = [r for r in out if not r["id"].endswith(("-bmi", "-fh"))]
    out[0]["name"] = [{"text": "Li Na"}]
    return out


def serve_fhir(mock: responses.RequestsMock, base: str, resources: list[dict[str, Any]]) -> None:
    """A read-only FHIR server on ``base`` for these resources (Patient read, searches by
    patient)."""
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        path = urlsplit(request.url).path[len(urlsplit(base).path):].strip("/")
        query = parse_qs(urlsplit(request.url).query)
        if "/" in path:
            rtype, rid = path.split("/", 1)
            found = [r for r in resources if r["resourceType"] == rtype and r["id"] == rid]
            if not found:
                return 404, {}, json.dumps({"resourceType": "OperationOutcome"})
            return 200, {"Content-Type": "application/fhir+json"}, json.dumps(found[0])
        pid = query.get("patient", [""])[0]
        hits = [r for r in resources if r["resourceType"] == path
                and (r.get("subject") or r.get("patient") or {}).get("reference")
                == f"Patient/{pid}"]
        bundle = {"resourceType": "Bundle", "type": "searchset",
                  "entry": [{"resource": r} for r in hits]}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(bundle)

    mock.add_callback(responses.GET, re.compile(re.escape(base) + r"/.*"), callback=answer)


def make_app(tmp_path, **changes: Any):
    config = {"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
              "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db",
              "FHIR_ALLOWLIST": f"{FHIR},{EHR}", "UI_FHIR_URL": FHIR,
              "SMART_SECRET_KEY": "test-secret", **changes}
    app = create_app(config)
    for blueprint in (smart.bp, feedback_view.bp):
        if blueprint.name not in app.blueprints:  # until app.py registers them
            app.register_blueprint(blueprint)
    return app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def fhir():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_fhir(mock, FHIR, smart_resources())
        yield mock


def post(client, body: Any, content_type: str = "application/json"):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post("/smart/api/assess", data=data, content_type=content_type)


def mm(answer) -> dict[str, Any]:
    return answer.get_json()["scores"]["mm_vte"]


# --- the assessment and its overrides ---------------------------------------------------------


def test_demo_mode_assesses_the_chart_and_lists_the_unknown_items(client, fhir):
    answer = post(client, {"patient": SMART_PATIENT})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (mm(answer)["points"], mm(answer)["category"]) == (9.0, "high")
    assert body["recommendations"]["prophylaxis"]["regimen"] == "lmwh-prophylactic"
    assert body["patient"] == {"id": SMART_PATIENT, "name": "Li Na", "gender": "female",
                               "birthDate": "1958-03-02"}
    factors = {i["factor"]: i for i in body["inputs"]}
    assert {"bmi", "family_history_of_vte", "deep_vein_tenderness"} <= set(factors)
    assert factors["bmi"]["kind"] == "number"
    assert factors["bmi"]["unit"] == "kg/m2"
    assert {"score": "mm_vte", "rule": "MM-T5-12"}.items() <= factors["bmi"]["items"][0].items()
    assert factors["family_history_of_vte"]["label"] == {"en": "Family history of VTE",
                                                         "zh": "VTE家族史"}
    # documented items are not offered
    assert "age_years" not in factors
    assert "diabetes" not in factors
    assert body["tier_labels"]["mm_vte"]["very_high"]["en"].startswith("Very high risk")


def test_overrides_are_facts_entered_by_the_clinician_and_move_the_tier(client, fhir):
    bmi = post(client, {"patient": SMART_PATIENT, "overrides": {"bmi": 26}})
    assert (mm(bmi)["points"], mm(bmi)["category"]) == (10.0, "high")
    row = next(i for i in mm(bmi)["items"] if i["rule"] == "MM-T5-12")
    assert row["status"] == "present"
    assert row["evidence"] == [smart.EVIDENCE]
    both = post(client, {"patient": SMART_PATIENT,
                         "overrides": {"bmi": 26, "family_history_of_vte": True}})
    assert (mm(both)["points"], mm(both)["category"]) == (15.0, "very_high")
    prophylaxis = both.get_json()["recommendations"]["prophylaxis"]
    assert prophylaxis["regimen"] == "lmwh-therapeutic"
    assert both.get_json()["overrides"] == {"bmi": 26.0, "family_history_of_vte": True}
    # the offered inputs stay the same, with the entered values
    values = {i["factor"]: i["value"] for i in both.get_json()["inputs"]}
    assert values["bmi"] == 26.0
    assert values["family_history_of_vte"] is True
    # null clears an entry; false is an answer too
    cleared = post(client, {"patient": SMART_PATIENT,
                            "overrides": {"bmi": None, "family_history_of_vte": False}})
    assert (mm(cleared)["points"], mm(cleared)["max_points"]) == (9.0, 10.0)


def test_the_mapped_chart_is_reused_for_live_recomputation(client, fhir):
    post(client, {"patient": SMART_PATIENT})
    calls = len(fhir.calls)
    assert calls == 9  # the nine prefetch queries of PATIENT_DATA
    for value in (20, 30, 40):
        assert post(client, {"patient": SMART_PATIENT,
                             "overrides": {"bmi": value}}).status_code == 200
    assert len(fhir.calls) == calls


@pytest.mark.parametrize(("overrides", "message"), [
    ({"no_such_factor": True}, "'no_such_factor' that is not a factor of the catalogue"),
    ({"family_history_of_vte": "yes"}, "'family_history_of_vte' must be true or false"),
    ({"family_history_of_vte": 1}, "'family_history_of_vte' must be true or false"),
    ({"bmi": "26"}, "'bmi' must be a number (kg/m2)"),
    ({"bmi": True}, "'bmi' must be a number (kg/m2)"),
    ({"bmi": -3}, "'bmi' must be a number (kg/m2), from 0"),
    ({"sex": "unknown-sex"}, "'sex' must be one of ['male', 'female', 'other']"),
    ([["bmi", 26]], "overrides must be an object of factor name to value"),
    ("bmi=26", "overrides must be an object of factor name to value"),
])
def test_overrides_are_validated_before_anything_is_fetched(client, fhir, overrides, message):
    answer = post(client, {"patient": SMART_PATIENT, "overrides": overrides})
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "bad_request"
    assert message in body["message"]
    assert len(fhir.calls) == 0


@pytest.mark.parametrize(("data", "content_type", "message"), [
    ({"overrides": {}}, "application/json", "patient must be a FHIR id"),
    ({"patient": "../Patient"}, "application/json", "patient must be a FHIR id"),
    ("[1, 2]", "application/json", "request body must be a JSON object"),
    ("{not json", "application/json", "request body is not valid JSON"),
    (json.dumps({"patient": SMART_PATIENT}), "text/plain", "application/json"),
])
def test_the_request_itself_is_validated(client, fhir, data, content_type, message):
    answer = post(client, data, content_type)
    assert answer.status_code == 400
    assert message in answer.get_json()["message"]
    assert len(fhir.calls) == 0


def test_a_documented_factor_cannot_be_overridden(client, fhir):
    answer = post(client, {"patient": SMART_PATIENT, "overrides": {"diabetes": False}})
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert "'diabetes' is documented in the chart" in message
    assert f"Condition/{SMART_PATIENT}-dm" in message


def test_an_unknown_patient_is_not_found(client, fhir):
    answer = post(client, {"patient": "nobody"})
    assert answer.status_code == 404


def test_without_a_launch_and_with_auth_on_nothing_is_read(tmp_path):
    client = make_app(tmp_path, AUTH="on", TRUSTED_ISSUERS=ISSUERS).test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer = post(client, {"patient": SMART_PATIENT})
        context = client.get("/smart/api/context").get_json()
        assert len(mock.calls) == 0
    assert answer.status_code == 403
    assert "launch the app from the EHR" in answer.get_json()["message"]
    assert context == {"launch": False, "patient": None, "demo": False, "fhirServer": None}


def test_the_demo_server_must_be_allow_listed(tmp_path):
    client = make_app(tmp_path, FHIR_ALLOWLIST=EHR).test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer = post(client, {"patient": SMART_PATIENT})
        assert len(mock.calls) == 0
    assert answer.status_code == 403


def fetch(client, path: str):
    """GET and read the whole answer (a file response left unread keeps its file open)."""
    answer = client.get(path)
    answer.get_data()
    answer.close()
    return answer


def test_the_app_page_is_served_with_a_strict_policy(client):
    answer = fetch(client, "/smart/app")
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["Cache-Control"] == "no-store"
    for asset in ("app.js", "i18n.js", "app.css"):
        assert fetch(client, f"/smart/static/{asset}").status_code == 200


def test_framing_can_be_allowed_for_the_ehr(tmp_path):
    client = make_app(tmp_path, SMART_FRAME_ANCESTORS="https://ehr.example").test_client()
    policy = fetch(client, "/smart/app").headers["Content-Security-Policy"]
    assert "frame-ancestors https://ehr.example" in policy


# --- the launch -----------------------------------------------------------------------------


def smart_configuration(mock: responses.RequestsMock, status: int = 200) -> None:
    mock.add(responses.GET, f"{EHR}/.well-known/smart-configuration", status=status,
             json={"authorization_endpoint": AUTHORIZE, "token_endpoint": TOKEN_URL,
                   "capabilities": ["launch-ehr", "client-public"],
                   "code_challenge_methods_supported": ["S256"]})


def launch(client, iss: str = EHR, launch_token: str = "launch-7") -> dict[str, list[str]]:
    answer = client.get("/smart/launch", query_string={"iss": iss, "launch": launch_token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    location = answer.headers["Location"]
    assert location.startswith(AUTHORIZE + "?")
    return parse_qs(urlsplit(location).query)


def token_answer(patient: str = SMART_PATIENT) -> dict[str, Any]:
    return {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600,
            "scope": "launch patient/*.read", "patient": patient,
            "refresh_token": "SECRET-REFRESH-TOKEN"}


def test_a_launch_from_outside_the_allow_list_is_refused_and_contacts_nothing(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer = client.get("/smart/launch", query_string={
            "iss": "https://evil.example/fhir", "launch": "x"})
        assert len(mock.calls) == 0
    assert answer.status_code == 403
    page = answer.get_data(as_text=True)
    assert answer.mimetype == "text/html"
    assert "not in the service&#x27;s allow-list" in page
    assert "nothing was contacted" in page
    assert "Set-Cookie" not in answer.headers


@pytest.mark.parametrize("query", [{}, {"iss": "ftp://ehr.example/fhir"}, {"iss": "not a url"}])
def test_a_launch_needs_an_http_iss(client, query):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer = client.get("/smart/launch", query_string=query)
        assert len(mock.calls) == 0
    assert answer.status_code == 400


def test_the_ehr_launch_reaches_the_app_with_the_token_kept_server_side(app, client):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, json=token_answer())
        serve_fhir(mock, EHR, smart_resources())
        params = launch(client)
        assert params["client_id"] == ["vte-cds"]
        assert params["response_type"] == ["code"]
        assert params["redirect_uri"] == ["https://cds.example/smart/callback"]
        assert params["aud"] == [EHR]
        assert params["launch"] == ["launch-7"]
        assert params["scope"][0].split() == ["launch", "patient/*.read"]
        assert params["code_challenge_method"] == ["S256"]
        state = params["state"][0]

        answer = client.get("/smart/callback", query_string={"code": "code-1", "state": state})
        assert answer.status_code == 302
        assert answer.headers["Location"] == "/smart/app"
        form = parse_qs(mock.calls[1].request.body)
        assert form["grant_type"] == ["authorization_code"]
        assert form["code"] == ["code-1"]
        assert form["redirect_uri"] == ["https://cds.example/smart/callback"]
        assert len(form["code_verifier"][0]) >= 43

        page = fetch(client, "/smart/app")
        context = client.get("/smart/api/context")
        assessed = post(client, {"patient": SMART_PATIENT, "overrides": {"bmi": 27}})
        other = post(client, {"patient": "someone-else"})
        fhir_calls = [c for c in mock.calls if c.request.url.startswith(EHR + "/")
                      and ".well-known" not in c.request.url]

    assert page.status_code == 200
    assert context.get_json() == {"launch": True, "patient": SMART_PATIENT, "fhirServer": EHR,
                                  "demo": False}
    assert assessed.status_code == 200
    assert (mm(assessed)["points"], mm(assessed)["category"]) == (10.0, "high")
    assert other.status_code == 403
    # the chart was read from the launch's server with the token, nine queries once
    assert len(fhir_calls) == 9
    assert {c.request.headers["Authorization"] for c in fhir_calls} == {
        f"Bearer {ACCESS_TOKEN}"}
    # ... and the token never reached the browser: not in a page, an answer or the cookie
    for answer in (page, context, assessed, other):
        assert ACCESS_TOKEN not in answer.get_data(as_text=True)
        assert "SECRET-REFRESH-TOKEN" not in answer.get_data(as_text=True)
    cookie = client.get_cookie("session", path="/smart")
    assert cookie is not None
    assert ACCESS_TOKEN not in cookie.value
    serializer = app.session_interface.get_signing_serializer(app)
    assert set(serializer.loads(cookie.value)) == {smart.SESSION_KEY}


def test_the_standalone_launch_asks_for_a_patient(client):
    with responses.RequestsMock() as mock:
        smart_configuration(mock)
        answer = client.get("/smart/launch", query_string={"iss": EHR})
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert "launch" not in params
    assert params["scope"][0].split()[0] == "launch/patient"


def test_a_callback_with_another_state_is_refused_without_a_token_request(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, json=token_answer())
        launch(client)
        answer = client.get("/smart/callback", query_string={"code": "c", "state": "forged"})
        assert [c.request.method for c in mock.calls] == ["GET"]
    assert answer.status_code == 400
    assert "state mismatch" in answer.get_data(as_text=True)
    assert client.get("/smart/api/context").get_json()["launch"] is False


def test_a_callback_without_a_launch_is_refused(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer = client.get("/smart/callback", query_string={"code": "c", "state": "s"})
        assert len(mock.calls) == 0
    assert answer.status_code == 400
    assert "Launch the app again" in answer.get_data(as_text=True)


def test_an_authorization_error_is_shown(client):
    with responses.RequestsMock() as mock:
        smart_configuration(mock)
        state = launch(client)["state"][0]
    answer = client.get("/smart/callback", query_string={"error": "access_denied",
                                                          "state": state})
    assert answer.status_code == 400
    assert "access_denied" in answer.get_data(as_text=True)


def test_a_failed_token_exchange_is_a_502_page(client):
    with responses.RequestsMock() as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})
        state = launch(client)["state"][0]
        answer = client.get("/smart/callback", query_string={"code": "c", "state": state})
    assert answer.status_code == 502
    assert "token exchange" in answer.get_data(as_text=True)
    assert client.get("/smart/api/context").get_json()["launch"] is False


def test_a_token_without_a_patient_is_refused(client):
    with responses.RequestsMock() as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, json={"access_token": ACCESS_TOKEN,
                                                  "token_type": "Bearer"})
        state = launch(client)["state"][0]
        answer = client.get("/smart/callback", query_string={"code": "c", "state": state})
    assert answer.status_code == 400
    assert "no patient" in answer.get_data(as_text=True)
    assert ACCESS_TOKEN not in answer.get_data(as_text=True)


@pytest.mark.parametrize("status", [404, 500])
def test_a_server_without_smart_configuration_is_a_502_page(client, status):
    with responses.RequestsMock() as mock:
        smart_configuration(mock, status=status)
        answer = client.get("/smart/launch", query_string={"iss": EHR, "launch": "x"})
    assert answer.status_code == 502
    assert "smart-configuration" in answer.get_data(as_text=True)


def test_a_confidential_client_authenticates_at_the_token_endpoint(tmp_path):
    client = make_app(tmp_path, SMART_CLIENT_ID="cds-app",
                      SMART_CLIENT_SECRET="s3cret").test_client()
    with responses.RequestsMock() as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, json=token_answer())
        state = launch(client)["state"][0]
        client.get("/smart/callback", query_string={"code": "c", "state": state})
        sent = mock.calls[1].request.headers["Authorization"]
    assert sent.startswith("Basic ")


def test_the_session_is_kept_sealed_in_the_store_without_refresh_token_or_client_secret(tmp_path):
    app = make_app(tmp_path, SMART_CLIENT_SECRET="CLIENT-SECRET-77")
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        smart_configuration(mock)
        mock.add(responses.POST, TOKEN_URL, json=token_answer())
        serve_fhir(mock, EHR, smart_resources())
        state = launch(client)["state"][0]
        assert client.get("/smart/callback", query_string={"code": "c", "state": state}
                          ).status_code == 302
        # the client secret is still sent: it comes from the settings, not the store
        token_request = next(c.request for c in mock.calls if c.request.url == TOKEN_URL)
        assert token_request.headers["Authorization"].startswith("Basic ")
        assert post(client, {"patient": SMART_PATIENT}).status_code == 200
    db = tmp_path / "feedback.db"
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db.name))
    for secret in (ACCESS_TOKEN, "SECRET-REFRESH-TOKEN", "CLIENT-SECRET-77", SMART_PATIENT):
        assert secret.encode() not in raw
    with sqlite3.connect(db) as conn:
        [(key, value)] = conn.execute(
            "SELECT key, value FROM vte_state WHERE kind = 'smart-session'").fetchall()
    conn.close()
    cookie = client.get_cookie("session", path="/smart").value
    sid = app.session_interface.get_signing_serializer(app).loads(cookie)[smart.SESSION_KEY]
    assert sid not in key
    kept = json.loads(app.extensions["vte_cds"].shared.unseal(bytes(value)))
    assert kept["client_state"]["server"]["auth"]["access_token"] == ACCESS_TOKEN
    assert "refresh_token" not in kept["client_state"]["server"]["auth"]
    assert "app_secret" not in json.dumps(kept)
