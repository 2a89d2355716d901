"""The stages that model the purchase log: lifetime value, next purchase and the sales forecast."""

import json

import joblib
import numpy as np
import pandas as pd
import pytest

from cba.config import Paths
from cba.stages import churn as churn_stage
from cba.stages import clv, forecast, next_purchase


@pytest.mark.parametrize("stage", [clv, next_purchase, forecast], ids=["clv", "next_purchase", "forecast"])
def test_a_source_without_events_is_skipped_and_says_why(stage, params, tmp_path):
    kaggle = params.model_copy(update={"data": params.data.model_copy(update={"source": "kaggle"})})
    (tmp_path / "datasets" / "processed").mkdir(parents=True)
    result = stage.run(kaggle, Paths(tmp_path))
    name = stage.__name__.rsplit(".", 1)[-1]
    written = json.loads((tmp_path / "metrics" / f"{name}.json").read_text())
    assert written == {"skipped": result.skipped}
    assert result.skipped.startswith("data.source kaggle has no event log")
    assert all(path.read_text().strip() for path in (tmp_path / "plots").glob("*.csv"))  # headers only


def test_next_purchase_skipped_writes_no_model(params, tmp_path):
    kaggle = params.model_copy(update={"data": params.data.model_copy(update={"source": "kaggle"})})
    (tmp_path / "datasets" / "processed").mkdir(parents=True)
    next_purchase.run(kaggle, Paths(tmp_path))
    assert "skipped" in joblib.load(tmp_path / "models" / "next_purchase.joblib")
    assert pd.read_parquet(tmp_path / "datasets" / "scores" / "next_purchase.parquet").empty


def _purchase_log(days: int, customers: int, seed: int) -> pd.DataFrame:
    """Purchases of ``customers`` customers over ``days`` days, busier on weekends."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for day in range(days):
        stamp = start + pd.Timedelta(days=day)
        for customer in rng.choice(customers, size=rng.poisson(8 if stamp.dayofweek >= 5 else 5)):
            rows.append(
                (int(customer), stamp + pd.Timedelta(hours=int(rng.integers(0, 24))), 20.0 + customer)
            )
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "price"])
    return frame.assign(event_type="purchase")


def test_forecast_stage_on_a_small_log_writes_metrics_and_plots(params, tmp_path):
    processed = tmp_path / "datasets" / "processed"
    processed.mkdir(parents=True)
    _purchase_log(120, 40, 0).to_parquet(processed / "events.parquet", index=False)
    settings = params.forecast.model_copy(update={"horizon_days": 7, "windows": 2, "final_horizon_days": 14})
    result = forecast.run(params.model_copy(update={"forecast": settings}), Paths(tmp_path))
    written = json.loads((tmp_path / "metrics" / "forecast.json").read_text())
    assert written["validation"] == "rolling origin"
    assert set(result.chosen) == {"revenue", "orders"}
    assert (written["choosing_windows"], written["test_windows"]) == (1, 1)
    assert (written["validated_horizon_days"], written["outlook_days"]) == (7, 14)
    assert written["outlook_days_beyond_validated"] == 7
    revenue = written["revenue"]
    assert revenue["test"]["days"] == 7
    assert revenue["test"]["last_day"] == f"{result.series['ds'].max():%Y-%m-%d}"
    on_choosing = revenue["models_on_choosing_windows"]
    assert revenue["chosen_model"] == min(on_choosing, key=lambda model: on_choosing[model]["mase"])
    assert written["outlook"]["revenue"]["days"] == 14
    outlook = written["outlook"]["revenue"]
    assert outlook["total_lo_95"] <= outlook["total_lo_80"] <= outlook["total"] <= outlook["total_hi_80"]
    plot = pd.read_csv(tmp_path / "plots" / "forecast.csv")
    assert plot["forecast"].notna().sum() == 2 * 14


def test_churn_scores_carry_lifetime_value_where_the_clv_stage_valued_customers(params, tmp_path):
    scores_dir = tmp_path / "datasets" / "scores"
    scores_dir.mkdir(parents=True)
    pd.DataFrame({"customer_id": [1], "clv": [90.0], "probability_alive": [0.7]}).to_parquet(
        scores_dir / "clv.parquet"
    )
    scores = pd.DataFrame({"customer_id": [1, 2], "churn_probability": [0.5, 0.5], "value": [10.0, 10.0]})
    valued, basis = churn_stage._with_lifetime_value(scores, Paths(tmp_path), params, "revenue to date")
    assert valued["clv"].tolist() == [90.0, 0.0]  # a customer who never bought holds no future value
    assert basis == f"expected value of the next {params.clv.months} months (CLV)"
    pd.DataFrame({"customer_id": [], "clv": [], "probability_alive": []}).to_parquet(
        scores_dir / "clv.parquet"
    )
    assert churn_stage._with_lifetime_value(scores, Paths(tmp_path), params, "revenue to date")[1] == (
        "revenue to date"
    )
