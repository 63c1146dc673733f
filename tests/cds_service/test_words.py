"""What the mapper and the rules assumed: message keys in the facts, words in the views.

The facts carry no sentence (vte_rules.facts.Message); hooks/words.py words each message in
the card's language, and the assessment document keeps the English the mapper used to write.
"""

from __future__ import annotations

import ast
import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from cds_service.app import create_app
from fhir_mappers.chart import map_chart
from hooks import i18n, words
from tests.cds_service.all_charts import calls
from tests.cds_service.scenarios import TODAY, _myeloma, med, request
from tests.cds_service.test_short_cards import link_document
from vte_rules.facts import Message
from vte_rules.tables import load_table

ROOT = Path(__file__).resolve().parents[2]


def literal_keys() -> set[str]:
    """The keys the mapper and the rules name in ``Message.of("key", ...)``."""
    found = set()
    for package in ("fhir_mappers", "vte_rules"):
        for path in (ROOT / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "of" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "Message" and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    found.add(str(node.args[0].value))
    return found


def data_keys() -> set[str]:
    """The keys tables and code name through data or a variable."""
    units = tomllib.loads((resources.files("fhir_mappers") / "units.toml").read_text("utf-8"))
    rows = [r.extra.get("absent_reading") for r in load_table("cmvt").rows]
    return {units["d_dimer"]["ddu_assumption"], *(r for r in rows if r),
            "cycle_from_text", "cycle_from_outer_timing",
            "glucocorticoid_per_cycle_as_dexamethasone", "glucocorticoid_as_dexamethasone"}


def test_every_key_the_mapper_or_a_rule_can_say_has_english_and_chinese():
    keys = literal_keys() | data_keys()
    assert len(keys) > 40
    worded = {k for s, k in i18n.RUNTIME_KEYS + words.KEYS if s == "reading"}
    assert keys - worded == set()
    for key in keys:
        assert i18n.label("reading", key).zh, key


def test_every_assumption_of_every_chart_is_worded_in_both_languages():
    said: set[Message] = set()
    for call in calls():
        if call.body["hook"] == "patient-view":
            chart = map_chart(*call.body["prefetch"].values(),
                              as_of=dt.date.fromisoformat(call.as_of),
                              patient_id=call.body["context"]["patientId"])
            said |= {m for f in chart.facts.values() for m in f.assumption or ()}
    assert {m.key for m in said} >= {"not_on_problem_list", "cycle_from_text",
                                     "schedule_without_end"}
    for message in said:
        assert words.worded(message).zh, message


def test_a_message_reads_as_the_mapper_used_to_write_it_and_in_chinese():
    cycle = Message.of("cycle_assumed", days=28, why="consensus_example_cycle")
    schedule = Message.of("schedule_without_end", days=28).on("MedicationRequest/dex-1")
    assert words.english((cycle, schedule)) == (
        "cycle length not recorded: 28 days assumed (the consensus's example cycle); "
        "MedicationRequest/dex-1: no end to the schedule: counted through the whole 28-day cycle")
    assert words.text((cycle, schedule), "zh") == (
        "未记录周期长度：按28天计（共识举例的周期）；"
        "MedicationRequest/dex-1：给药方案无结束日期：按整个28天周期计算")
    # a value that is itself a word (a FHIR status) is translated, a number is not
    remission = Message.of("recorded_as_status_within", status="remission", days=180)
    assert words.text((remission,), "en") == "recorded as remission within the last 180 days"
    assert words.text((remission,), "zh") == "180天内记录为缓解"


def test_a_text_a_facts_document_gives_stays_as_given():
    given = Message.of("given", text="judged by the ward team")
    assert words.text((given,), "zh") == "judged by the ward team"


def test_a_chinese_order_card_says_in_chinese_what_was_assumed(client):
    pid = "mm-asa"
    aspirin = med(pid, "draft-asa", "1191", "aspirin", status="draft", dose_mg=100)
    body = request("order-sign", pid, _myeloma(pid), [aspirin])
    (card,) = client.post("/cds-services/vte-order-sign", json=body,
                          headers={"Accept-Language": "zh-CN"}).json["cards"]
    # the order card is short (tier, deciding items, options, bleeding); what was assumed is on
    # the link page, in the card's language
    assert "cycle length" not in card["detail"]
    assert "每周期地塞米松总量120～160 mg" in card["detail"]
    path = card["links"][0]["url"].split("https://cds.example", 1)[-1]
    page = client.get(path + "?lang=zh").get_data(as_text=True)
    assert "未记录周期长度" in page
    assert "cycle length" not in page


def test_the_link_document_keeps_the_english_it_always_had(tmp_path):
    app: Any = create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                           "DATABASE_URL": f"sqlite:///{tmp_path}/f.db", "FHIR_ALLOWLIST": ""})
    client = app.test_client()
    (card,) = client.post("/cds-services/vte-patient-view",
                          json=request("patient-view", "mm-rd", _myeloma("mm-rd"))).json["cards"]
    items = {i["rule"]: i for i in link_document(client, card)["scores"]["mm_vte"]["items"]}
    assert items["MM-T5-21"]["assumption"] == (
        "cycle length not recorded: 28 days assumed (the consensus's example cycle); "
        "MedicationRequest/mm-rd-dex: no end to the schedule: counted through the whole "
        "28-day cycle")
    assert items["MM-T5-14"]["assumption"] == "not on the problem list"
