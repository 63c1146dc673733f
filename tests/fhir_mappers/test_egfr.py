"""CKD-EPI 2021 race-free creatinine equation, checked against values worked by hand.

eGFR = 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^Age x 1.012 [if female]
k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M); Inker LA et al., NEJM 2021;385:1737-49.

Shared pieces used below: ln 0.9938 = -0.0062193, so
0.9938^40 = e^-0.248772 = 0.779758, 0.9938^50 = e^-0.310965 = 0.732740,
0.9938^55 = e^-0.342061 = 0.710305, 0.9938^60 = e^-0.373158 = 0.688556.
"""

from __future__ import annotations

import ast
import math
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from fhir_mappers import egfr
from fhir_mappers.egfr import ckd_epi_2021


def estimate(creatinine_mg_dl: float, age_years: float, sex: str) -> float:
    result = ckd_epi_2021(creatinine_mg_dl, age_years, sex)
    assert result is not None
    return result


def test_female_50_with_creatinine_1_0_has_egfr_about_69():
    """Scr/k = 1.0/0.7 = 1.428571 > 1, so the min term is 1 and
    max term = 1.428571^-1.2 = e^(-1.2 x 0.356675) = e^-0.428010 = 0.651805;
    142 x 0.651805 x 0.732740 x 1.012 = 68.633 -> reported as 69.
    """
    result = estimate(1.0, 50, "female")
    assert result == pytest.approx(68.633, abs=0.001)
    assert round(result) == 69


def test_male_60_with_creatinine_1_2_has_egfr_about_69():
    """Scr/k = 1.2/0.9 = 1.333333 > 1; max term = 1.333333^-1.2 = e^(-1.2 x 0.287682)
    = e^-0.345218 = 0.708066; 142 x 0.708066 x 0.688556 = 69.231 -> reported as 69
    (not 68: rounding the hand sum step by step still gives 69.2).
    """
    result = estimate(1.2, 60, "male")
    assert result == pytest.approx(69.231, abs=0.001)
    assert round(result) == 69


def test_male_55_with_creatinine_1_2_matches_the_published_calculator_value_of_71():
    """Cross-check with the NKF calculator (kidney.org) example of 71 for a 55-year-old man
    with Scr 1.2 mg/dL: 142 x 0.708066 x 0.710305 = 71.418 -> 71.
    """
    result = estimate(1.2, 55, "male")
    assert result == pytest.approx(71.418, abs=0.001)
    assert round(result) == 71


def test_female_just_below_kappa_uses_the_alpha_slope():
    """Scr 0.69, age 40: Scr/k = 0.69/0.7 = 0.985714 < 1, so the max term is 1 and
    min term = 0.985714^-0.241 = e^(-0.241 x -0.014389) = e^0.003468 = 1.003474;
    142 x 1.003474 x 0.779758 x 1.012 = 112.444.
    """
    assert ckd_epi_2021(0.69, 40, "female") == pytest.approx(112.444, abs=0.001)


def test_female_just_above_kappa_uses_the_1_200_slope():
    """Scr 0.71, age 40: Scr/k = 0.71/0.7 = 1.014286 > 1, so the min term is 1 and
    max term = 1.014286^-1.2 = e^(-1.2 x 0.014185) = e^-0.017022 = 0.983122;
    142 x 0.983122 x 0.779758 x 1.012 = 110.163.
    """
    assert ckd_epi_2021(0.71, 40, "female") == pytest.approx(110.163, abs=0.001)


def test_female_at_kappa_both_slopes_meet():
    """Scr 0.70, age 40: both terms are 1; 142 x 0.779758 x 1.012 = 112.054. The curve is
    continuous at the kink and falls as creatinine rises on both sides of it.
    """
    at = estimate(0.70, 40, "female")
    assert at == pytest.approx(112.054, abs=0.001)
    below, above = estimate(0.6999999, 40, "female"), estimate(0.7000001, 40, "female")
    assert below == pytest.approx(at, abs=1e-3)
    assert above == pytest.approx(at, abs=1e-3)
    assert below > at > above


def test_male_kink_is_at_0_9():
    """Scr 0.9, age 40: both terms are 1; 142 x 0.779758 = 110.726 (no sex factor).
    Scr 0.8: Scr/k = 0.888889, min term = 0.888889^-0.302 = e^(-0.302 x -0.117783)
    = e^0.035570 = 1.036211; 142 x 1.036211 x 0.779758 = 114.735.
    """
    assert ckd_epi_2021(0.9, 40, "male") == pytest.approx(110.726, abs=0.001)
    assert ckd_epi_2021(0.8, 40, "male") == pytest.approx(114.735, abs=0.001)


@pytest.mark.parametrize("sex", ["other", "unknown", "", "Male", "F"])
def test_sex_other_than_male_or_female_gives_no_estimate(sex):
    assert ckd_epi_2021(1.0, 50, sex) is None


def test_children_get_no_estimate_because_the_equation_is_for_adults():
    assert ckd_epi_2021(0.5, 17.9, "female") is None
    assert ckd_epi_2021(0.5, 18, "female") is not None


@pytest.mark.parametrize(("scr", "age"), [(0, 50), (-1.0, 50), (math.nan, 50), (math.inf, 50),
                                          (1.0, math.nan), (1.0, math.inf)])
def test_impossible_inputs_give_no_estimate(scr, age):
    assert ckd_epi_2021(scr, age, "male") is None


def test_coefficients_and_their_source_live_in_egfr_toml():
    text = resources.files("fhir_mappers").joinpath("egfr.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    assert "N Engl J Med 2021;385:1737-49" in raw["source"]
    assert raw["min_age_source"].strip()
    assert (raw["constant"], raw["exponent_above_kappa"], raw["age_base"]) == (142, -1.2, 0.9938)
    assert raw["sex"]["female"] == {"kappa": 0.7, "alpha": -0.241, "factor": 1.012}
    assert raw["sex"]["male"] == {"kappa": 0.9, "alpha": -0.302, "factor": 1.0}
    assert "Inker" in egfr.source()


def test_egfr_toml_is_read_once():
    assert egfr._equation() is egfr._equation()


def test_malformed_coefficients_are_refused_at_load():
    with pytest.raises(egfr.EgfrTableError, match="kappa"):
        egfr._parse({"source": "s", "min_age_source": "s", "constant": 142,
                     "exponent_above_kappa": -1.2, "age_base": 0.99, "min_age_years": 18,
                     "sex": {"female": {"alpha": -0.2, "factor": 1}}})


def test_egfr_module_holds_no_clinical_number():
    tree = ast.parse(Path(egfr.__file__).read_text(encoding="utf-8"))
    numbers = {node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, int | float)
               and not isinstance(node.value, bool)}
    assert numbers <= {0, 1}
