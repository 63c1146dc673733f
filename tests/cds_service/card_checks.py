"""Checks every card against the CDS Hooks 2.0 card rules, and every suggested resource
against the FHIR R4B model."""

from __future__ import annotations

import uuid

from fhir.resources.R4B import get_fhir_model_class


def assert_valid_card(card):
    assert set(card) <= {"uuid", "summary", "detail", "indicator", "source", "suggestions",
                         "selectionBehavior", "overrideReasons", "links", "extension"}
    uuid.UUID(card["uuid"])
    assert isinstance(card["summary"], str)
    assert 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"]
    assert isinstance(card["detail"], str)
    for reason in card["overrideReasons"]:
        assert {"code", "system", "display"} <= set(reason)
    if card.get("suggestions"):
        assert card["selectionBehavior"] in ("at-most-one", "any")
        ids = [s["uuid"] for s in card["suggestions"]]
        assert len(set(ids)) == len(ids)
        for s in card["suggestions"]:
            assert s["label"]
            uuid.UUID(s["uuid"])
            for action in s["actions"]:
                assert action["type"] in ("create", "update", "delete")
                assert action["description"]
                if action["type"] == "delete":
                    assert isinstance(action["resourceId"], str)
                    assert "/" in action["resourceId"]
                else:
                    res = action["resource"]
                    get_fhir_model_class(res["resourceType"]).model_validate(res)
    for link in card.get("links", []):
        assert link["type"] in ("absolute", "smart")
        assert link["label"]
        assert link["url"].startswith("https://")
