import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, chi2_contingency
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from typer.testing import CliRunner

from cba import calibration, candidates, churn, evaluate
from cba.cli import app
from cba.config import BusinessParams, ChurnParams, SearchParams

PARAMS = ChurnParams(
    horizon_days=30,
    cutoff=None,
    training_cutoffs=1,
    test_size=0.3,
    search=SearchParams(budget=1, folds=2),
    business=BusinessParams(
        contact_cost=5.0, retained_value=100.0, offer_success_rate=0.5, high_value_quantile=0.5
    ),
)


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return churn_customers()


def churn_customers() -> pd.DataFrame:
    """Churn depends on recency and complaints; one column has blanks, one is categorical."""
    rng = np.random.default_rng(7)
    n = 600
    recency = rng.exponential(30, n)
    complain = rng.integers(0, 2, n)
    logit = -2.0 + recency / 20 + 1.0 * complain
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "recency_days": np.where(rng.random(n) < 0.1, np.nan, recency),
            "Complain": complain,
            "PreferredLoginDevice": rng.choice(["Mobile Phone", "Computer"], n),
            "monetary": rng.gamma(2.0, 100.0, n).round(2),
            "noise": rng.normal(size=n),
            "churn": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


@pytest.fixture(scope="module")
def result(customers) -> churn.ChurnResult:
    return churn.train_and_evaluate(customers, PARAMS, seed=3)


def panel() -> pd.DataFrame:
    """Three cutoffs of 40 customers; customers 0 and 1 are near-duplicates (group 7)."""
    cutoffs = pd.to_datetime(["2024-04-01", "2024-07-01", "2024-10-01"], utc=True)
    frame = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(40), 3),
            "cutoff": np.repeat(cutoffs, 40),
            "x": np.arange(120, dtype=float),
            "churn": np.tile([0, 1, 0, 0], 30),
        }
    )
    frame["duplicate_group"] = pd.array(np.where(frame["customer_id"] < 2, 7, pd.NA), dtype="Int64")
    return frame


def test_feature_columns_leave_out_id_label_group_and_cutoff():
    numeric, categorical = churn.feature_columns(panel().assign(device="Computer"))
    assert (numeric, categorical) == (["x"], ["device"])


def test_customer_groups_join_a_customer_across_cutoffs_and_its_near_duplicates():
    frame = panel()
    groups = churn.customer_groups(frame)
    assert len(set(groups[frame["customer_id"] == 5])) == 1
    assert set(groups[frame["customer_id"].isin([0, 1])]) == {7}
    assert len(set(groups)) == 39


def test_time_aware_split_trains_on_earlier_cutoffs_and_tests_unseen_customers_later():
    frame = panel()
    split = churn.validation_split(frame, test_size=0.25, seed=1)
    assert split.validation == "time-aware"
    train, test = frame.iloc[split.train], frame.iloc[split.test]
    assert (test["cutoff"] == frame["cutoff"].max()).all()
    assert (train["cutoff"] < frame["cutoff"].max()).all()
    assert not set(train["customer_id"]) & set(test["customer_id"])
    assert set(test["customer_id"]) >= {0, 1} or not set(test["customer_id"]) & {0, 1}  # the group together
    assert 0.15 < len(test) / 40 < 0.35


def test_snapshot_split_keeps_duplicate_groups_on_one_side():
    frame = panel().query("cutoff == cutoff.max()").drop(columns="cutoff").reset_index(drop=True)
    split = churn.validation_split(frame, test_size=0.25, seed=2)
    assert split.validation == "grouped-stratified"
    sides = {0 if i in set(split.train) else 1 for i in frame.index[frame["duplicate_group"].notna()]}
    assert len(sides) == 1
    assert len(split.train) + len(split.test) == len(frame)


def test_naive_split_puts_the_same_customer_on_both_sides():
    frame = panel()
    split = churn.naive_split(frame, test_size=0.25, seed=1)
    assert set(frame.iloc[split.train]["customer_id"]) & set(frame.iloc[split.test]["customer_id"])


