"""Card text in both languages: the gettext catalogues (hooks/locale), the clinical tables'
labels, the language each request gets, and what the scenarios' summaries look like."""

from __future__ import annotations

import ast
import io
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import get_args

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from cds_service.app import create_app
from hooks import i18n
from hooks.base import messages, msg, orders
from tests.cds_service.scenarios import SCENARIOS, TODAY, _myeloma, request
from vte_rules import cmvt, duration
from vte_rules.regimens import Regimen
from vte_rules.tables import TABLE_NAMES, load_factor_catalogue, load_table

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Latin words a Chinese clinical text keeps as they are: abbreviations, units, rule-id prefixes;
# the names the Chinese sources themselves keep (Wells, IMPROVE, CR/sCR, CKD-EPI); the letters of
# D-二聚体, M蛋白, 维生素K and A4.
LATIN_IN_CHINESE = {"VTE", "MM", "INR", "eGFR", "GFR", "Xa", "mg", "kg", "mL", "L", "d",
                    "ADJ", "CMVT", "cm", "mm", "dL", "ng", "FEU", "DDU", "CR", "sCR", "Wells",
                    "IMPROVE", "CKD", "EPI", "D", "M", "K", "A"}
# Messages with no word to translate: a sign, or punctuation around placeholders.
NOT_WORDS = {("detail", "no_evidence"), ("page", "score_line"), ("page", "plan_line")}


def catalogues() -> dict[str, Catalog]:
    return {lang: i18n.read_catalogue(locale) for lang, locale in i18n.LOCALES.items()}


RULE_ID = re.compile(r"\b[A-Z]+(?:-[A-Z0-9]+)*-\d+(?:/\d+)*\b")  # MM-T5-27, BLEED-04/11


def latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", RULE_ID.sub("", PLACEHOLDER.sub("", text))))


# --- the catalogues ------------------------------------------------------------------------

def test_every_message_has_both_languages_and_the_same_placeholders():
    assert i18n.problems(catalogues()) == []


def test_template_and_both_catalogues_hold_the_same_messages_in_the_same_order():
    pot = list(i18n.entries(i18n.read_catalogue(None)))
    for lang, catalogue in catalogues().items():
        assert list(i18n.entries(catalogue)) == pot, f"{lang} catalogue differs from the POT"
    assert not any(i18n.read_catalogue(None).obsolete), "drop the obsolete (#~) entries"


def test_the_chinese_catalogue_is_chinese():
    english = i18n.entries(catalogues()["en"])
    for key, message in i18n.entries(catalogues()["zh"]).items():
        if key in NOT_WORDS:
            continue
        zh = str(message.string)
        assert CJK.search(zh), f"{key}: no Chinese in {zh!r}"
        assert zh != english[key].string, f"{key}: the Chinese is the English"
        assert latin_words(zh) <= LATIN_IN_CHINESE, \
            f"{key}: untranslated English {sorted(latin_words(zh) - LATIN_IN_CHINESE)} in {zh!r}"


def test_placeholders_are_python_format_names_identical_in_both_languages():
    english, chinese = (i18n.entries(c) for c in catalogues().values())
    for key, message in english.items():
        names = i18n.placeholders(str(message.string))
        assert names == i18n.placeholders(str(chinese[key].string)), key
        assert all(n.isidentifier() for n in names), f"{key}: placeholders {names}"


def _catalogue(locale: str, *entries: tuple[str, str, str, bool]) -> Catalog:
    out = Catalog(locale=locale, domain=i18n.DOMAIN)
    for ctx, key, text, fuzzy in entries:
        out.add(key, text, context=ctx, flags=("fuzzy",) if fuzzy else ())
    return out


def test_a_catalogue_that_lacks_a_language_is_refused_with_the_reason():
    en = _catalogue("en", ("tiers", "high", "High VTE risk", False),
                    ("summary", "mm", "{tier} (score {points})", False),
                    ("labels", "new", "New label", False),
                    ("labels", "draft", "Draft", False))
    zh = _catalogue("zh_Hans", ("tiers", "high", "", False),
                    ("summary", "mm", "{tier}（{score}分）", False),
                    ("labels", "draft", "草稿", True),
                    ("labels", "only_zh", "仅中文", False))
    found = i18n.problems({"en": en, "zh": zh})
    assert found == [
        "msgctxt 'labels' msgid 'draft': the zh text is fuzzy (review it, then drop the flag)",
        "msgctxt 'labels' msgid 'new': no zh text",
        "msgctxt 'labels' msgid 'only_zh': no en text",
        "msgctxt 'summary' msgid 'mm': placeholders differ: {'en': ['points', 'tier'], "
        "'zh': ['score', 'tier']}",
        "msgctxt 'tiers' msgid 'high': no zh text"]


