"""Daily sales forecasts (revenue and orders) validated by rolling-origin cross-validation.

Candidates, from statsforecast: AutoETS and AutoARIMA with a weekly season, MSTL with every season
length when the shortest training history holds at least two full cycles of the longest, and the
seasonal naive forecast (the value of the same weekday a week earlier) as the baseline. Every model is
refitted at each origin of ``windows`` consecutive windows of ``horizon_days`` days at the end of the
history, on the days before the origin only. The windows are split in time: the model of each series
is chosen on the earlier ones (the choosing windows) and its reported errors come from the last
``test_windows`` (the test windows), which played no part in choosing it, so the errors a model won on
are never the errors it is reported with. The final forecast then refits it on the whole history; its
days beyond ``horizon_days`` lie outside the horizon the errors were measured on.

Errors per series and model, over every forecast day of the windows given: RMSE, MAE, MAPE (sMAPE
instead when an actual day is zero, where MAPE is undefined), MASE (here the model's MAE over the
seasonal naive forecast's MAE on the same days: below 1 beats the baseline) and the share of actual days
inside the 80% and 95% prediction intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "BASELINE",
    "LEVELS",
    "SERIES",
    "Validation",
    "choose_and_test",
    "candidate_models",
    "choose_models",
    "chosen_model_errors",
    "cross_validate",
    "daily_series",
    "error_by_days_ahead",
    "error_by_days_ahead_figure",
    "error_by_days_ahead_sentence",
    "final_forecast",
    "forecast_figure",
    "forecast_metrics",
    "forecast_sentence",
    "history_and_outlook",
    "horizon_summary",
    "metrics_summary",
    "outlook_horizon_sentence",
    "outlook_summary",
    "split_windows",
]

SERIES = ("revenue", "orders")
"""The forecast series: revenue per day and orders per day (UTC days)."""
WEEK = 7
BASELINE = "SeasonalNaive"
"""The seasonal naive forecast (same weekday last week): the baseline every error is scaled by."""
LEVELS = (80, 95)
"""Prediction-interval levels, in percent."""


def daily_series(transactions: pd.DataFrame) -> pd.DataFrame:
    """Revenue and orders per UTC day in statsforecast's long shape: ``unique_id``, ``ds``, ``y``.

    ``transactions`` has one row per order with ``timestamp`` and ``amount``. Every day from the first
    to the last order is present; a day without orders is 0.
    """
    stamp = pd.to_datetime(transactions["timestamp"])
    if stamp.dt.tz is not None:
        stamp = stamp.dt.tz_convert("UTC").dt.tz_localize(None)
    day = stamp.dt.floor("D").rename("ds")
    per_day = transactions["amount"].astype(float).groupby(day).agg(revenue="sum", orders="size")
    days = pd.date_range(per_day.index.min(), per_day.index.max(), freq="D", name="ds")
    per_day = per_day.reindex(days, fill_value=0).astype(float)
    return pd.concat(
        [pd.DataFrame({"unique_id": name, "ds": days, "y": per_day[name].to_numpy()}) for name in SERIES],
        ignore_index=True,
    )


def candidate_models(history_days: int, season_lengths: Sequence[int] = (WEEK, 365)) -> list:
    """The statsforecast models worth fitting to ``history_days`` days, the baseline last.

    MSTL joins when the history holds two full cycles of the longest of ``season_lengths``.
    """
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

    models = [AutoETS(season_length=WEEK), AutoARIMA(season_length=WEEK)]
    if history_days >= 2 * max(season_lengths):
        models.append(MSTL(season_length=sorted(season_lengths)))
    return [*models, SeasonalNaive(season_length=WEEK)]


def _history_days(series: pd.DataFrame) -> int:
    return int(series.groupby("unique_id").size().min())


def cross_validate(
    series: pd.DataFrame, horizon_days: int, windows: int, season_lengths: Sequence[int] = (WEEK, 365)
) -> pd.DataFrame:
    """Forecasts of every candidate at each of ``windows`` origins, ``horizon_days`` apart, with intervals.

    statsforecast's cross-validation frame: ``unique_id``, ``ds``, ``cutoff`` (the last training day),
    ``y`` and, per model, the forecast and its ``-lo-``/``-hi-`` bounds at :data:`LEVELS`.

    Raises
    ------
    ValueError
        Naming ``forecast.horizon_days`` and ``forecast.windows`` when the windows leave fewer than two
        weeks to train on.
    """
    from statsforecast import StatsForecast

    held_out = horizon_days * windows
    shortest = _history_days(series) - held_out
    if shortest < 2 * WEEK:
        raise ValueError(
            f"forecast.horizon_days {horizon_days} x forecast.windows {windows} = {held_out} days leave "
            f"{shortest} days of history to train on (at least {2 * WEEK} needed); shorten either"
        )
    forecaster = StatsForecast(models=candidate_models(shortest, season_lengths), freq="D", n_jobs=1)
    cv = forecaster.cross_validation(
        df=series, h=horizon_days, n_windows=windows, step_size=horizon_days, level=list(LEVELS)
    )
    return cv.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)


def split_windows(cv: pd.DataFrame, test_windows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The choosing windows (every origin but the last ``test_windows``) and the test windows after them.

    Raises
    ------
    ValueError
        Naming ``forecast.test_windows`` when it leaves no window to choose on.
    """
    cutoffs = np.sort(cv["cutoff"].unique())
    if not 1 <= test_windows < len(cutoffs):
        raise ValueError(
            f"forecast.test_windows {test_windows} must be at least 1 and leave at least one of the "
            f"{len(cutoffs)} forecast.windows to choose the model on"
        )
    tested = cv["cutoff"] >= cutoffs[-test_windows]
    return cv[~tested].reset_index(drop=True), cv[tested].reset_index(drop=True)