def test_focal_loss_is_the_log_loss_at_gamma_zero():
    y = np.array([0, 1, 1, 0])
    margin = np.array([-2.0, -0.5, 1.5, 3.0])
    p = 1 / (1 + np.exp(-margin))
    gradient, hessian = churn.focal_loss(y, margin, gamma=0.0)
    np.testing.assert_allclose(gradient, p - y, atol=1e-9)
    np.testing.assert_allclose(hessian, p * (1 - p), atol=1e-6)


def test_focal_loss_gradient_is_the_derivative_of_the_loss():
    y = np.array([0, 1, 1, 0])
    margin = np.array([-2.0, -0.5, 1.5, 3.0])

    def loss(z):
        p = 1 / (1 + np.exp(-z))
        return np.where(y == 1, -((1 - p) ** 2) * np.log(p), -(p**2) * np.log(1 - p))

    numeric = (loss(margin + 1e-6) - loss(margin - 1e-6)) / 2e-6
    np.testing.assert_allclose(churn.focal_loss(y, margin, gamma=2.0)[0], numeric, rtol=1e-5)


def test_expected_calibration_error_by_hand():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    # bin 1: predicted 0.1, observed 0.5; bin 9: predicted 0.9, observed 1.0; each half the customers
    assert evaluate.expected_calibration_error(y, p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    table = evaluate.calibration_table(y, p)
    assert table.to_dict("list") == {"predicted": [0.1, 0.9], "observed": [0.5, 1.0], "customers": [2, 2]}


def test_ece_by_chance_is_the_binomial_mean_gap_by_hand():
    # 20 customers at 0.3 share one bin: the gap is |k/20 - 0.3| for k ~ Binomial(20, 0.3)
    k = np.arange(21)
    exact = float(np.sum(binom.pmf(k, 20, 0.3) * np.abs(k / 20 - 0.3)))
    mean, _ = evaluate.ece_by_chance(np.full(20, 0.3), seed=1, resamples=20_000)
    assert mean == pytest.approx(exact, rel=0.02)
    assert evaluate.ece_by_chance(np.array([0.0, 1.0, 1.0]), seed=1) == (0.0, 0.0)  # certain labels


def test_ece_by_chance_is_the_calibration_error_of_labels_drawn_from_the_probabilities():
    probability = np.random.default_rng(3).beta(1, 3, 300)
    rng = np.random.default_rng(9)
    errors = [
        evaluate.expected_calibration_error(rng.random(300) < probability, probability) for _ in range(50)
    ]
    mean, top = evaluate.ece_by_chance(probability, seed=9, resamples=50)
    assert mean == pytest.approx(np.mean(errors), abs=1e-12)
    assert top == pytest.approx(np.quantile(errors, 0.95), abs=1e-12)


def test_an_error_at_the_95th_percentile_of_chance_is_within_it():
    assert evaluate.within_chance(0.031, [0.02, 0.031])
    assert not evaluate.within_chance(0.0311, (0.02, 0.031))


def business(contact_cost: float) -> BusinessParams:
    return BusinessParams(
        contact_cost=contact_cost, retained_value=10.0, offer_success_rate=0.5, high_value_quantile=0.5
    )


def test_profit_threshold_and_curve_by_hand():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1])
    # each churner reached is worth 0.5 * 10 = 5, each contact costs 1: top 1, 2, 3, 4 earn 4, 3, 7, 6
    assert evaluate.profit_threshold(y, p, business(1.0)) == 0.3
    curve = evaluate.profit_curve(y, p, business(1.0), points=5)
    assert curve["expected_profit"].tolist() == [0.0, 4.0, 3.0, 7.0, 6.0]
    assert evaluate.profit_threshold(y, p, business(100.0)) == 1.0  # never pays: contact nobody


def test_gains_table_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.linspace(1.0, 0.1, 10)
    gains = evaluate.gains_table(y, p, groups=5)
    assert gains["lift"].tolist() == pytest.approx([1 / 0.3, 0.0, 0.5 / 0.3, 0.0, 0.0], abs=1e-4)
    assert gains["cumulative_gains"].tolist() == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0, 1.0], abs=1e-4)


