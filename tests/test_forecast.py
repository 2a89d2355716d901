import numpy as np
import pandas as pd
import pytest

from cba import forecast

WEEKLY = np.array([10.0, 12, 14, 11, 13, 20, 25])


def series_with_break(days: int, break_after: int, level_after: float) -> pd.DataFrame:
    """One series with a weekly pattern whose level jumps to ``level_after`` after day ``break_after``."""
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    y = np.resize(WEEKLY, days)
    y[break_after + 1 :] += level_after
    return pd.DataFrame({"unique_id": "revenue", "ds": ds, "y": y})


def test_daily_series_fills_days_without_orders():
    orders = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2024-03-01T10:00Z", "2024-03-01T23:30-02:00", "2024-03-04T08:00Z"], utc=True
            ),
            "amount": [10.0, 5.0, 7.5],
        }
    )
    series = forecast.daily_series(orders)
    days = pd.date_range("2024-03-01", "2024-03-04", freq="D")
    expected = pd.DataFrame(
        {
            "unique_id": ["revenue"] * 4 + ["orders"] * 4,
            "ds": list(days) * 2,
            "y": [10.0, 5.0, 0.0, 7.5, 1.0, 1.0, 0.0, 1.0],  # 23:30 at -02:00 is 2 March in UTC
        }
    )
    pd.testing.assert_frame_equal(series, expected)


def test_cross_validation_never_sees_the_days_after_its_origin():
    # The level jumps by 1000 right after day 69, the last training day of the first window.
    series = series_with_break(days=100, break_after=69, level_after=1000)
    cv = forecast.cross_validate(series, horizon_days=10, windows=3, season_lengths=(7,))
    first = cv[cv["cutoff"] == series["ds"].iloc[69]]
    assert len(first) == 10 and (first["ds"] > first["cutoff"]).all()
    for model in ("AutoETS", "AutoARIMA", "MSTL", "SeasonalNaive"):
        assert first[model].max() < 100, model  # forecasts at the old level: the jump was not seen
    # the seasonal naive forecast is the last training week, repeated
    np.testing.assert_allclose(first["SeasonalNaive"], np.resize(np.roll(WEEKLY, -70 % 7), 10))
    later = cv[cv["cutoff"] == series["ds"].iloc[89]]
    assert later["SeasonalNaive"].min() > 1000  # once trained on the jump, the forecasts follow it


def test_mstl_needs_two_cycles_of_its_longest_season():
    names = [repr(m) for m in forecast.candidate_models(400, (7, 365))]
    assert names == ["AutoETS", "AutoARIMA", "SeasonalNaive"]
    assert "MSTL" in [repr(m) for m in forecast.candidate_models(730, (7, 365))]


def test_too_many_windows_name_the_params():
    with pytest.raises(ValueError, match="forecast.horizon_days 30 x forecast.windows 4"):
        forecast.cross_validate(series_with_break(100, 99, 0), horizon_days=30, windows=4)


def cv_frame(actual, naive, model, lo80, hi80, lo95, hi95) -> pd.DataFrame:
    days = pd.date_range("2024-01-02", periods=len(actual), freq="D")
    frame = pd.DataFrame(
        {
            "unique_id": "orders",
            "ds": days,
            "cutoff": pd.Timestamp("2024-01-01"),
            "y": actual,
            "Model": model,
            "SeasonalNaive": naive,
        }
    )
    for name in ("Model", "SeasonalNaive"):
        frame[f"{name}-lo-80"], frame[f"{name}-hi-80"] = lo80, hi80
        frame[f"{name}-lo-95"], frame[f"{name}-hi-95"] = lo95, hi95
    return frame