def _model_names(cv: pd.DataFrame) -> list[str]:
    fixed = {"unique_id", "ds", "cutoff", "y"}
    return [c for c in cv.columns if c not in fixed and "-lo-" not in c and "-hi-" not in c]


def _inside(frame: pd.DataFrame, model: str, level: int) -> pd.Series:
    return (frame["y"] >= frame[f"{model}-lo-{level}"]) & (frame["y"] <= frame[f"{model}-hi-{level}"])


def forecast_metrics(cv: pd.DataFrame) -> pd.DataFrame:
    """RMSE, MAE, MAPE, sMAPE, MASE and interval coverage per series and model, over the windows of ``cv``.

    ``mape`` is missing for a series with a zero day; ``smape`` (the mean of ``2|e| / (|y| + |f|)``,
    0 where both are 0) is always given. ``days``, ``first_day`` and ``last_day`` say which forecast
    days the errors cover.
    """
    rows = []
    for name, frame in cv.groupby("unique_id", sort=False):
        actual = frame["y"].to_numpy(float)
        baseline_mae = np.abs(frame[BASELINE].to_numpy(float) - actual).mean()
        for model in _model_names(cv):
            predicted = frame[model].to_numpy(float)
            error = predicted - actual
            scale = np.abs(actual) + np.abs(predicted)
            smape = np.divide(2 * np.abs(error), scale, out=np.zeros_like(error), where=scale > 0).mean()
            rows.append(
                {
                    "series": name,
                    "model": model,
                    "days": len(frame),
                    "first_day": f"{frame['ds'].min():%Y-%m-%d}",
                    "last_day": f"{frame['ds'].max():%Y-%m-%d}",
                    "rmse": float(np.sqrt((error**2).mean())),
                    "mae": float(np.abs(error).mean()),
                    "mape": float(np.abs(error / actual).mean()) if (actual != 0).all() else np.nan,
                    "smape": float(smape),
                    "mase": float(np.abs(error).mean() / baseline_mae),
                    **{f"coverage_{level}": float(_inside(frame, model, level).mean()) for level in LEVELS},
                }
            )
    return pd.DataFrame(rows).round(4)


