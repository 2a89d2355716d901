import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from cba import cox, sources, survival
from test_survival import KAGGLE, lives_frame, proportional_lives


def test_unknown_covariate_names_the_params_key():
    lives = lives_frame([1.0], [1], Complain=[1])
    with pytest.raises(KeyError, match="survival.covariates: 'Tenure'"):
        cox.CoxModel(["Tenure"], 0.0).fit(lives)


def test_held_out_split_is_seeded_and_keeps_duplicate_groups_together():
    lives = lives_frame(np.arange(1, 41), [1, 0] * 20).assign(
        duplicate_group=pd.array([1, 1, 1, 2, 2] + [None] * 35, dtype="Int64")
    )
    train, test = cox.split_held_out(lives, 0.25, seed=3)
    again, _ = cox.split_held_out(lives, 0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)
    assert len(train) + len(test) == 40 and 5 <= len(test) <= 10
    assert not set(train["customer_id"]) & set(test["customer_id"])
    for group in (1, 2):
        sides = {
            name for name, part in (("train", train), ("test", test)) if group in set(part["duplicate_group"])
        }
        assert len(sides) == 1


@pytest.mark.parametrize("truncate", [False, True], ids=["from-signup", "late-entry"])
def test_cox_recovers_a_known_hazard_ratio(truncate):
    lives = proportional_lives(4000, seed=7, log_hazard_ratio=np.log(2.0), truncate=truncate)
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    ratios = model.hazard_ratios().set_index("covariate")
    assert ratios.loc["Complain", "hazard_ratio"] == pytest.approx(2.0, rel=0.1)
    assert ratios.loc["SatisfactionScore", "hazard_ratio"] == pytest.approx(1.0, abs=0.05)
    assert ratios.loc["Complain", "lower_95"] < 2.0 < ratios.loc["Complain", "upper_95"]
    assert model.truncated_ is truncate
    # Exponential lifetimes of mean 100: the baseline cumulative hazard grows as t / 100.
    assert model.baseline_.asof(100.0) * np.exp(-model.centre_ @ model.coefficients_) == pytest.approx(
        1.0, rel=0.15
    )


def test_text_covariates_are_one_hot_against_the_most_common_level_and_gaps_take_training_medians():
    lives = proportional_lives(300, seed=2, log_hazard_ratio=0.5).assign(
        MaritalStatus=lambda frame: np.where(frame["customer_id"] % 3 == 0, "Single", "Married"),
        CashbackAmount=lambda frame: frame["customer_id"].astype(float),
    )
    lives.loc[0, "CashbackAmount"] = np.nan
    model = cox.CoxModel(["MaritalStatus", "CashbackAmount"], penalizer=0.01).fit(lives)
    assert model.references_ == {"MaritalStatus": "Married"}
    design = model.design(
        pd.DataFrame({"MaritalStatus": ["Single", "Married", None], "CashbackAmount": [np.nan, 1.0, 2.0]})
    )
    median = lives["CashbackAmount"].median()
    expected = pd.DataFrame({"MaritalStatus=Single": [1.0, 0.0, 0.0], "CashbackAmount": [median, 1.0, 2.0]})
    pd.testing.assert_frame_equal(design, expected)
    meanings = model.hazard_ratios()["meaning"].tolist()
    assert meanings == ["MaritalStatus = Single rather than Married", "CashbackAmount + 1"]


def crossing_lives(n: int, seed: int, truncate: bool) -> pd.DataFrame:
    """Complainers churn fast early and hardly at all later: hazards that cross, not proportional."""
    rng = np.random.default_rng(seed)
    complain = rng.integers(0, 2, n)
    satisfaction = rng.integers(1, 6, n)
    early = rng.exponential(20, n)
    late = 60 + rng.exponential(400, n)
    lifetime = np.where(complain == 1, np.where(rng.random(n) < 0.6, early, late), rng.exponential(120, n))
    entry = rng.uniform(0, 10, n) if truncate else np.zeros(n)
    censor = entry + rng.uniform(50, 400, n)
    seen = lifetime > entry
    return lives_frame(
        np.minimum(lifetime, censor)[seen],
        (lifetime <= censor)[seen],
        entry=entry[seen],
        Complain=complain[seen],
        SatisfactionScore=satisfaction[seen],
    )