def test_metrics_by_hand():
    cv = cv_frame(
        actual=[10.0, 20, 40, 30],
        naive=[14.0, 10, 40, 40],  # errors 4, -10, 0, 10: MAE 6
        model=[12.0, 18, 43, 30],  # errors 2, -2, 3, 0: MAE 1.75
        lo80=[9.0, 21, 35, 29],
        hi80=[11.0, 25, 45, 31],  # holds days 1, 3, 4
        lo95=[0.0, 0, 0, 0],
        hi95=[100.0, 100, 100, 100],
    )
    metrics = forecast.forecast_metrics(cv).set_index("model")
    row = metrics.loc["Model"]
    assert row["mae"] == 1.75
    assert row["rmse"] == pytest.approx(np.sqrt((4 + 4 + 9 + 0) / 4), abs=1e-4)
    assert row["mape"] == pytest.approx((0.2 + 0.1 + 0.075 + 0) / 4, abs=1e-4)
    assert row["mase"] == pytest.approx(1.75 / 6, abs=1e-4)
    assert (row["coverage_80"], row["coverage_95"]) == (0.75, 1.0)
    assert metrics.loc["SeasonalNaive", "mase"] == 1.0
    assert (row["days"], row["first_day"], row["last_day"]) == (4, "2024-01-02", "2024-01-05")
    chosen = forecast.choose_models(metrics.reset_index())
    assert chosen == {"orders": "Model"}
    summary = forecast.metrics_summary(metrics.reset_index(), metrics.reset_index(), chosen)
    assert summary["orders"]["chosen_model"] == "Model"
    assert "mape" in summary["orders"]["models_on_choosing_windows"]["Model"]


def test_a_zero_day_switches_mape_for_smape():
    cv = cv_frame([0.0, 10], [5.0, 10], [0.0, 5], [0, 0], [1, 1], [0, 0], [20, 20])
    metrics = forecast.forecast_metrics(cv).set_index("model")
    assert np.isnan(metrics.loc["Model", "mape"])
    assert metrics.loc["Model", "smape"] == pytest.approx((0 + 10 / 15) / 2, abs=1e-4)  # 0/0 counts 0
    summary = forecast.metrics_summary(metrics.reset_index(), metrics.reset_index(), {"orders": "Model"})
    assert set(summary["orders"]["models_on_choosing_windows"]["Model"]) == {
        "rmse",
        "mae",
        "smape",
        "mase",
        "coverage_80",
        "coverage_95",
    }


def test_error_by_days_ahead_by_hand():
    cv = cv_frame([10.0, 20], [12.0, 25], [11.0, 17], [0, 0], [1, 1], [0, 0], [1, 1])
    second = cv.assign(
        cutoff=pd.Timestamp("2024-01-02"), ds=cv["ds"] + pd.Timedelta(days=1), Model=[13.0, 20]
    )
    table = forecast.error_by_days_ahead(pd.concat([cv, second], ignore_index=True))
    model = table[table["model"] == "Model"].set_index("days_ahead")
    assert model.loc[1, "mae"] == 2.0  # |11 - 10| and |13 - 10|
    assert model.loc[2, "mae"] == 1.5  # |17 - 20| and |20 - 20|
    assert model.loc[2, "rmse"] == pytest.approx(np.sqrt(9 / 2), abs=1e-4)


def test_final_forecast_and_sentences():
    series = series_with_break(days=84, break_after=83, level_after=0)
    series["y"] += np.random.default_rng(0).normal(0, 1, len(series))  # the seasonal naive errs too
    series = pd.concat([series, series.assign(unique_id="orders")], ignore_index=True)
    cv = forecast.cross_validate(series, horizon_days=7, windows=2)
    validation = forecast.choose_and_test(cv, test_windows=1)
    chosen, test_errors = validation.chosen, validation.test_errors
    final = forecast.final_forecast(series, chosen, horizon_days=14)
    revenue = final[final["unique_id"] == "revenue"]
    assert len(revenue) == 14 and revenue["ds"].min() == pd.Timestamp("2024-03-25")
    assert (revenue["lo_95"] <= revenue["lo_80"]).all() and (revenue["hi_80"] <= revenue["hi_95"]).all()
    sentence = forecast.forecast_sentence(test_errors, chosen, final, "revenue")
    assert "On the 7 test days from 2024-03-18 to 2024-03-24" in sentence
    assert "over the next 14 days" in sentence.lower()
    table = forecast.error_by_days_ahead(cv)
    assert "Over all 2 windows" in forecast.error_by_days_ahead_sentence(table, chosen, "orders", 2)
    assert "7-day horizon" in forecast.error_by_days_ahead_sentence(table, chosen, "orders", 2)
    assert forecast.forecast_figure(series, final, "revenue").data
    assert forecast.error_by_days_ahead_figure(table, "orders").data