def choose_models(choosing_errors: pd.DataFrame) -> dict[str, str]:
    """Per series, the model with the lowest MASE on the choosing windows (the first listed on a tie).

    ``choosing_errors`` is :func:`forecast_metrics` of the choosing windows of :func:`split_windows`
    only: the test windows must not take part, or their errors would flatter the model they chose.
    """
    best = choosing_errors.loc[choosing_errors.groupby("series", sort=False)["mase"].idxmin()]
    return dict(zip(best["series"], best["model"], strict=True))


def chosen_model_errors(errors: pd.DataFrame, chosen: dict[str, str]) -> pd.DataFrame:
    """The rows of ``errors`` (from :func:`forecast_metrics`) of each series' chosen model."""
    picked = errors["model"] == errors["series"].map(chosen)
    return errors[picked].reset_index(drop=True)


@dataclass(frozen=True)
class Validation:
    """Every model's errors on the choosing windows, the models chosen on them, their test-window errors."""

    choosing_errors: pd.DataFrame
    chosen: dict[str, str]
    test_errors: pd.DataFrame


def choose_and_test(cv: pd.DataFrame, test_windows: int) -> Validation:
    """Choose each series' model on all but the last ``test_windows`` windows of ``cv``; test it on those."""
    choosing, test = split_windows(cv, test_windows)
    choosing_errors = forecast_metrics(choosing)
    chosen = choose_models(choosing_errors)
    return Validation(choosing_errors, chosen, chosen_model_errors(forecast_metrics(test), chosen))


