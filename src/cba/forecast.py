"""Daily sales forecasts (revenue and orders) validated by rolling-origin cross-validation.

Candidates, from statsforecast: AutoETS and AutoARIMA with a weekly season, MSTL with every season
length when the shortest training history holds at least two full cycles of the longest, and the
seasonal naive forecast (the value of the same weekday a week earlier) as the baseline. Every model is
refitted at each origin of ``windows`` consecutive windows of ``horizon_days`` days at the end of the
history, on the days before the origin only. The model of each series is chosen on those windows; the
final forecast then refits it on the whole history.

Errors per series and model, over every forecast day of every window: RMSE, MAE, MAPE (sMAPE instead
when an actual day is zero, where MAPE is undefined), MASE (here the model's MAE over the seasonal naive
forecast's MAE on the same windows: below 1 beats the baseline) and the share of actual days inside the
80% and 95% prediction intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "BASELINE",
    "LEVELS",
    "SERIES",
    "candidate_models",
    "choose_models",
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
    "metrics_summary",
    "outlook_summary",
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


def _model_names(cv: pd.DataFrame) -> list[str]:
    fixed = {"unique_id", "ds", "cutoff", "y"}
    return [c for c in cv.columns if c not in fixed and "-lo-" not in c and "-hi-" not in c]


def _inside(frame: pd.DataFrame, model: str, level: int) -> pd.Series:
    return (frame["y"] >= frame[f"{model}-lo-{level}"]) & (frame["y"] <= frame[f"{model}-hi-{level}"])


def forecast_metrics(cv: pd.DataFrame) -> pd.DataFrame:
    """RMSE, MAE, MAPE, sMAPE, MASE and interval coverage per series and model, over every window.

    ``mape`` is missing for a series with a zero day; ``smape`` (the mean of ``2|e| / (|y| + |f|)``,
    0 where both are 0) is always given.
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
                    "rmse": float(np.sqrt((error**2).mean())),
                    "mae": float(np.abs(error).mean()),
                    "mape": float(np.abs(error / actual).mean()) if (actual != 0).all() else np.nan,
                    "smape": float(smape),
                    "mase": float(np.abs(error).mean() / baseline_mae),
                    **{f"coverage_{level}": float(_inside(frame, model, level).mean()) for level in LEVELS},
                }
            )
    return pd.DataFrame(rows).round(4)


def choose_models(metrics: pd.DataFrame) -> dict[str, str]:
    """Per series, the model with the lowest cross-validated MASE (the first listed on a tie)."""
    best = metrics.loc[metrics.groupby("series", sort=False)["mase"].idxmin()]
    return dict(zip(best["series"], best["model"], strict=True))


def metrics_summary(
    metrics: pd.DataFrame, chosen: dict[str, str], horizon_days: int, windows: int
) -> dict[str, object]:
    """The metrics file: per series the chosen model and every model's errors (MAPE, or sMAPE with zeros)."""
    summary: dict[str, object] = {"horizon_days": horizon_days, "windows": windows}
    for name, frame in metrics.groupby("series", sort=False):
        models = {}
        for row in frame.to_dict("records"):
            percentage = {"smape": row["smape"]} if np.isnan(row["mape"]) else {"mape": row["mape"]}
            errors = {"rmse": row["rmse"], "mae": row["mae"], **percentage, "mase": row["mase"]}
            models[row["model"]] = {**errors, **{f"coverage_{lv}": row[f"coverage_{lv}"] for lv in LEVELS}}
        summary[name] = {"chosen_model": chosen[name], "models": models}
    return summary


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
    metrics: pd.DataFrame, chosen: dict[str, str], forecast: pd.DataFrame, name: str
) -> str:
    """The chosen model of series ``name``, its validated errors against the baseline, and the outlook."""
    row = metrics[(metrics["series"] == name) & (metrics["model"] == chosen[name])].iloc[0]
    ahead = forecast[forecast["unique_id"] == name]
    percentage = f"MAPE {row.mape:.1%}" if not np.isnan(row.mape) else f"sMAPE {row.smape:.1%}"
    verdict = "beats" if row.mase < 1 else "does not beat"
    return (
        f"For {_LABELS.get(name, name)}, {chosen[name]} has the lowest cross-validated error: MASE "
        f"{row.mase:.2f} against the seasonal naive forecast, which it {verdict} ({percentage}); its 80% and "
        f"95% intervals held {row.coverage_80:.0%} and {row.coverage_95:.0%} of the actual days. Over the "
        f"next {len(ahead)} days it forecasts {ahead['forecast'].sum():,.0f} in total "
        f"({ahead['forecast'].mean():,.1f} a day)."
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


def error_by_days_ahead_sentence(table: pd.DataFrame, chosen: dict[str, str], name: str) -> str:
    """How the chosen model's error of series ``name`` changes from the first to the last week ahead."""
    rows = table[(table["series"] == name) & (table["model"] == chosen[name])].sort_values("days_ahead")
    first, last = rows.head(WEEK)["mae"].mean(), rows.tail(WEEK)["mae"].mean()
    return (
        f"{chosen[name]}'s mean absolute error of {_LABELS.get(name, name)} is {first:,.1f} over the first "
        f"week ahead and {last:,.1f} over the last week of the {rows['days_ahead'].max()}-day horizon."
    )