def test_the_template_is_up_to_date_with_the_code(tmp_path, monkeypatch):
    """What `pybabel extract` makes now (docs/translations.md) is what hooks/locale holds."""
    out = tmp_path / "vte_cds.pot"
    monkeypatch.chdir(ROOT)
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(out),
                                "hooks"])
    def comments(catalogue: Catalog) -> dict[i18n.Key, str]:  # as wrapped on any width
        return {k: " ".join(" ".join(m.auto_comments).split())
                for k, m in i18n.entries(catalogue).items()}

    with out.open("rb") as f:
        fresh = comments(read_po(f))
    shipped = comments(i18n.read_catalogue(None))
    assert sorted(set(fresh) - set(shipped)) == [], "messages the code uses are not in the POT"
    assert sorted(set(shipped) - set(fresh)) == [], "the POT has messages the code never uses"
    stale = sorted(k for k in fresh if fresh[k] != shipped[k])
    assert stale == [], "English comments in the POT are stale: run extract and update"


def test_extraction_sees_calls_in_f_strings_and_skips_non_literal_keys():
    source = (b'x = f"{msg(\'detail\', \'duration\').text(lang)}"\n'
              b'y = msg("vte_words", "dvt_pe" if a else "pe")\n'
              b'z = messages()["detail"]["no_evidence"]["en"]\n')
    found = [(line, keys) for line, _, keys, _ in i18n.extract_python(
        io.BytesIO(source), ["msg"], [], {})]
    assert found == [(1, ("detail", "duration")), (3, ("detail", "no_evidence"))]


def test_every_run_time_value_has_its_message_and_no_more():
    def keys(section: str) -> set[str]:
        return {k for s, k in i18n.texts() if s == section}

    tiers = {t.category for scheme in load_table("mm_vte").tiers.values() for t in scheme}
    assert keys("tiers") == tiers
    assert keys("short") == {r.value for r in Regimen}
    assert keys("duration_short") == set(duration.ACTIONS)
    assert keys("risk_words") == set(get_args(cmvt.Risk))
    raw = tomllib.loads((resources.files("hooks") / "orders.toml").read_text("utf-8"))
    for table, ctx in i18n.ORDER_CONTEXTS.items():
        assert keys(ctx) == set(raw[table]), table
        assert all("text" not in spec for spec in raw[table].values()), "text is in hooks/locale"
        for name, spec in orders()[table].items():
            assert set(spec["text"]) == {"en", "zh"}, name
            assert all(spec["text"].values()), name


