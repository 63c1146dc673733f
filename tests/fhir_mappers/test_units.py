"""FHIR Quantity units are brought to each factor's unit, or refused; never guessed."""

from __future__ import annotations

import ast
import math
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from fhir_mappers import units
from fhir_mappers.units import (
    UCUM_SYSTEM,
    Normalised,
    UnitProblem,
    UnitsTableError,
    d_dimer_feu_from_loinc,
    normalise,
)
from vte_rules.facts import Message
from vte_rules.tables import load_factor_catalogue

LOCAL_SYSTEM = "http://lab.example.org/units"


def ok(kind: str, value: float, unit: str | None = None, code: str | None = None,
       system: str | None = None, feu: bool | None = None) -> Normalised:
    result = normalise(kind, value, unit, code, system, feu=feu)
    assert isinstance(result, Normalised), result
    return result


def problem(kind: str, value: float, unit: str | None = None, code: str | None = None,
            system: str | None = None, feu: bool | None = None) -> UnitProblem:
    result = normalise(kind, value, unit, code, system, feu=feu)
    assert isinstance(result, UnitProblem), result
    assert result.kind == kind
    return result


# ------------------------------------------------------------------------------- platelets


def test_platelets_in_10_3_per_ul_are_the_same_number_in_10_9_per_l():
    result = ok("platelets", 212, "10*3/uL", "10*3/uL", UCUM_SYSTEM)
    assert result == Normalised(212.0, "10*9/L", "10*3/uL", ())


@pytest.mark.parametrize("spelling", ["10*9/L", "10^9/L", "10^3/uL", "10^3/µL", "10^3/μL",
                                      "K/uL", "x10E3/uL", "1000/uL", "10*3/mm3", "G/L",
                                      "x10^9/L", "10^9/l"])
def test_platelet_spellings_meaning_10_9_per_l_keep_the_number(spelling):
    result = ok("platelets", 45, spelling)
    assert result.value == 45
    assert result.unit == "10*9/L"
    assert result.assumptions == ()


@pytest.mark.parametrize("spelling", ["/uL", "/µL", "/mm3"])
def test_platelets_counted_per_ul_or_mm3_are_divided_by_1000(spelling):
    assert ok("platelets", 150000, spelling).value == pytest.approx(150)


def test_platelets_in_g_per_l_are_a_problem_because_lowercase_g_is_gram_not_giga():
    result = problem("platelets", 150, "g/L")
    assert "letter case" in result.reason
    assert problem("platelets", 150, "g/l").unit == "g/l"


def test_platelets_in_upper_case_k_per_ul_are_read_with_the_case_noted():
    result = ok("platelets", 150, "K/UL")
    assert result.value == 150
    assert result.assumptions == (Message.of("unit_letter_case", what="unit", unit="'K/UL'",
                                             spelling="'10*9/L'"),)


# ------------------------------------------------------------------------------ creatinine


@pytest.mark.parametrize("spelling", ["umol/L", "µmol/L", "μmol/L", "umol/l", "µmol / L"])
def test_creatinine_in_umol_per_l_is_divided_by_88_4(spelling):
    result = ok("creatinine", 88.4, spelling)
    assert result.value == pytest.approx(1.0)
    assert result.unit == "mg/dL"
    assert result.original == spelling
    assert result.assumptions == ()
    assert ok("creatinine", 106.08, spelling).value == pytest.approx(1.2)


def test_creatinine_in_mmol_per_l_is_not_confused_with_umol_per_l():
    assert ok("creatinine", 0.0884, "mmol/L").value == pytest.approx(1.0)
    assert ok("creatinine", 0.0884, "umol/L").value == pytest.approx(0.001)


def test_creatinine_in_mg_per_dl_is_unchanged():
    assert ok("creatinine", 0.9, "mg/dL", "mg/dL", UCUM_SYSTEM) == Normalised(
        0.9, "mg/dL", "mg/dL", ())
    assert ok("creatinine", 0.9, "mg/dl").assumptions == ()  # l and L are both litre in UCUM