def test_bootstrap_interval_brackets_the_estimate_and_repeats():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    low, high = evaluate.bootstrap_interval(y, p, evaluate.metrics.roc_auc_score, seed=5, resamples=200)
    assert low < evaluate.metrics.roc_auc_score(y, p) < high
    assert [low, high] == evaluate.bootstrap_interval(y, p, evaluate.metrics.roc_auc_score, 5, 200)


def test_every_model_is_searched_calibrated_and_scored_on_the_test_rows(result, customers):
    assert set(result.metrics) == {*churn.MODELS, churn.REFERENCE, churn.ENSEMBLE}
    assert result.best_model == churn.choose_best(result.metrics)
    assert result.x_test.index.tolist() == customers.index[result.split.test].tolist()
    np.testing.assert_array_equal(result.y_test, customers["churn"].to_numpy()[result.split.test])
    for name, scores in result.metrics.items():
        assert 0.6 < scores["roc_auc"] <= 1.0, name
        probability = result.models[name].predict_proba(result.x_test)[:, 1]
        np.testing.assert_allclose(result.test_probability[name], probability)
        ranking = result.models[name].ranking_score(result.x_test)
        np.testing.assert_allclose(result.test_ranking[name], ranking)
        assert scores["roc_auc"] == pytest.approx(roc_auc_score(result.y_test, ranking))
        # The calibrated probability is strictly increasing in the raw score: the same ranking.
        assert roc_auc_score(result.y_test, probability) == pytest.approx(scores["roc_auc"])
        assert scores["cv_roc_auc_std"] >= 0


@pytest.mark.parametrize(
    ("cv_roc_auc", "best"),
    [
        (
            {"logistic_regression": 0.7, "random_forest": 0.8, "xgboost_smote": 0.75, "xgboost_focal": 0.6},
            "random_forest",
        ),
        (
            {"logistic_regression": 0.8, "random_forest": 0.8, "xgboost_smote": 0.7, "xgboost_focal": 0.7},
            "logistic_regression",
        ),
    ],
    ids=["highest", "tie-goes-to-the-first"],
)
def test_the_winner_is_the_best_cross_validated_model_never_the_reference(cv_roc_auc, best):
    scores = {name: {"cv_roc_auc": value, "roc_auc": 0.5} for name, value in cv_roc_auc.items()}
    scores[churn.REFERENCE] = {"cv_roc_auc": 0.99, "roc_auc": 0.99}
    scores["xgboost_focal"]["roc_auc"] = 0.99  # test scores never choose
    assert churn.choose_best(scores) == best


def test_intervals_bracket_the_best_models_test_scores(result):
    bounds = churn.intervals(result, seed=3)
    probability = result.test_ranking[result.best_model]
    for key, score in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score)):
        low, high = bounds[f"{key}_ci"]
        assert low < score(result.y_test, probability) < high
        assert high - low < 0.3


def test_drivers_find_the_signal_not_the_noise(result):
    drivers = churn.top_drivers(result, seed=3)
    ranked = drivers["feature"].tolist()
    assert ranked.index("recency_days") < ranked.index("noise")


def test_segment_drivers_name_what_raises_each_segments_risk(result, customers):
    model = result.models[result.best_model]
    x = customers[result.features]
    complainers = np.where(customers["Complain"] == 1, "complain", "quiet")
    drivers = churn.segment_drivers(model, x, complainers, seed=1)
    assert "Complain" in drivers["complain"]
    assert "Complain" not in drivers["quiet"]


def test_predict_scores_and_names_missing_columns(result, customers):
    artifact = churn.artifact(result, value_cut=150.0, params={})
    scores = churn.predict(artifact, customers)
    assert scores.columns.tolist() == ["customer_id", "churn_probability", "risk_segment", "value"]
    assert scores["churn_probability"].between(0, 1).all()
    with pytest.raises(churn.MissingFeaturesError, match="x.csv: missing column.*recency_days"):
        churn.predict(artifact, customers.drop(columns="recency_days"), "x.csv")


