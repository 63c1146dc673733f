"""A card in Chinese is Chinese throughout.

Every chart the project holds (the synthetic patients and the review charts) goes through all
three hooks with ``Accept-Language: zh-CN``. No card's summary, detail, suggestion or link label,
action description, override reason or source may carry a Latin word of the service's own
beyond those Chinese clinical text keeps as they are: drug names, units, abbreviations, rule ids
and code system names. What a card quotes from the record (a medication's text, a resource id)
is the record's, shown as written, and is not the service's to translate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cds_service.all_charts import Call, calls
from tests.clinical_review.test_review_charts import clients_by_day

RULE_ID = re.compile(r"(?<![A-Za-z])[A-Z]+(?:-[A-Z0-9]+)*-\d+(?![A-Za-z0-9])")  # ADJ-02
REFERENCE = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")  # Observation/obs-egfr
WORD = re.compile(r"[A-Za-z]+")
# Kept as they are in Chinese clinical text.
DRUGS = {"aspirin", "warfarin", "rivaroxaban", "enoxaparin", "dalteparin", "nadroparin",
         "heparin", "apixaban", "dabigatran", "edoxaban", "fondaparinux", "lenalidomide",
         "thalidomide", "pomalidomide", "dexamethasone", "bortezomib", "daratumumab",
         "carfilzomib", "ixazomib"}
UNITS = {"mg", "kg", "g", "mL", "ml", "L", "dL", "d", "h", "min", "m", "U", "IU", "cm", "mm",
         "x", "umol", "mmol", "FEU", "DDU"}
ABBREVIATIONS = {"VTE", "MM", "INR", "eGFR", "GFR", "LMWH", "DOAC", "IMiD", "DVT", "PE", "ICU",
                 "CR", "sCR", "Xa", "BMI", "CMVT", "ADJ", "ACCP", "IMPROVE", "CKD", "EPI",
                 "D", "M"}  # D-二聚体, M蛋白
CODE_SYSTEMS = {"LOINC", "SNOMED", "CT", "ICD", "RxNorm", "ATC", "FHIR", "UCUM"}
ALLOWED = DRUGS | UNITS | ABBREVIATIONS | CODE_SYSTEMS


def texts(card: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every text of a card a clinician reads, named by where it is."""
    yield "summary", card["summary"]
    yield "detail", card.get("detail", "")
    yield "source", card["source"]["label"]
    for reason in card.get("overrideReasons", []):
        yield "overrideReasons", reason["display"]
    for link in card.get("links", []):
        yield "links", link["label"]
    for suggestion in card.get("suggestions", []):
        yield "suggestions", suggestion["label"]
        for action in suggestion["actions"]:
            yield "actions", action["description"]


def record_texts(call: Call) -> list[str]:
    """The free texts of the resources sent (names, displays, dosage texts), longest first."""
    found: set[str] = set()

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("text", "display", "name") and len(node) > 2:
            found.add(node)

    walk(list(call.resources))
    return sorted(found, key=len, reverse=True)


def english_words(text: str, quoted: list[str]) -> set[str]:
    for piece in quoted:
        text = text.replace(piece, " ")
    text = RULE_ID.sub(" ", REFERENCE.sub(" ", text))
    return {w for w in WORD.findall(text) if w not in ALLOWED and w.lower() not in DRUGS}


CALLS = calls()


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> Any:
    return clients_by_day(tmp_path_factory, "zh")


def test_every_card_of_every_chart_and_hook_is_chinese_throughout(clients: Any) -> None:
    english: dict[str, set[str]] = {}
    cards = 0
    for call in CALLS:
        response = clients(call.as_of).post(f"/cds-services/{call.service}", json=call.body,
                                            headers={"Accept-Language": "zh-CN"})
        assert response.status_code == 200, (call.name, response.json)
        quoted = record_texts(call)
        for card in response.json["cards"]:
            cards += 1
            for where, text in texts(card):
                words = english_words(text, quoted)
                if words:
                    english.setdefault(f"{call.name} {where}", set()).update(words)
    assert cards > 150  # every chart, three hooks: the test reads real cards
    assert english == {}


def test_the_check_sees_english_that_a_chinese_card_must_not_carry() -> None:
    card = {"summary": "VTE高危（10分）", "detail": "- 推定: cycle length not recorded",
            "source": {"label": "共识"}}
    words = {w for _, t in texts(card) for w in english_words(t, [])}
    assert words == {"cycle", "length", "not", "recorded"}
    quoted = english_words("已使用warfarin sodium 3 MG Oral Tablet（Observation/obs-1）",
                           ["warfarin sodium 3 MG Oral Tablet"])
    assert quoted == set()