def test_creatinine_in_shouted_mg_per_dl_is_accepted_and_the_case_is_noted():
    result = ok("creatinine", 1.1, "MG/DL")
    assert result.value == 1.1
    assert result.assumptions == (Message.of("unit_letter_case", what="unit", unit="'MG/DL'",
                                             spelling="'mg/dL'"),)


# ---------------------------------------------------------------------------- unknown units


@pytest.mark.parametrize(("kind", "unit"), [("creatinine", "nmol/L"), ("creatinine", "mg/L"),
                                            ("egfr", "mL/min"), ("haemoglobin", "mmol/L"),
                                            ("weight", "stone"), ("platelets", "furlongs")])
def test_unknown_unit_is_a_problem_not_a_guess(kind, unit):
    result = problem(kind, 1, unit)
    assert result.unit == unit
    assert "unrecognised" in result.reason


def test_missing_unit_is_a_problem_except_for_a_dimensionless_inr():
    assert problem("creatinine", 1.0).reason == "no unit given for creatinine"
    assert problem("creatinine", 1.0, "  ").unit is None
    assert ok("inr", 2.4) == Normalised(2.4, "1", "", ())
    assert ok("inr", 2.4, "").value == 2.4


@pytest.mark.parametrize("spelling", ["1", "{INR}", "{ratio}", "INR"])
def test_inr_dimensionless_spellings_keep_the_number(spelling):
    assert ok("inr", 2.5, spelling, spelling, UCUM_SYSTEM).value == 2.5


def test_inr_in_seconds_is_a_problem():
    assert problem("inr", 14.2, "s", "s", UCUM_SYSTEM).unit == "s"


# -------------------------------------------------------------------------------- D-dimer


def test_d_dimer_in_ng_per_ml_ddu_is_doubled_to_feu_and_says_so():
    result = ok("d_dimer", 250, "ng/mL DDU")
    assert result.value == pytest.approx(0.5)
    assert result.unit == "mg/L FEU"
    assert result.original == "ng/mL DDU"
    assert result.assumptions == (Message.of("d_dimer_ddu_converted", factor=2),)


def test_d_dimer_in_mg_per_l_ddu_is_doubled_to_feu():
    result = ok("d_dimer", 0.24, "mg/L DDU")
    assert result.value == pytest.approx(0.48)
    assert result.assumptions == (Message.of("d_dimer_ddu_converted", factor=2),)


@pytest.mark.parametrize("spelling", ["mg/L FEU", "ug/mL FEU", "µg/mL FEU", "μg/mL FEU",
                                      "mg/L (FEU)", "µg FEU/mL", "mg/l feu"])
def test_d_dimer_in_mg_per_l_feu_or_its_equals_is_unchanged_without_assumptions(spelling):
    assert ok("d_dimer", 0.42, spelling) == Normalised(0.42, "mg/L FEU", spelling, ())


def test_d_dimer_in_ng_per_ml_feu_is_divided_by_1000():
    assert ok("d_dimer", 500, "ng/mL FEU").value == pytest.approx(0.5)
    assert ok("d_dimer", 500, "ng/mL{FEU}", "ng/mL{FEU}", UCUM_SYSTEM).value == pytest.approx(0.5)


def test_d_dimer_without_feu_or_ddu_in_unit_or_loinc_is_a_problem():
    result = problem("d_dimer", 500, "ng/mL")
    assert "cannot tell FEU from DDU" in result.reason
    assert "48065-7" in result.reason


def test_d_dimer_basis_from_the_loinc_code_is_used_and_noted():
    feu = ok("d_dimer", 500, "ng/mL", feu=d_dimer_feu_from_loinc("48065-7"))
    assert feu.value == pytest.approx(0.5)
    assert feu.assumptions == (Message.of("d_dimer_basis_from_code", basis="FEU",
                                          unit="'ng/mL'"),)
    ddu = ok("d_dimer", 250, "ng/mL", feu=d_dimer_feu_from_loinc("48066-5"))
    assert ddu.value == pytest.approx(0.5)
    assert ddu.assumptions == (
        Message.of("d_dimer_basis_from_code", basis="DDU", unit="'ng/mL'"),
        Message.of("d_dimer_ddu_converted", factor=2))