def test_cli_predict_good_and_bad_inputs(result, customers, tmp_path):
    model = tmp_path / "churn.joblib"
    joblib.dump(churn.artifact(result, value_cut=150.0, params={}), model)
    customers.drop(columns="churn").to_csv(tmp_path / "in.csv", index=False)
    runner = CliRunner()
    args = ["predict", "--model", str(model), "--input", str(tmp_path / "in.csv")]
    ok = runner.invoke(app, [*args, "--output", str(tmp_path / "out.parquet")])
    assert ok.exit_code == 0, ok.output
    scores = pd.read_parquet(tmp_path / "out.parquet")
    assert scores.columns.tolist() == ["customer_id", "churn_probability", "risk_segment"]
    assert len(scores) == len(customers)

    customers.drop(columns=["churn", "Complain"]).to_csv(tmp_path / "bad.csv", index=False)
    bad = runner.invoke(
        app, [*args[:3], "--input", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "o.csv")]
    )
    assert bad.exit_code == 2
    assert "bad.csv: missing column(s) Complain" in bad.output
    missing = runner.invoke(app, [*args[:3], "--input", str(tmp_path / "none.csv"), "--output", "o.csv"])
    assert "--input" in missing.output and "file not found" in missing.output


def test_many_level_categories_are_target_encoded_within_the_pipeline(customers):
    frame = customers.assign(city=[f"city {i % 30}" for i in range(len(customers))])
    numeric, categorical = churn.feature_columns(frame)
    levels = {c: frame[c].nunique() for c in categorical}
    model = churn.build_model("logistic_regression", numeric, categorical, levels, seed=1)
    model.fit(frame[numeric + categorical], frame["churn"])
    steps = {name: columns for name, _, columns in model.named_steps["preprocess"].transformers_}
    assert steps["target"] == ["city"] and steps["one_hot"] == ["PreferredLoginDevice"]


def test_another_label_is_validated_the_same_way_and_is_never_a_feature(customers):
    relabelled = customers.rename(columns={"churn": "buys_within_window"})
    numeric, categorical = churn.feature_columns(relabelled, "buys_within_window")
    assert "buys_within_window" not in numeric + categorical
    assert numeric + categorical == [c for c in sum(churn.feature_columns(customers), []) if c != "churn"]
    split = churn.validation_split(relabelled, 0.25, 7, label="buys_within_window")
    expected = churn.validation_split(customers, 0.25, 7)
    assert split.train.tolist() == expected.train.tolist() and split.test.tolist() == expected.test.tolist()


def test_cli_predict_scores_next_purchase_too(result, customers, tmp_path):
    model = tmp_path / "churn.joblib"
    joblib.dump(churn.artifact(result, value_cut=150.0, params={}), model)
    buys = tmp_path / "next_purchase.joblib"
    joblib.dump({"model": result.models[result.best_model], "features": result.features}, buys)
    customers.drop(columns="churn").to_csv(tmp_path / "in.csv", index=False)
    args = ["predict", "--model", str(model), "--input", str(tmp_path / "in.csv")]
    ok = CliRunner().invoke(app, [*args, "--next-purchase", str(buys), "--output", str(tmp_path / "o.csv")])
    assert ok.exit_code == 0, ok.output
    scores = pd.read_csv(tmp_path / "o.csv")
    assert scores.columns.tolist()[-1] == "next_purchase_probability"
    assert scores["next_purchase_probability"].between(0, 1).all()
    joblib.dump({"skipped": "no event log"}, buys)
    skipped = CliRunner().invoke(
        app, [*args, "--next-purchase", str(buys), "--output", str(tmp_path / "o.csv")]
    )
    assert skipped.exit_code == 2 and "no model was fitted: no event log" in skipped.output


# --- calibration under drift, ratios, the soft vote ----------------------------------------------------


