"""Literal pipeline outputs for the book's tests: metrics, plot tables, params, and checks shared by them."""

import copy
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cba import report
from cba.schema import human_label

ROOT = Path(__file__).resolve().parents[1]

SCORES = {"precision": 0.54, "recall": 0.70, "f1": 0.61, "brier": 0.099, "ece": 0.031}
CHURN = {
    "validation": "time-aware",
    "validation_detail": "Trained on the cutoffs 2024-04-04 and 2024-07-03, tested on 2024-10-01.",
    "best_model": "xgboost",
    "roc_auc": 0.8734,
    "roc_auc_ci": [0.8512, 0.8921],
    "pr_auc": 0.6123,
    "pr_auc_ci": [0.5801, 0.6442],
    **SCORES,
    "threshold": 0.35,
    "n_train": 8000,
    "n_test": 2000,
    "ece_by_chance": [0.012, 0.019],
    "test_churn_rate": 0.1705,
    "naive": {"roc_auc": 0.9012, "pr_auc": 0.7001, "rows": 9990, "of_rows": 9990},
    "models": {
        "logistic_regression": {
            "roc_auc": 0.8123,
            "pr_auc": 0.5011,
            "cv_roc_auc": 0.801,
            "cv_roc_auc_std": 0.008,
            **SCORES,
        },
        "xgboost": {
            "roc_auc": 0.8734,
            "pr_auc": 0.6123,
            "cv_roc_auc": 0.861,
            "cv_roc_auc_std": 0.006,
            **SCORES,
        },
    },
    "drivers": [
        {"feature": "days_since_last_event", "importance": 0.0721},
        {"feature": "Complain", "importance": 0.0412},
        {"feature": "Gender", "importance": 0.0013},
    ],
    "campaign": {
        "contact_cost": 5.0,
        "retained_value": 150.0,
        "offer_success_rate": 0.2,
        "threshold": 0.35,
        "customers_targeted": 540,
        "share_targeted": 0.27,
        "expected_cost": 2700.0,
        "expected_benefit": 8940.0,
        "expected_profit": 6240.0,
    },
    "revenue_at_risk": 123456.78,
    "risk_segments": [
        {
            "segment": "high risk, low value",
            "customers": 900,
            "mean_probability": 0.41,
            "mean_value": 60.0,
            "revenue_at_risk": 22140.0,
            "drivers": ["days_since_last_event"],
            "intervention": (
                "Send a reactivation reminder before the customer goes quiet; address days since last visit."
            ),
        },
        {
            "segment": "high risk, high value",
            "customers": 400,
            "mean_probability": 0.38,
            "mean_value": 410.0,
            "revenue_at_risk": 62320.0,
            "drivers": ["Complain", "days_since_last_event"],
            "intervention": (
                "a personal call from the account team: "
                "resolve each open complaint with a personal service call"
            ),
        },
        {
            "segment": "low risk, high value",
            "customers": 2100,
            "mean_probability": 0.05,
            "mean_value": 380.0,
            "revenue_at_risk": 39900.0,
            "drivers": [],
            "intervention": "Keep the loyalty programme; no retention offer.",
        },
    ],
}
SURVIVAL = {
    "duration": "days from signup to the last activity",
    "segment": "Complain",
    "n_customers": 10000,
    "n_churned": 1700,
    "median_lifetime": {"overall": 250.0, "0": None, "1": 120.0},
    "logrank_p_value": 0.0001,
    "churn_rate_by_segment": {"0": 0.11, "1": 0.32},
    "concordance": 0.7123,
    "ph_violations": ["Tenure"],
}
DATA_QUALITY = {
    "customers": {"rows_in": 10000, "rows_out": 9990, "rows_rejected": 10, "rules": {"duplicate_id": 10}},
    "events": {
        "rows_in": 500000,
        "rows_out": 480000,
        "rows_rejected": 20000,
        "rules": {"bad_timestamp": 500, "exact_duplicate": 19500, "never_fired": 0},
    },
}
FEATURES = {"customers": 9990, "churn_rate": 0.1689, "horizon_days": 90, "cutoff": "2024-10-01"}


def _levels(rates: dict[str, tuple[int, int, int]]) -> dict:
    return {
        level: {
            "view": view,
            "add_to_cart": cart,
            "purchase": purchase,
            "conversion": round(purchase / view, 4),
            "view_to_add_to_cart": round(cart / view, 4),
            "add_to_cart_to_purchase": round(purchase / cart, 4),
        }
        for level, (view, cart, purchase) in rates.items()
    }