def test_every_run_time_key_is_named_somewhere_in_the_card_builders():
    literals = set()
    for path in (ROOT / "hooks").glob("*.py"):
        if path.name != "i18n.py":
            literals |= {n.value for n in ast.walk(ast.parse(path.read_text("utf-8")))
                         if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    by_value = {"tiers", "short", "duration_short", "risk_words", "override_reasons"}
    unused = [k for k in i18n.RUNTIME_KEYS if k[0] not in by_value and k[1] not in literals]
    assert unused == []


def test_the_hooks_api_keeps_its_shape():
    assert msg("summary", "mm", tier="T", points=3, options="O").zh == "T（3分）：O"
    assert list(messages()["override_reasons"]) == [
        "already_on_anticoagulant", "bleeding_concern", "data_incorrect", "patient_declined",
        "clinical_judgement", "not_now", "prophylaxis_elsewhere", "other_indication",
        "renal_function_checked", "benefit_outweighs_bleeding", "dose_intended",
        "high_risk_documented_elsewhere", "lmwh_elsewhere", "switching_agent"]
    assert set(messages()["override_reasons"]["not_now"]) == {"en", "zh"}
    with pytest.raises(KeyError, match="msgctxt 'tiers' msgid 'moderate'"):
        msg("tiers", "moderate")


# --- the clinical tables keep their own labels (vte_rules), in both languages ----------------

def _labels(node: object, path: str):
    if isinstance(node, dict):
        if "en" in node or "zh" in node:
            yield path, node
        for key, value in node.items():
            if not (key in ("en", "zh") and isinstance(value, str)):
                yield from _labels(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _labels(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", [*TABLE_NAMES, "factors"])
def test_every_table_label_has_english_and_chinese(name):
    raw = tomllib.loads((resources.files("vte_rules") / "tables" / f"{name}.toml")
                        .read_text("utf-8"))
    found = list(_labels(raw, name))
    assert found
    for path, label in found:
        en, zh = label.get("en"), label.get("zh")
        assert isinstance(en, str), f"{path}: no English"
        assert en.strip(), f"{path}: no English"
        assert isinstance(zh, str), f"{path}: no Chinese"
        assert zh.strip(), f"{path}: no Chinese"
        words = re.sub(r"[^A-Za-z]", "", PLACEHOLDER.sub("", zh))
        if words:  # a label that is not purely a code, a number or placeholders
            assert CJK.search(zh), f"{path}: Chinese label without Chinese: {zh!r}"


def test_every_factor_label_has_english_and_chinese():
    for name, spec in load_factor_catalogue().items():
        assert spec.label.en.strip(), name
        assert CJK.search(spec.label.zh), name


# --- what a request gets ---------------------------------------------------------------------

def _app(tmp_path, **config):
    return create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                       "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db", "FHIR_ALLOWLIST": "",
                       **config})


def _summaries(client, body, service="vte-patient-view", **headers):
    response = client.post(f"/cds-services/{service}", json=body, headers=headers)
    assert response.status_code == 200
    return [c["summary"] for c in response.json["cards"]]


@pytest.mark.parametrize(("accept", "default", "chinese"), [
    ("zh-CN,zh;q=0.9", "en", True), ("zh-Hans", "en", True), ("zh", "en", True),
    ("en-US,en;q=0.9", "zh", False), ("fr, zh-CN;q=0.5", "en", True),
    (None, "zh", True), (None, "en", False), ("fr", "zh", True), ("fr", "en", False)])
def test_accept_language_first_then_the_deployment_language(tmp_path, accept, default,
                                                             chinese):
    client = _app(tmp_path, LANGUAGE=default).test_client()
    headers = {"Accept-Language": accept} if accept else {}
    (summary,) = _summaries(client, SCENARIOS["cmvt_low_risk"][0](), **headers)
    assert bool(CJK.search(summary)) is chinese


def test_the_deployment_language_comes_from_vte_cds_language(tmp_path, monkeypatch):
    monkeypatch.setenv("VTE_CDS_LANGUAGE", "zh")
    client = create_app({"AUTH": "off", "TODAY": TODAY, "FHIR_ALLOWLIST": "",
                         "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db"}).test_client()
    (summary,) = _summaries(client, SCENARIOS["cmvt_low_risk"][0]())
    assert summary.startswith("小腿肌间静脉血栓")


@pytest.mark.parametrize("accept", ["en", "zh-CN"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_summary_fits_in_140_characters_uncut(client, name, accept):
    build, service = SCENARIOS[name]
    summaries = _summaries(client, build(), service, **{"Accept-Language": accept})
    assert summaries
    for summary in summaries:
        assert len(summary) < 140, summary
        assert not summary.endswith("…"), f"cut to fit: {summary}"
        assert bool(CJK.search(summary)) is (accept == "zh-CN"), summary


def test_a_below_threshold_summary_is_all_chinese(client):
    pre = _myeloma("mm-low", meds=[])
    pre["observations"]["entry"] = [e for e in pre["observations"]["entry"]
                                    if e["resource"]["id"] != "mm-low-fh"]
    (summary,) = _summaries(client, request("patient-view", "mm-low", pre),
                            **{"Accept-Language": "zh-CN"})
    assert summary.startswith("已记录VTE评分")
    assert latin_words(summary) <= LATIN_IN_CHINESE, summary


def test_chinese_bold_closes_before_full_width_punctuation():
    """CommonMark does not close ``**`` that follows punctuation and precedes a letter, so
    ``**建议：**依诺肝素`` shows its asterisks (seen in the CDS Hooks sandbox): the colon goes
    after the closing ``**``."""
    chinese = catalogues()["zh"]
    bad = [m.id for m in chinese if m.id and isinstance(m.string, str) and
           re.search(r"[：，。；、（）]\*\*[^\s：，。；、（）*]", m.string)]
    assert bad == []