def test_prior_shift_by_hand_and_against_bayes_rule():
    # Calibrated where 20% churned (odds 1/4), applied where 50% do (odds 1): odds times 4.
    assert calibration.prior_shift(np.array([0.5]), 0.2, 0.5) == pytest.approx([0.8])
    p, old, new = np.array([0.1, 0.3, 0.9]), 0.24, 0.31
    # Saerens et al. (2002), eq. 2.4: p' = (new/old) p / ((new/old) p + ((1-new)/(1-old)) (1-p)).
    expected = (new / old) * p / ((new / old) * p + (1 - new) / (1 - old) * (1 - p))
    np.testing.assert_allclose(calibration.prior_shift(p, old, new), expected)
    np.testing.assert_allclose(calibration.prior_shift(p, old, old), p)


def test_expected_base_rate_continues_the_log_odds_trend():
    # Odds 1/4 then 1/3: times 4/3 a period, so 4/9 next, a rate of 4/13.
    assert churn.expected_base_rate([0.2, 0.25]) == pytest.approx(4 / 13)
    assert churn.expected_base_rate([0.3]) == pytest.approx(0.3)


def drifting_cutoffs() -> pd.DataFrame:
    """Three cutoffs whose churn rate rises 20%, 25%, ~31%, with one informative signal."""
    rng = np.random.default_rng(2)
    rows = []
    for index, rate in enumerate([0.2, 0.25, 4 / 13]):
        n = 800
        score = rng.normal(size=n)
        odds = np.log(rate / (1 - rate))
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": np.arange(n),
                    "cutoff": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=90 * index),
                    "signal": score,
                    "churn": (rng.random(n) < 1 / (1 + np.exp(-(odds + 1.5 * score)))).astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_calibration_follows_the_latest_training_period_and_moves_to_the_expected_rate():
    # Calibrated at the second cutoff and moved to the trend's 4/13 for the third, using no label of it.
    frame = drifting_cutoffs()
    params = PARAMS.model_copy(update={"test_size": 0.5, "base_rate": "trend"})
    result = churn.train_and_evaluate(frame, params, seed=1)

    train = frame.iloc[result.split.train]
    latest = train[train["cutoff"] == train["cutoff"].max()]
    assert result.calibration["calibration_rate"] == pytest.approx(latest["churn"].mean())
    rates = train.groupby("cutoff")["churn"].mean().tolist()
    assert result.calibration["target_rate"] == pytest.approx(churn.expected_base_rate(rates))
    model = result.models["logistic_regression"]
    uncorrected = model.uncorrected_proba(result.x_test)
    np.testing.assert_allclose(
        result.test_probability["logistic_regression"],
        calibration.prior_shift(uncorrected, model.calibration_rate, model.target_rate),
    )
    assert result.test_probability["logistic_regression"].mean() > uncorrected.mean()


def test_calibration_keeps_the_latest_training_rate_when_asked():
    frame = drifting_cutoffs()
    params = PARAMS.model_copy(update={"test_size": 0.5, "base_rate": "latest"})
    result = churn.train_and_evaluate(frame, params, seed=1)

    assert result.calibration["target_rate"] == result.calibration["calibration_rate"]
    model = result.models["logistic_regression"]
    np.testing.assert_allclose(
        result.test_probability["logistic_regression"], model.uncorrected_proba(result.x_test)
    )


def test_drift_p_value_is_the_chi_square_test_of_one_shared_rate():
    churned, customers = [80, 100, 130], [400, 400, 420]
    table = np.array([churned, np.subtract(customers, churned)])
    expected = chi2_contingency(table, correction=False).pvalue
    assert calibration.drift_p_value(churned, customers) == pytest.approx(expected)
    assert calibration.drift_p_value([80], [400]) == 1.0


@pytest.mark.parametrize(("significance", "corrected"), [(0.5, True), (1e-9, False)])
def test_auto_base_rate_corrects_only_a_significant_drift(significance, corrected):
    frame = drifting_cutoffs()
    params = PARAMS.model_copy(update={"test_size": 0.5, "drift_significance": significance})
    base_rate = churn._base_rate(frame[frame["cutoff"] < frame["cutoff"].max()], "churn", 0.25, params)

    assert base_rate["rule"] == "auto" and 1e-9 < base_rate["drift_p_value"] < 0.5
    rates = base_rate["training_rates"]
    assert base_rate["target_rate"] == (churn.expected_base_rate(rates) if corrected else 0.25)