BEHAVIOUR = {
    "has_events": True,
    "days": 366,
    "mean_active_customers": 812.5,
    "orders": 30000,
    "revenue": 2500000.0,
    "funnel": {
        "overall": _levels({"all": (100000, 50000, 30000)})["all"],
        "device": _levels({"Computer": (40000, 24000, 15000), "Mobile Phone": (60000, 26000, 15000)}),
        "category": _levels({"Fashion": (50000, 26000, 15500), "Grocery": (50000, 24000, 14500)}),
    },
    "biggest_drop_off": {
        "from": "view",
        "to": "add_to_cart",
        "pass_rate": 0.5,
        "lost_share": 0.5,
        "sessions_lost": 50000,
        "by": "device",
        "worst": "Mobile Phone",
        "worst_pass_rate": 0.4333,
        "worst_sessions": 60000,
        "best": "Computer",
        "best_pass_rate": 0.6,
    },
}
METRICS = {
    "churn": CHURN,
    "survival": SURVIVAL,
    "data_quality": DATA_QUALITY,
    "features": FEATURES,
    "behaviour": BEHAVIOUR,
}
DAILY = pd.DataFrame(
    {
        "date": [f"2024-01-{day:02d}" for day in range(1, 15)],
        "events": [100] * 14,
        "sessions": [20] * 14,
        "orders": [5] * 14,
        "revenue": [float(100 * day) for day in range(1, 15)],
        "active_customers": [10 + day for day in range(1, 15)],
    }
)
TOP_REVENUE = pd.DataFrame(
    {
        "product_id": ["LAP-001", "MOB-002"],
        "views": [1000, 800],
        "carts": [300, 200],
        "purchases": [150, 90],
        "revenue": [150000.0, 45000.0],
        "conversion": [0.15, 0.1125],
    }
)
TOP_CONVERSION = TOP_REVENUE.sort_values("conversion", ascending=False, ignore_index=True)
PROFIT = pd.DataFrame(
    {"share_targeted": [0.1, 0.2, 0.3, 0.5], "expected_profit": [3000.0, 5800.0, 6300.0, 2000.0]}
)
PARAMS = {
    "seed": 42,
    "data": {"source": "synthetic"},
    "kibana": {"url": None},
    "survival": {"significance": 0.05},
    "report": {
        "compare_to": "HEAD~1",
        "currency": "USD",
        "ab_test": {"alpha": 0.05, "power": 0.8, "minimum_effect": 0.2},
    },
}


def inputs(metrics=None, tables=None, model=None, params=None) -> report.BookInputs:
    tables = (
        {
            "behaviour_daily": DAILY,
            "behaviour_top_products_revenue": TOP_REVENUE,
            "behaviour_top_products_conversion": TOP_CONVERSION,
            "churn_profit": PROFIT,
        }
        if tables is None
        else tables
    )
    model = (
        {
            "name": "xgboost",
            "features": ["days_since_last_event", "Complain", "Gender"],
            "threshold": 0.35,
            "training_data_sha256": "ab" * 32,
        }
        if model is None
        else model
    )
    return report.BookInputs(
        METRICS if metrics is None else metrics, tables, model, PARAMS if params is None else params
    )


def with_metric(name: str, key: str, value) -> dict:
    metrics = copy.deepcopy(METRICS)
    metrics[name][key] = value
    return metrics


def without(name: str, key: str) -> dict:
    metrics = copy.deepcopy(METRICS)
    del metrics[name][key]
    return metrics


def write_project_outputs(root: Path, metrics=METRICS) -> None:
    """metrics/*.json and plots/*.csv as the stages write them."""
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "plots").mkdir(exist_ok=True)
    for name, content in metrics.items():
        (root / "metrics" / f"{name}.json").write_text(json.dumps(content, indent=2) + "\n")
    for name, table in [
        ("behaviour_daily", DAILY),
        ("behaviour_top_products_revenue", TOP_REVENUE),
        ("behaviour_top_products_conversion", TOP_CONVERSION),
        ("churn_profit", PROFIT),
    ]:
        table.to_csv(root / "plots" / f"{name}.csv", index=False)


def number_rows(text: str) -> dict[str, tuple[str, str]]:
    """Rows of the key-numbers table: name -> (value cell, source cell)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("**"):
            rows[cells[0].strip("*")] = (cells[1], cells[2])
    return rows


def check_traced(name: str, value_text: str, sources: list[tuple[str, str]], metrics_by_file: dict) -> int:
    """Check that the numbers in ``value_text`` are, in order, the values of the keys ``sources`` names.

    Text values (a feature name) must appear as readers call them (`cba.schema.human_label`); the
    interval's level (95%, the churn stage's bootstrap) is a label, not a result. Returns the count of
    numbers checked.
    """
    assert sources, name
    values = [report.lookup(metrics_by_file[file], file, key) for file, key in sources]
    text = value_text.replace("95% interval", "")
    for text_value in [human_label(value) for value in values if isinstance(value, str)]:
        assert text_value in text, (name, text_value)
        text = text.replace(text_value, "")
    numbers = [value for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    shown = re.findall(r"-?\d[\d,]*(?:\.\d+)?%?", text)
    assert len(shown) == len(numbers), (name, shown, numbers)
    for text_number, value in zip(shown, numbers, strict=True):
        decimals = len(text_number.rstrip("%").partition(".")[2])
        number = float(text_number.rstrip("%").replace(",", ""))
        expected = value * 100 if text_number.endswith("%") else value
        tolerance = 0.5 * 10**-decimals + 1e-9  # half a unit of the last digit shown, rounding either way
        assert number == pytest.approx(expected, abs=tolerance), (name, text_number, value)
    return len(numbers)


def trace_key_numbers(text: str, metrics_by_file: dict[str, dict]) -> int:
    """Check every row of the key-numbers table in ``text`` (Markdown); the count of numbers checked."""
    checked = 0
    for name, (value_cell, source_cell) in number_rows(text).items():
        sources = re.findall(r"`(metrics/[\w.]+\.json)` → `([\w.]+)`", source_cell)
        checked += check_traced(name, value_cell.replace("`", ""), sources, metrics_by_file)
    return checked


def section(text: str, heading: str) -> str:
    return text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