def test_d_dimer_unit_and_loinc_code_disagreeing_is_a_problem():
    result = problem("d_dimer", 500, "ng/mL FEU", feu=False)
    assert result.reason == "unit 'ng/mL FEU' says FEU but the LOINC code says DDU"


def test_d_dimer_unit_naming_both_feu_and_ddu_is_a_problem():
    assert "both FEU and DDU" in problem("d_dimer", 500, "ng/mL FEU/DDU").reason


def test_d_dimer_code_and_display_disagreeing_on_basis_is_a_problem():
    result = problem("d_dimer", 500, "ng/mL DDU", "ng/mL{FEU}", UCUM_SYSTEM)
    assert "disagree on FEU versus DDU" in result.reason


def test_loinc_codes_give_the_feu_hint_and_other_codes_give_none():
    assert d_dimer_feu_from_loinc("48065-7") is True
    assert d_dimer_feu_from_loinc("48066-5") is False
    assert d_dimer_feu_from_loinc("30240-6") is None
    assert d_dimer_feu_from_loinc(None) is None


def test_feu_hint_on_another_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="D-dimer only"):
        normalise("platelets", 100, "10*9/L", None, None, feu=True)


# --------------------------------------------------------------------- the other quantities


def test_m_protein_in_g_per_dl_is_multiplied_by_10_and_mg_per_dl_divided_by_100():
    assert ok("m_protein", 3.2, "g/dL").value == pytest.approx(32)
    assert ok("m_protein", 3200, "mg/dL").value == pytest.approx(32)
    assert ok("m_protein", 32, "g/L").value == 32


def test_haemoglobin_in_g_per_dl_is_multiplied_by_10():
    assert ok("haemoglobin", 13.5, "g/dL", "g/dL", UCUM_SYSTEM).value == pytest.approx(135)
    assert ok("haemoglobin", 135, "g/l").value == 135


def test_haemoglobin_in_capital_g_per_l_is_a_problem_because_g_is_giga():
    assert "letter case" in problem("haemoglobin", 135, "G/L").reason


@pytest.mark.parametrize("spelling", ["kg/m2", "kg/m^2", "kg/m²"])
def test_bmi_spellings_keep_the_number(spelling):
    assert ok("bmi", 31.2, spelling) == Normalised(31.2, "kg/m2", spelling, ())


def test_weight_in_pounds_uses_the_exact_avoirdupois_pound():
    assert ok("weight", 100, "[lb_av]", "[lb_av]", UCUM_SYSTEM).value == pytest.approx(45.359237)
    assert ok("weight", 100, "lb").value == pytest.approx(45.359237)
    assert ok("weight", 72500, "g").value == pytest.approx(72.5)
    assert ok("weight", 72.5, "kg").value == 72.5


def test_height_in_inches_uses_the_exact_inch_and_metres_become_cm():
    assert ok("height", 70, "[in_i]", "[in_i]", UCUM_SYSTEM).value == pytest.approx(177.8)
    assert ok("height", 70, "in").value == pytest.approx(177.8)
    assert ok("height", 1.78, "m").value == pytest.approx(178)
    assert ok("height", 178, "cm").value == 178


@pytest.mark.parametrize("spelling", ["/min", "{beats}/min", "beats/min", "bpm", "BPM"])
def test_heart_rate_spellings_are_per_minute(spelling):
    result = ok("heart_rate", 104, spelling)
    assert (result.value, result.unit) == (104, "/min")


@pytest.mark.parametrize("spelling", ["mL/min/{1.73_m2}", "mL/min/1.73m2", "mL/min/1.73 m2",
                                      "ml/min/1.73m²"])
def test_egfr_spellings_per_1_73_m2_keep_the_number(spelling):
    assert ok("egfr", 58, spelling).value == 58


# ---------------------------------------------------------------------- code versus display