def test_calibration_sentence_names_the_drift_and_the_correction():
    table = pd.DataFrame({"predicted": [0.1, 0.5], "observed": [0.1, 0.7]})
    drifting = {
        "calibration_rate": 0.2,
        "target_rate": 0.25,
        "rule": "auto",
        "training_rates": [0.15, 0.2],
        "drift_p_value": 0.001,
    }
    text = evaluate.calibration_sentence(table, 0.02, 0.05, (0.011, 0.03), drifting, 0.26)
    assert "would show 0.011 on average on the same customers, and up to 0.030 in 95 of 100" in text
    assert text.endswith("within what chance alone gives: the probabilities track the observed churn.")
    assert "15.0% -> 20.0%" in text and "p = 0.001" in text and "0.050 before and 0.020 after" in text
    steady = drifting | {"target_rate": 0.2, "drift_p_value": 0.4}
    text = evaluate.calibration_sentence(table, 0.05, 0.05, (0.011, 0.03), steady, 0.21)
    assert "beyond what chance alone gives (0.030): read the probabilities as a ranking" in text
    assert "do not differ significantly" in text and "expected calibration error is 0.050" in text


def test_profile_ratios_divide_by_one_more_than_the_denominator():
    frame = pd.DataFrame({"CashbackAmount": [100.0, 50.0], "OrderCount": [1.0, np.nan], "Tenure": [3, 0]})

    ratios = churn.ProfileRatios().fit_transform(frame)

    assert ratios["cashback_per_order"].tolist()[0] == 50.0 and np.isnan(ratios["cashback_per_order"][1])
    assert ratios["cashback_per_tenure_month"].tolist() == [25.0, 50.0]
    assert "coupons_per_order" not in ratios  # CouponUsed is absent
    assert frame.columns.tolist() == ["CashbackAmount", "OrderCount", "Tenure"]  # input untouched


def test_the_soft_vote_averages_its_members(customers):
    numeric, categorical = churn.feature_columns(customers)
    levels = {c: customers[c].nunique() for c in categorical}
    settings = {"xgboost_smote": {"n_estimators": 20}, churn.REFERENCE: {"max_iter": 20}}
    vote = churn.build_model(churn.ENSEMBLE, numeric, categorical, levels, 1, settings)
    x, y = customers[numeric + categorical], customers["churn"]

    vote.fit(x, y)

    members = [
        churn.build_model(m, numeric, categorical, levels, 1, s).fit(x, y) for m, s in settings.items()
    ]
    log_odds = [np.log(p / (1 - p)) for p in (m.predict_proba(x)[:, 1] for m in members)]
    np.testing.assert_allclose(vote.predict_proba(x)[:, 1], 1 / (1 + np.exp(-np.mean(log_odds, axis=0))))


def test_search_sample_keeps_whole_groups_and_the_churn_rate():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(3000), rng.integers(1, 4, 3000))  # customers seen at 1 to 3 cutoffs
    y = (rng.random(len(groups)) < 0.2).astype(int)
    rows = churn.search_sample(y, groups, 1000, seed=1)
    assert 900 <= len(rows) <= 1000
    chosen = np.unique(groups[rows])
    assert len(rows) == np.isin(groups, chosen).sum()  # no group is split
    assert y[rows].mean() == pytest.approx(y.mean(), abs=0.02)
    np.testing.assert_array_equal(rows, churn.search_sample(y, groups, 1000, seed=1))
    np.testing.assert_array_equal(churn.search_sample(y, groups, len(y), seed=1), np.arange(len(y)))


def test_stratified_rows_keep_each_class_share_and_the_row_order():
    x = pd.DataFrame({"a": np.arange(1000)})
    y = np.r_[np.ones(200, dtype=int), np.zeros(800, dtype=int)]
    sampled_x, sampled_y = candidates.stratified_rows(x, y, 100, seed=2)
    assert (len(sampled_y), int(sampled_y.sum())) == (100, 20)
    assert sampled_x["a"].is_monotonic_increasing
    np.testing.assert_array_equal(y[sampled_x["a"].to_numpy()], sampled_y)
    assert candidates.stratified_rows(x, y, 1000, seed=2)[0] is x