def _errors_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One row of :func:`forecast_metrics` for the metrics file: MAPE, or sMAPE when a day is zero."""
    percentage = {"smape": row["smape"]} if np.isnan(row["mape"]) else {"mape": row["mape"]}
    errors = {"rmse": row["rmse"], "mae": row["mae"], **percentage, "mase": row["mase"]}
    return {**errors, **{f"coverage_{level}": row[f"coverage_{level}"] for level in LEVELS}}


def metrics_summary(
    choosing_errors: pd.DataFrame, test_errors: pd.DataFrame, chosen: dict[str, str]
) -> dict[str, dict[str, object]]:
    """Per series: the chosen model, its errors on the test windows and every model's on the choosing ones.

    ``test`` holds the chosen model's errors on the days of the test windows (``days``, ``first_day``,
    ``last_day``); ``models_on_choosing_windows`` holds the errors the choice was made on.
    """
    summary = {}
    for name, frame in choosing_errors.groupby("series", sort=False):
        tested = test_errors[(test_errors["series"] == name) & (test_errors["model"] == chosen[name])]
        row = tested.to_dict("records")[0]
        summary[name] = {
            "chosen_model": chosen[name],
            "test": {
                **{key: row[key] for key in ("days", "first_day", "last_day")},
                **_errors_entry(row),
            },
            "models_on_choosing_windows": {
                entry["model"]: _errors_entry(entry) for entry in frame.to_dict("records")
            },
        }
    return summary


def horizon_summary(
    validated_horizon_days: int, windows: int, test_windows: int, outlook_days: int
) -> dict[str, int]:
    """The validation's windows and horizon beside the outlook's length, and how far it reaches beyond."""
    return {
        "validated_horizon_days": validated_horizon_days,
        "windows": windows,
        "choosing_windows": windows - test_windows,
        "test_windows": test_windows,
        "outlook_days": outlook_days,
        "outlook_days_beyond_validated": max(outlook_days - validated_horizon_days, 0),
    }


def outlook_horizon_sentence(validated_horizon_days: int, outlook_days: int) -> str:
    """Whether the outlook of ``outlook_days`` reaches beyond the horizon its errors were measured on."""
    if outlook_days <= validated_horizon_days:
        return (
            f"The outlook runs {outlook_days} days ahead, within the {validated_horizon_days}-day horizon "
            "the validation errors were measured on."
        )
    return (
        f"The outlook runs {outlook_days} days ahead, {outlook_days - validated_horizon_days} days beyond "
        f"the {validated_horizon_days}-day horizon the validation errors were measured on: its days "
        f"{validated_horizon_days + 1} to {outlook_days} are not validated, and their intervals rest on the "
        "model's own assumptions only."
    )


def error_by_days_ahead(cv: pd.DataFrame) -> pd.DataFrame:
    """MAE and RMSE per series, model and days ahead of the origin (1 = the day after it), over windows."""
    days_ahead = (cv["ds"] - cv["cutoff"]).dt.days
    frames = []
    for model in _model_names(cv):
        error = cv[model] - cv["y"]
        frame = pd.DataFrame(
            {
                "series": cv["unique_id"],
                "model": model,
                "days_ahead": days_ahead,
                "abs": error.abs(),
                "sq": error**2,
            }
        )
        frames.append(frame)
    grouped = pd.concat(frames).groupby(["series", "model", "days_ahead"], sort=False)
    table = grouped.agg(mae=("abs", "mean"), rmse=("sq", "mean")).reset_index()
    table["rmse"] = np.sqrt(table["rmse"])
    return table.round(4)


def final_forecast(
    series: pd.DataFrame,
    chosen: dict[str, str],
    horizon_days: int,
    season_lengths: Sequence[int] = (WEEK, 365),
) -> pd.DataFrame:
    """The chosen model of each series refitted on its whole history: the next ``horizon_days`` days.

    Columns: ``unique_id``, ``ds``, ``model``, ``forecast`` and ``lo_80``, ``hi_80``, ``lo_95``, ``hi_95``.
    """
    from statsforecast import StatsForecast

    frames = []
    for name, history in series.groupby("unique_id", sort=False):
        models = {repr(m): m for m in candidate_models(len(history), season_lengths)}
        model = chosen[name]
        forecaster = StatsForecast(models=[models[model]], freq="D", n_jobs=1)
        predicted = forecaster.forecast(df=history, h=horizon_days, level=list(LEVELS))
        bounds = {f"{side}_{lv}": predicted[f"{model}-{side}-{lv}"] for lv in LEVELS for side in ("lo", "hi")}
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": name,
                    "ds": predicted["ds"],
                    "model": model,
                    "forecast": predicted[model],
                    **bounds,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def outlook_summary(forecast: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Per series: the model, the forecast days and the forecast total with its 80% and 95% ranges.

    A range is the sum of the daily interval bounds: for roughly normal daily errors it is at least as
    wide as the interval of the total, and equal to it when the days' errors move together, so it errs
    on the wide side.
    """
    summary = {}
    for name, ahead in forecast.groupby("unique_id", sort=False):
        summary[name] = {
            "model": ahead["model"].iloc[0],
            "days": len(ahead),
            "first_day": f"{ahead['ds'].min():%Y-%m-%d}",
            "last_day": f"{ahead['ds'].max():%Y-%m-%d}",
            "total": round(float(ahead["forecast"].sum()), 2),
            **{
                f"total_{side}_{level}": round(float(ahead[f"{side}_{level}"].sum()), 2)
                for level in LEVELS
                for side in ("lo", "hi")
            },
        }
    return summary


def history_and_outlook(series: pd.DataFrame, forecast: pd.DataFrame, history_days: int) -> pd.DataFrame:
    """The last ``history_days`` actual days of each series, then its forecast with the intervals."""
    history = series.groupby("unique_id", sort=False).tail(history_days)
    actual = pd.DataFrame({"series": history["unique_id"], "ds": history["ds"], "actual": history["y"]})
    ahead = forecast.rename(columns={"unique_id": "series"})
    bounds = [f"{side}_{level}" for level in LEVELS for side in ("lo", "hi")]
    table = pd.concat([actual, ahead[["series", "ds", "model", "forecast", *bounds]]], ignore_index=True)
    table["ds"] = pd.to_datetime(table["ds"]).dt.strftime("%Y-%m-%d")
    return table.round(4)


_LABELS = {"revenue": "revenue per day", "orders": "orders per day"}


