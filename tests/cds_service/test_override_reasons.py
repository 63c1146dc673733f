"""Override reasons fit the card (issue 12): a dose card asks whether the dose was meant, an
aspirin card whether it is for another indication, and only the patient-view cards offer
"not now" (the snooze)."""

from __future__ import annotations

from hooks.base import CARD_KINDS, card_kind, messages
from hooks.cards import override_reasons
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

PATIENT_VIEW_KINDS = {"mm-prophylaxis", "cmvt", "vte-treatment"}


def test_every_card_kind_has_reasons_that_exist_in_both_languages():
    for kind in CARD_KINDS:
        en, zh = override_reasons("en", kind), override_reasons("zh", kind)
        assert en, kind
        assert len(en) == len(zh), kind
        assert all(r["code"] in messages()["override_reasons"] for r in en)
        assert en[-1]["code"] == "clinical_judgement", kind  # the catch-all comes last


def test_only_patient_view_cards_offer_the_snooze():
    for kind in CARD_KINDS:
        codes = {r["code"] for r in override_reasons("en", kind)}
        assert ("not_now" in codes) == (kind in PATIENT_VIEW_KINDS), kind


def test_an_order_dose_card_does_not_offer_already_anticoagulated():
    codes = [r["code"] for r in override_reasons("en", "order-renal")]
    assert codes[0] == "renal_function_checked"
    assert "already_on_anticoagulant" not in codes


def test_the_myeloma_card_carries_its_own_reasons_in_chinese(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    (card,) = client.post("/cds-services/vte-patient-view", json=body,
                          headers={"Accept-Language": "zh-CN"}).json["cards"]
    assert card_kind(card["uuid"]) == "mm-prophylaxis"
    assert [r["code"] for r in card["overrideReasons"]] == [
        r["code"] for r in override_reasons("zh", "mm-prophylaxis")]
    assert "暂不处理：稍后提醒" in [r["display"] for r in card["overrideReasons"]]


def test_the_feedback_report_still_knows_every_reason():
    assert {r["code"] for r in override_reasons("en")} >= {
        r["code"] for kind in CARD_KINDS for r in override_reasons("en", kind)}