def test_models_with_superlinear_cost_fit_on_a_bounded_sample_and_score_every_row(customers):
    numeric, categorical = churn.feature_columns(customers)
    x, y = customers[numeric + categorical], customers["churn"].to_numpy()
    columns = (numeric, categorical, {c: int(x[c].nunique()) for c in categorical})
    forest = churn.build_model("random_forest", *columns, 3, {"max_depth": 4}, max_fit_rows=150).fit(x, y)
    assert forest.named_steps["bounded"].kw_args == {"max_rows": 150, "seed": 3}
    fitted_rows = sum(tree.tree_.n_node_samples[0] for tree in forest.named_steps["model"].estimators_)
    assert fitted_rows <= 150 * len(forest.named_steps["model"].estimators_)  # bootstrap draws of 150 rows
    assert forest.predict_proba(x).shape == (len(x), 2)
    boosted = churn.build_model("xgboost_focal", *columns, 3, {}, max_fit_rows=150)
    assert "bounded" not in boosted.named_steps


def test_cross_validated_roc_auc_is_the_mean_within_cutoffs():
    # Two cutoffs: within each the score ranks perfectly (AUC 1), but the earlier cutoff's scores are all
    # higher, so pooling the cutoffs gives less than 1.
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    periods = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    score = np.array([0.6, 0.9, 0.6, 0.9, 0.1, 0.5, 0.1, 0.5])
    splits = [
        (np.array([4, 5, 6, 7]), np.array([0, 1, 2, 3])),
        (np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7])),
    ]
    out_of_fold, cv_roc_auc, _ = churn._out_of_fold(y, periods, splits, [score[:4], score[4:]])
    np.testing.assert_array_equal(out_of_fold, score)
    assert cv_roc_auc == 1.0 and roc_auc_score(y, score) < 1.0


def test_beyond_the_search_sample_a_held_out_calibration_set_calibrates_the_final_model():
    frame = drifting_cutoffs()
    search = SearchParams(budget=1, folds=2, max_rows=400)
    params = PARAMS.model_copy(update={"test_size": 0.5, "base_rate": "latest", "search": search})
    result = churn.train_and_evaluate(frame, params, seed=1)

    train = frame.iloc[result.split.train]
    groups = churn.customer_groups(frame)[result.split.train]
    searched = churn.search_sample(train["churn"].to_numpy(), groups, 400, 1)
    assert result.n_searched == len(searched) < len(train)
    latest = searched[(train["cutoff"] == train["cutoff"].max()).to_numpy()[searched]]
    model = result.models["logistic_regression"]
    # Platt scaling fitted on these rows' scores of the final model puts its mean at their churn rate.
    calibrated = model.uncorrected_proba(train.iloc[latest][result.features])
    assert calibrated.mean() == pytest.approx(train["churn"].iloc[latest].mean(), abs=1e-4)


def test_cross_validated_scores_match_scikit_learns_cross_val_predict():
    frame = drifting_cutoffs()
    x, y, groups = frame[["signal"]], frame["churn"].to_numpy(), frame["customer_id"].to_numpy()
    splits = list(GroupKFold(n_splits=4).split(x, y, groups))

    np.testing.assert_allclose(
        churn.cross_validated_scores(LogisticRegression(), x, y, splits),
        cross_val_predict(LogisticRegression(), x, y, cv=splits, method="predict_proba")[:, 1],
    )