def forecast_figure(
    series: pd.DataFrame, forecast: pd.DataFrame, name: str, history_days: int = 180
) -> go.Figure:
    """The last ``history_days`` days of series ``name``, the forecast and its 80% and 95% intervals."""
    history = series[series["unique_id"] == name].tail(history_days)
    ahead = forecast[forecast["unique_id"] == name]
    figure = go.Figure()
    for level, opacity in zip(sorted(LEVELS, reverse=True), (0.15, 0.3), strict=True):
        figure.add_trace(
            go.Scatter(
                x=pd.concat([ahead["ds"], ahead["ds"][::-1]]),
                y=pd.concat([ahead[f"hi_{level}"], ahead[f"lo_{level}"][::-1]]),
                fill="toself",
                fillcolor=f"rgba(31, 119, 180, {opacity})",
                line={"width": 0},
                name=f"{level}% interval",
            )
        )
    figure.add_trace(go.Scatter(x=history["ds"], y=history["y"], name="actual", line={"color": "#333"}))
    figure.add_trace(
        go.Scatter(x=ahead["ds"], y=ahead["forecast"], name=f"forecast ({ahead['model'].iloc[0]})")
    )
    figure.update_layout(
        title=f"Forecast of {_LABELS.get(name, name)}", xaxis_title="day (UTC)", yaxis_title=name
    )
    return figure


def forecast_sentence(
    test_errors: pd.DataFrame, chosen: dict[str, str], forecast: pd.DataFrame, name: str
) -> str:
    """The chosen model of series ``name``, its errors on the test windows against the baseline, the outlook.

    ``test_errors`` is :func:`forecast_metrics` of the test windows of :func:`split_windows`.
    """
    row = test_errors[(test_errors["series"] == name) & (test_errors["model"] == chosen[name])].iloc[0]
    ahead = forecast[forecast["unique_id"] == name]
    percentage = f"MAPE {row.mape:.1%}" if not np.isnan(row.mape) else f"sMAPE {row.smape:.1%}"
    if row.mase < 1:
        verdict = "beats"
    else:
        verdict = "does not beat" if row.mase > 1 else "ties"
    return (
        f"For {_LABELS.get(name, name)}, {chosen[name]} had the lowest MASE on the choosing windows. On "
        f"the {row.days} test days from {row.first_day} to {row.last_day}, which played no part in "
        f"choosing it, its MASE is {row.mase:.2f} against the seasonal naive forecast, which it {verdict} "
        f"(MAE {row.mae:,.1f}, RMSE {row.rmse:,.1f}, {percentage}); its 80% and 95% intervals held "
        f"{row.coverage_80:.0%} and {row.coverage_95:.0%} of those days. Over the next {len(ahead)} days "
        f"it forecasts {ahead['forecast'].sum():,.0f} in total ({ahead['forecast'].mean():,.1f} a day)."
    )


def error_by_days_ahead_figure(table: pd.DataFrame, name: str) -> go.Figure:
    """MAE of series ``name`` by days ahead of the forecast origin, one line per model."""
    figure = go.Figure()
    for model, frame in table[table["series"] == name].groupby("model", sort=False):
        figure.add_trace(go.Scatter(x=frame["days_ahead"], y=frame["mae"], name=model, mode="lines+markers"))
    figure.update_layout(
        title=f"Forecast error of {_LABELS.get(name, name)} by days ahead",
        xaxis_title="days ahead of the forecast origin",
        yaxis_title="mean absolute error",
    )
    return figure


def error_by_days_ahead_sentence(table: pd.DataFrame, chosen: dict[str, str], name: str, windows: int) -> str:
    """How the chosen model's error of series ``name`` changes from the first to the last week ahead.

    ``table`` is :func:`error_by_days_ahead` of all ``windows`` windows, the choosing and the test ones.
    """
    rows = table[(table["series"] == name) & (table["model"] == chosen[name])].sort_values("days_ahead")
    first, last = rows.head(WEEK)["mae"].mean(), rows.tail(WEEK)["mae"].mean()
    change = "rises from" if last > first else "falls from" if last < first else "is the same,"
    return (
        f"Over all {windows} windows, the choosing and the test ones, {chosen[name]}'s mean absolute error "
        f"of {_LABELS.get(name, name)} {change} {first:,.1f} over the first week ahead to {last:,.1f} "
        f"over the last week of the {rows['days_ahead'].max()}-day horizon."
    )