def two_window_cv() -> pd.DataFrame:
    """Two 2-day windows of one series: ``Steady`` wins the first, ``Late`` the second and both together.

    Absolute errors, window 1 (actual 10, 20) then window 2 (actual 30, 40):
    SeasonalNaive 4, 4 | 10, 10; Steady 1, 1 | 6, 6; Late 2, 2 | 0, 1.
    """
    frame = pd.DataFrame(
        {
            "unique_id": "orders",
            "ds": pd.date_range("2024-01-02", periods=4, freq="D"),
            "cutoff": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-03"]),
            "y": [10.0, 20, 30, 40],
            "Steady": [11.0, 19, 24, 46],
            "Late": [12.0, 22, 30, 41],
            "SeasonalNaive": [14.0, 16, 20, 50],
        }
    )
    for model in ("Steady", "Late", "SeasonalNaive"):
        frame[f"{model}-lo-95"], frame[f"{model}-hi-95"] = 0.0, 100.0
        frame[f"{model}-lo-80"], frame[f"{model}-hi-80"] = 0.0, 100.0
    # Steady's intervals on the second window: 30 inside both, 40 inside the 95% one only
    frame.loc[2:, "Steady-lo-80"], frame.loc[2:, "Steady-hi-80"] = [25.0, 41], [35.0, 50]
    frame.loc[2:, "Steady-lo-95"], frame.loc[2:, "Steady-hi-95"] = [20.0, 35], [45.0, 45]
    return frame


def test_the_model_is_chosen_without_the_test_window_and_reported_on_it():
    cv = two_window_cv()
    # peeking at every window would choose Late: MASE 1.25 / 7 against Steady's 3.5 / 7
    peeking = forecast.choose_models(forecast.forecast_metrics(cv))
    assert peeking == {"orders": "Late"}
    choosing, test = forecast.split_windows(cv, test_windows=1)
    assert choosing["cutoff"].unique().tolist() == [pd.Timestamp("2024-01-01")]
    assert test["ds"].tolist() == list(pd.date_range("2024-01-04", periods=2, freq="D"))
    tested = forecast.choose_and_test(cv, test_windows=1)
    choosing_errors, chosen, test_errors = tested.choosing_errors, tested.chosen, tested.test_errors
    assert chosen == {"orders": "Steady"}  # MASE 1 / 4 on the first window against Late's 2 / 4
    assert test_errors["model"].tolist() == ["Steady"]
    row = test_errors.iloc[0]
    assert row["mase"] == 0.6  # MAE 6 over the seasonal naive forecast's 10 on the same days
    assert row["mae"] == 6.0 and row["rmse"] == 6.0
    assert row["mape"] == pytest.approx((6 / 30 + 6 / 40) / 2, abs=1e-4)
    assert (row["coverage_80"], row["coverage_95"]) == (0.5, 1.0)
    summary = forecast.metrics_summary(choosing_errors, test_errors, chosen)["orders"]
    assert summary["chosen_model"] == "Steady"
    assert summary["test"] == {
        "days": 2,
        "first_day": "2024-01-04",
        "last_day": "2024-01-05",
        "rmse": 6.0,
        "mae": 6.0,
        "mape": 0.175,
        "mase": 0.6,
        "coverage_80": 0.5,
        "coverage_95": 1.0,
    }
    on_choosing = summary["models_on_choosing_windows"]
    assert {model: errors["mase"] for model, errors in on_choosing.items()} == {
        "Steady": 0.25,
        "Late": 0.5,
        "SeasonalNaive": 1.0,
    }


def test_the_test_windows_leave_a_window_to_choose_on():
    with pytest.raises(ValueError, match="forecast.test_windows 2 must be at least 1 and leave at least one"):
        forecast.split_windows(two_window_cv(), test_windows=2)


def test_the_outlook_says_when_it_reaches_beyond_the_validated_horizon():
    assert forecast.horizon_summary(30, windows=4, test_windows=1, outlook_days=90) == {
        "validated_horizon_days": 30,
        "windows": 4,
        "choosing_windows": 3,
        "test_windows": 1,
        "outlook_days": 90,
        "outlook_days_beyond_validated": 60,
    }
    beyond = forecast.outlook_horizon_sentence(30, 90)
    assert "90 days ahead, 60 days beyond the 30-day horizon" in beyond
    assert "days 31 to 90 are not validated" in beyond
    within = forecast.outlook_horizon_sentence(30, 30)
    assert "within the 30-day horizon" in within and "not validated" not in within
    assert forecast.horizon_summary(30, 4, 1, 14)["outlook_days_beyond_validated"] == 0
