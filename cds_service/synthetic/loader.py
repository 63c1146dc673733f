"""Load the synthetic patients into a FHIR R4 server.

``bundles()`` reads the transaction Bundles named in ``scenarios.toml`` (package data, read with
importlib.resources, so it works from a wheel as well as from a checkout). ``load_into(base,
session)`` POSTs each Bundle to the server's base URL. Every entry is ``PUT Type/id`` with a
fixed id, so loading twice leaves the same data. A server that refuses transactions (any error
status other than 401/403) gets each resource as its own ``PUT``, in Bundle order (Patient
first, so references resolve). The ids of the Patients loaded are returned.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import requests

PACKAGE = "cds_service.synthetic"
INDEX = "scenarios.toml"
DRAFTS = "drafts.json"
FHIR_JSON = "application/fhir+json"
_NO_FALLBACK = (401, 403)  # the credentials are refused: single PUTs would be refused too


class LoadError(RuntimeError):
    """The FHIR server did not store a synthetic Bundle."""


@dataclass(frozen=True)
class CardExpectation:
    """What one card must show; only the keys given are checked (see scenarios.toml)."""

    kind: str
    checks: Mapping[str, Any]


@dataclass(frozen=True)
class HookExpectation:
    """The cards one hook call must return for a scenario."""

    hook: str
    kinds: tuple[str, ...]
    cards: tuple[CardExpectation, ...]
    drafts: str | None = None
    name: str = ""
    known_issue: str | None = None


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    description: str
    patient: str
    bundle: str
    cards_say: str
    expect: tuple[HookExpectation, ...] = field(default_factory=tuple)


def _text(name: str) -> str:
    return (resources.files(PACKAGE) / name).read_text("utf-8")


def index() -> dict[str, Any]:
    """``scenarios.toml`` as parsed TOML."""
    return tomllib.loads(_text(INDEX))


def scenarios() -> list[Scenario]:
    """Every scenario of ``scenarios.toml``, in file order."""
    out = []
    for raw in index()["scenario"]:
        expect = tuple(
            HookExpectation(
                hook=str(e["hook"]),
                kinds=tuple(str(k) for k in e.get("kinds", ())),
                cards=tuple(CardExpectation(str(c["kind"]),
                                            {k: v for k, v in c.items() if k != "kind"})
                            for c in e.get("card", ())),
                drafts=str(e["drafts"]) if "drafts" in e else None,
                name=str(e.get("name", "")),
                known_issue=str(e["known_issue"]) if "known_issue" in e else None)
            for e in raw.get("expect", ()))
        out.append(Scenario(id=str(raw["id"]), title=str(raw["title"]),
                            description=str(raw["description"]), patient=str(raw["patient"]),
                            bundle=str(raw["bundle"]), cards_say=str(raw["cards_say"]),
                            expect=expect))
    return out


def bundles() -> dict[str, dict[str, Any]]:
    """Scenario id -> its FHIR R4 transaction Bundle (parsed JSON), in scenarios.toml order."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in scenarios():
        data = json.loads(_text(scenario.bundle))
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            raise LoadError(f"{scenario.bundle} is not a FHIR Bundle")
        out[scenario.id] = data
    return out


def drafts() -> dict[str, list[dict[str, Any]]]:
    """Draft-order set name -> the draft resources an order-select/order-sign call carries."""
    data = json.loads(_text(DRAFTS))
    if not isinstance(data, dict):
        raise LoadError(f"{DRAFTS} must map names to lists of resources")
    return {str(k): list(v) for k, v in data.items()}


def patient_ids(bundle: Mapping[str, Any]) -> list[str]:
    """The ids of the Patient resources in a Bundle."""
    return [str(e["resource"]["id"]) for e in bundle.get("entry", [])
            if e.get("resource", {}).get("resourceType") == "Patient"]


def load_into(base_url: str, session: requests.Session, timeout: float = 10) -> list[str]:
    """Store every synthetic patient on the FHIR server at ``base_url``; their Patient ids.

    Raises LoadError when the server stores neither the transaction nor the single resources.
    """
    base = base_url.rstrip("/")
    loaded: list[str] = []
    for scenario_id, bundle in bundles().items():
        status, why = _post_transaction(base, session, bundle, timeout)
        if status is not None and status in _NO_FALLBACK:
            raise LoadError(f"{scenario_id}: the server refused the transaction ({status}): "
                            f"{why}")
        if status is not None:
            _put_each(base, session, bundle, timeout, scenario_id, f"{status} {why}")
        loaded += [p for p in patient_ids(bundle) if p not in loaded]
    return loaded


def _headers() -> dict[str, str]:
    return {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


def _post_transaction(base: str, session: requests.Session, bundle: Mapping[str, Any],
                      timeout: float) -> tuple[int | None, str]:
    """(None, '') when the server stored the transaction, else (status, why not)."""
    try:
        response = session.post(base, data=json.dumps(bundle).encode("utf-8"),
                                headers=_headers(), timeout=timeout)
    except requests.RequestException as exc:
        raise LoadError(f"cannot reach the FHIR server at {base}: {exc}") from exc
    body = _json(response)
    if response.status_code not in (200, 201):
        return response.status_code, _diagnostics(body)
    if not isinstance(body, dict) or body.get("type") != "transaction-response":
        return response.status_code, "the answer is not a transaction-response Bundle"
    failed = [str(e.get("response", {}).get("status")) for e in body.get("entry", [])
              if not str(e.get("response", {}).get("status", "")).startswith("2")]
    if failed:  # a conformant server rolls back; some servers answer per entry instead
        return response.status_code, "entries answered " + ", ".join(failed)
    return None, ""


def _put_each(base: str, session: requests.Session, bundle: Mapping[str, Any], timeout: float,
              scenario_id: str, transaction_said: str) -> None:
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        url = f"{base}/{resource['resourceType']}/{resource['id']}"
        try:
            response = session.put(url, data=json.dumps(resource).encode("utf-8"),
                                   headers=_headers(), timeout=timeout)
        except requests.RequestException as exc:
            raise LoadError(f"cannot reach the FHIR server at {base}: {exc}") from exc
        if response.status_code not in (200, 201):
            raise LoadError(
                f"{scenario_id}: transaction refused ({transaction_said}); PUT "
                f"{resource['resourceType']}/{resource['id']} answered "
                f"{response.status_code}: {_diagnostics(_json(response))}")


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _diagnostics(body: Any) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(str(i.get("diagnostics") or i.get("code"))
                         for i in body.get("issue", []) if isinstance(i, dict))[:500]
    return "" if body is None else json.dumps(body)[:200]