def test_ucum_code_is_read_first_and_a_contradicting_display_is_a_problem():
    result = problem("creatinine", 88.4, "mg/dL", "umol/L", UCUM_SYSTEM)
    assert result.reason == "unit 'mg/dL' contradicts UCUM code 'umol/L'"


def test_ucum_code_is_used_when_the_display_is_free_text():
    result = ok("creatinine", 88.4, "micromoles per litre", "umol/L", UCUM_SYSTEM)
    assert result.value == pytest.approx(1.0)
    assert result.original == "umol/L"


def test_unrecognised_ucum_code_is_a_problem_even_with_a_readable_display():
    result = problem("creatinine", 1.0, "mg/dL", "mg/L", UCUM_SYSTEM)
    assert result.unit == "mg/L"


def test_code_from_a_non_ucum_system_is_ignored_in_favour_of_the_display():
    assert ok("creatinine", 1.0, "mg/dL", "umol/L", LOCAL_SYSTEM).value == 1.0
    assert problem("creatinine", 1.0, None, "umol/L", LOCAL_SYSTEM).unit == "umol/L"


# ------------------------------------------------------------------------------ bad values


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, -math.inf])
def test_negative_or_non_finite_values_are_problems(value):
    result = problem("creatinine", value, "mg/dL")
    assert result.unit == "mg/dL"
    assert "negative" in result.reason or "finite" in result.reason


def test_zero_is_a_value_not_a_problem():
    assert ok("d_dimer", 0, "mg/L FEU").value == 0


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown kind 'potassium'"):
        normalise("potassium", 4.1, "mmol/L", None, None)


# ---------------------------------------------------------------------------------- table


def test_targets_are_the_units_the_factor_catalogue_scores_in():
    catalogue = load_factor_catalogue()
    pairs = {"egfr": "egfr", "platelets": "platelets", "inr": "inr", "bmi": "bmi",
             "heart_rate": "heart_rate", "weight": "weight_kg", "m_protein": "m_protein_g_per_l"}
    for kind, factor in pairs.items():
        assert ok(kind, 1, catalogue[factor].unit).unit == catalogue[factor].unit


def test_every_kind_named_in_the_brief_is_in_the_table():
    assert set(units.kinds()) == {"egfr", "creatinine", "platelets", "inr", "d_dimer",
                                  "m_protein", "bmi", "weight", "height", "heart_rate",
                                  "haemoglobin"}


def test_every_conversion_in_units_toml_carries_a_source():
    text = resources.files("fhir_mappers").joinpath("units.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    for name, kind in raw["kinds"].items():
        for entry in kind["units"]:
            assert entry.get("source", "").strip(), f"{name}: {entry['spellings']}"
    assert raw["d_dimer"]["ddu_to_feu_source"].strip()


def test_a_conversion_without_a_source_is_refused_at_load():
    raw = {"kinds": {"x": {"target": "g", "units": [{"spellings": ["g"]}]}},
           "d_dimer": {"ddu_to_feu": 2, "ddu_to_feu_source": "s", "ddu_assumption": "a",
                       "feu_loinc": ["1-1"], "ddu_loinc": ["2-2"], "loinc_source": "s"}}
    with pytest.raises(UnitsTableError, match="source"):
        units._parse_table(raw)


def test_a_spelling_listed_under_two_factors_is_refused_at_load():
    raw = {"kinds": {"x": {"target": "g", "units": [
               {"spellings": ["g"], "source": "s"},
               {"spellings": ["g"], "multiply": 10, "source": "s"}]}},
           "d_dimer": {"ddu_to_feu": 2, "ddu_to_feu_source": "s", "ddu_assumption": "a",
                       "feu_loinc": ["1-1"], "ddu_loinc": ["2-2"], "loinc_source": "s"}}
    with pytest.raises(UnitsTableError, match="listed twice"):
        units._parse_table(raw)


def test_units_toml_is_read_once():
    assert units._table() is units._table()


def _numbers_in(module_path: Path) -> set[object]:
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)}


def test_units_module_holds_no_clinical_number():
    assert _numbers_in(Path(units.__file__)) <= {0, 1}