@pytest.mark.parametrize("truncate", [False, True], ids=["from-signup", "late-entry"])
def test_proportional_hazards_violation_is_detected(truncate):
    lives = crossing_lives(2000, seed=11, truncate=truncate)
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    test = model.proportional_hazards_test(lives).set_index("covariate")
    assert test.loc["Complain", "p_value"] < 1e-6
    assert test.loc["SatisfactionScore", "p_value"] > 0.05


def test_proportional_hazards_hold_on_proportional_data():
    lives = proportional_lives(2000, seed=5, log_hazard_ratio=np.log(2.0), truncate=True)
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    assert (model.proportional_hazards_test(lives)["p_value"] > 0.05).all()


def test_own_schoenfeld_residuals_match_lifelines_without_late_entry():
    lives = proportional_lives(500, seed=4, log_hazard_ratio=0.7)
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    reference = model.fitter_.compute_residuals(model._frame(lives), "scaled_schoenfeld")
    pd.testing.assert_frame_equal(model._scaled_schoenfeld_residuals(lives), reference, check_names=False)


def test_median_times_from_signup_match_lifelines():
    lives = proportional_lives(400, seed=9, log_hazard_ratio=0.8)
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    at_signup = lives.assign(duration=0.0, churned=0)
    ours = model.median_times_to_churn(at_signup)["median_time_to_churn"].to_numpy()
    np.testing.assert_allclose(ours, model.fitter_.predict_median(model.design(lives)).to_numpy())


def test_cox_analysis_writes_deterministic_metrics_and_the_times_file(tmp_path):
    lives = proportional_lives(3000, seed=8, log_hazard_ratio=np.log(2.0), truncate=True)
    runs = []
    for _ in range(2):
        analysis = cox.analyse_cox(lives, ["Complain", "SatisfactionScore"], 0.01, 0.25, 42, 0.05)
        _, summary = survival.kaplan_meier(lives, 30, "Complain")
        logrank = survival.logrank_tests(lives, ["Complain", "SatisfactionScore"])
        times = survival.survival_times(lives, analysis.model)
        metrics = survival.survival_metrics("days", "Complain", summary, logrank, analysis, times)
        runs.append(json.dumps(metrics, indent=2))
    assert runs[0] == runs[1]
    assert analysis.n_train + analysis.n_test == len(lives) and analysis.n_test == pytest.approx(
        0.25 * len(lives), abs=1
    )
    assert 0.55 < metrics["concordance"] < 0.75  # a hazard ratio of 2 on one binary covariate
    assert metrics["hazard_ratios"]["Complain"] == pytest.approx(2.0, rel=0.15)
    p_values = metrics["ph_test_p_values"]
    assert sorted(metrics["ph_violations"]) == sorted(name for name, p in p_values.items() if p < 0.05)
    assert metrics["logrank"]["Complain"]["p_value"] < 1e-6
    assert metrics["logrank"]["SatisfactionScore"]["p_value"] > 0.05
    path = tmp_path / "survival_times.parquet"
    times.to_parquet(path, index=False)
    written = pd.read_parquet(path)
    assert written["customer_id"].tolist() == lives["customer_id"].tolist()
    assert written["median_time_to_churn"].isna().tolist() == (lives["churned"] == 1).tolist()
    active = written.loc[written["churned"] == 0, "median_time_to_churn"]
    assert (active > 0).all()
    assert metrics["median_time_to_churn"]["active_customers"] == len(active)
    assert "Complain" in cox.hazard_ratio_sentence(analysis.hazard_ratios, 0.05)
    assert all(name in cox.proportional_hazards_sentence(analysis) for name in metrics["ph_violations"])


@pytest.mark.skipif(not KAGGLE.exists(), reason=f"the Kaggle file is not at {KAGGLE}")
def test_kaggle_tenure_is_the_duration_and_the_cox_model_ranks_held_out_customers():
    customers = sources.load_kaggle(KAGGLE, "E Comm").to_pandas()
    lives = survival.lifetimes_from_tenure(customers)
    assert len(lives) == customers["Tenure"].notna().sum()
    assert lives["churned"].sum() == customers.loc[customers["Tenure"].notna(), "Churn"].sum()
    covariates = [
        "Complain",
        "SatisfactionScore",
        "CityTier",
        "WarehouseToHome",
        "CashbackAmount",
        "MaritalStatus",
    ]
    analysis = cox.analyse_cox(lives, covariates, 0.01, 0.25, 42, 0.05)
    ratios = analysis.hazard_ratios.set_index("covariate")["hazard_ratio"]
    assert ratios["Complain"] > 1.5  # complainers churn sooner in the real data
    assert analysis.concordance > 0.6
    assert survival.logrank_test(lives, "Complain")["p_value"] < 1e-6