def test_within_the_search_sample_calibration_uses_out_of_fold_scores_over_the_calibration_folds():
    frame = drifting_cutoffs().query("customer_id < 300")
    params = PARAMS.model_copy(update={"test_size": 0.5, "base_rate": "latest", "calibration_folds": 4})
    result = churn.train_and_evaluate(frame, params, seed=1)

    train = frame.iloc[result.split.train]
    x, y = train[result.features], train["churn"].to_numpy()
    groups = churn.customer_groups(train)
    splits = list(churn._folds(4, 1).split(x, y, groups))
    for fit_rows, held_out in splits:
        assert not set(groups[fit_rows]) & set(groups[held_out])
    latest = (train["cutoff"] == train["cutoff"].max()).to_numpy()
    out_of_fold = {
        name: churn.cross_validated_scores(clone(result.models[name].pipeline), x, y, splits)[latest]
        for name in (*churn.MODELS, churn.REFERENCE)
    }
    # The soft vote's are its members' out-of-fold scores, averaged.
    out_of_fold[churn.ENSEMBLE] = calibration.soft_vote([out_of_fold[name] for name in churn.BOOSTED])
    for name, model in result.models.items():
        # The deployed model is one fit on every training row.
        refitted = clone(model.pipeline).fit(x, y)
        np.testing.assert_allclose(model.ranking_score(x), refitted.predict_proba(x)[:, 1], err_msg=name)
        # Its map is fitted on the 4-fold (not the search's 2-fold) out-of-fold scores at the latest
        # training cutoff, and its threshold is where the campaign earns most on them.
        expected = calibration.fit_platt(out_of_fold[name], y[latest])
        np.testing.assert_allclose(model.calibrator.coef_, expected.coef_, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(model.calibrator.intercept_, expected.intercept_, rtol=1e-6, err_msg=name)
        calibrated = calibration.platt(model.calibrator, out_of_fold[name])
        threshold = evaluate.profit_threshold(y[latest], calibrated, params.business)
        assert result.metrics[name]["threshold"] == threshold, name


def test_calibration_folds_beyond_the_customers_become_one_customer_per_fold():
    frame = drifting_cutoffs()
    frame = frame[frame["customer_id"] < 40]
    params = PARAMS.model_copy(update={"test_size": 0.25, "base_rate": "latest", "calibration_folds": 50})
    result = churn.train_and_evaluate(frame, params, seed=1)

    assert all(np.isfinite(scores["ece"]) for scores in result.metrics.values())


def test_auto_base_rate_keeps_the_latest_rate_when_the_rate_turns():
    frame = drifting_cutoffs()
    turned = frame.assign(
        cutoff=frame["cutoff"].map(dict(zip(sorted(frame["cutoff"].unique()), [1, 0, 2], strict=True)))
    )
    params = PARAMS.model_copy(update={"drift_significance": 0.5})
    base_rate = churn._base_rate(turned, "churn", 0.3, params)

    assert base_rate["drift_p_value"] < 0.5 and base_rate["target_rate"] == 0.3


def test_calibration_sentence_says_when_the_rates_turned():
    table = pd.DataFrame({"predicted": [0.1, 0.5], "observed": [0.1, 0.7]})
    turned = {
        "calibration_rate": 0.2,
        "target_rate": 0.2,
        "rule": "auto",
        "training_rates": [0.15, 0.25, 0.2],
        "drift_p_value": 0.00001,
        "rates_differ": True,
        "rates_move_one_way": False,
    }
    text = evaluate.calibration_sentence(table, 0.05, 0.05, (0.011, 0.03), turned, 0.21)
    assert "p < 0.0001" in text and "did not move the same way at every step" in text


def test_the_naive_split_names_its_rows_and_the_leak_sentence_follows_the_sign():
    metrics = {
        "naive": {"roc_auc": 0.70, "rows": 17_763, "of_rows": 17_763},
        "roc_auc": 0.72,
        "validation": "time-aware",
    }
    assert churn.naive_rows_phrase(metrics) == "all 17,763 rows"
    assert "0.020 below the leak-free figure" in churn.leak_sentence(metrics)
    sampled = metrics | {"naive": {"roc_auc": 0.723, "rows": 100_000, "of_rows": 3_000_000}}
    assert churn.naive_rows_phrase(sampled) == "a sample of 100,000 of the 3,000,000 rows"
    assert "within 0.003 of the leak-free figure" in churn.leak_sentence(sampled)