def test_cox_on_a_bounded_sample_still_recovers_the_hazard_ratio_and_scores_every_held_out_customer():
    lives = proportional_lives(8000, seed=11, log_hazard_ratio=np.log(2.0))
    whole = cox.analyse_cox(lives, ["Complain", "SatisfactionScore"], 0.0, 0.25, 42, 0.05)
    bounded = cox.analyse_cox(lives, ["Complain", "SatisfactionScore"], 0.0, 0.25, 42, 0.05, max_rows=2000)
    assert bounded.n_train <= 2000 < whole.n_train
    assert bounded.n_test == whole.n_test
    ratio = bounded.hazard_ratios.set_index("covariate").loc["Complain", "hazard_ratio"]
    assert ratio == pytest.approx(2.0, rel=0.15)
    assert bounded.concordance == pytest.approx(whole.concordance, abs=0.02)


def twins_lives() -> pd.DataFrame:
    """Ten customers, four of them entered twice: the copies are exact but for the id, grouped as twins."""
    customers = lives_frame(
        [2.0, 3.5, 5.0, 6.0, 7.5, 9.0, 11.0, 12.5, 14.0, 16.0],
        [1, 1, 0, 1, 1, 0, 1, 1, 0, 1],
        Complain=[1, 1, 0, 1, 0, 0, 1, 0, 0, 0],
        SatisfactionScore=[1, 2, 4, 2, 3, 5, 1, 4, 3, 5],
    )
    copies = customers.iloc[[0, 3, 6, 7]].assign(customer_id=[11, 12, 13, 14])
    lives = pd.concat([customers, copies], ignore_index=True)
    groups = [0, None, None, 1, None, None, 2, 3, None, None, 0, 1, 2, 3]
    return lives.assign(duplicate_group=pd.array(groups, dtype="Int64"))


def test_robust_intervals_cluster_twins_as_lifelines_cluster_col_does():
    lives = twins_lives()
    ours = cox.CoxModel(["Complain", "SatisfactionScore"], 0.0).fit(lives).hazard_ratios()
    frame = lives[["duration", "churned", "Complain", "SatisfactionScore"]]
    twin_of = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 4, 7, 8]  # each copy clustered with its original
    clustered = CoxPHFitter().fit(frame.assign(unit=twin_of), "duration", "churned", cluster_col="unit")
    naive = CoxPHFitter().fit(frame, "duration", "churned")
    reference = clustered.summary
    np.testing.assert_allclose(ours["lower_95"], reference["exp(coef) lower 95%"], rtol=1e-8)
    np.testing.assert_allclose(ours["upper_95"], reference["exp(coef) upper 95%"], rtol=1e-8)
    np.testing.assert_allclose(ours["p_value"], reference["p"], rtol=1e-8)
    assert not np.allclose(clustered.standard_errors_, naive.standard_errors_, rtol=0.01)
    without_groups = cox.CoxModel(["Complain", "SatisfactionScore"], 0.0).fit(
        lives.drop(columns="duplicate_group")
    )
    np.testing.assert_allclose(without_groups.hazard_ratios()["p_value"], naive.summary["p"], rtol=1e-8)


def test_score_residuals_respect_late_entry_and_ties():
    lives = proportional_lives(400, seed=6, log_hazard_ratio=0.6, truncate=True)
    lives = lives.assign(duration=lives["duration"].round(0).clip(lower=lives["entry"].round(0) + 1))
    model = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0).fit(lives)
    # At the fitted coefficients the score is zero: the residuals sum to it only with the truncated risk sets.
    residuals = model._score_residuals(survival.ever_at_risk(lives))
    np.testing.assert_allclose(residuals.sum().to_numpy(), 0.0, atol=1e-5)
    ignoring_entry = cox.CoxModel(["Complain", "SatisfactionScore"], penalizer=0.0)
    ignoring_entry.fit(lives)
    assert np.abs(ignoring_entry._score_residuals(lives.assign(entry=0.0)).sum().to_numpy()).max() > 0.1
