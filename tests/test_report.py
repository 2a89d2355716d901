import copy
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
import yaml
from plotly.io._base_renderers import NotebookRenderer
from plotly.offline import get_plotlyjs
from scipy.stats import norm

from cba import dashboards, report, schema

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

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
    "test_churn_rate": 0.1705,
    "naive": {"roc_auc": 0.9012, "pr_auc": 0.7001},
    "models": {
        "logistic_regression": {"roc_auc": 0.8123, "pr_auc": 0.5011, **SCORES},
        "xgboost": {"roc_auc": 0.8734, "pr_auc": 0.6123, **SCORES},
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
            "intervention": "Send a reactivation reminder before the customer goes quiet.",
        },
        {
            "segment": "high risk, high value",
            "customers": 400,
            "mean_probability": 0.38,
            "mean_value": 410.0,
            "revenue_at_risk": 62320.0,
            "drivers": ["Complain", "days_since_last_event"],
            "intervention": "Call the customer about the complaint and offer a service credit.",
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
    "report": {"compare_to": "HEAD~1", "currency": "USD", "ab_test": {"alpha": 0.05, "power": 0.8, "minimum_effect": 0.2}},
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


# -- reading outputs --------------------------------------------------------------------------------


def test_lookup_walks_keys_and_list_items_and_names_what_is_missing():
    assert report.lookup(CHURN, "metrics/churn.json", "drivers.1.feature") == "Complain"
    assert report.lookup(CHURN, "metrics/churn.json", "roc_auc_ci.0") == 0.8512
    missing = report.lookup(CHURN, "metrics/churn.json", "drivers.7.feature")
    assert isinstance(missing, report.Missing)
    assert str(missing) == "not available (`metrics/churn.json` → `drivers.7.feature` is missing)"


def test_read_inputs_reads_metrics_plots_and_model_metadata_without_the_model(tmp_path):
    import joblib

    write_project_outputs(tmp_path)
    (tmp_path / "models").mkdir()
    joblib.dump(
        {
            "model": object.__new__(type("Fitted", (), {})) if False else {"fitted": True},
            "name": "xgboost",
            "features": ["Complain"],
        },
        tmp_path / "models" / "churn.joblib",
    )

    read = report.read_inputs(tmp_path, PARAMS)

    assert read.metrics["churn"] == CHURN and read.metrics["behaviour"] == BEHAVIOUR
    pd.testing.assert_frame_equal(read.tables["churn_profit"], PROFIT)
    assert read.model == {"name": "xgboost", "features": ["Complain"]}


def test_read_inputs_leaves_absent_files_empty(tmp_path):
    read = report.read_inputs(tmp_path, PARAMS)

    assert read.metrics == {name: {} for name in report.METRICS_FILES}
    assert read.tables == {} and read.model == {}
    assert isinstance(read.get("churn", "roc_auc"), report.Missing)


# -- executive summary ------------------------------------------------------------------------------


def _number_rows(text: str) -> dict[str, tuple[str, str]]:
    """Rows of the key-numbers table: name -> (value cell, source cell)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("**"):
            rows[cells[0].strip("*")] = (cells[1], cells[2])
    return rows


def check_traced(name: str, value_text: str, sources: list[tuple[str, str]], metrics_by_file: dict) -> int:
    """Check that the numbers in ``value_text`` are, in order, the values of the keys ``sources`` names.

    Text values (a feature name) must appear as they are; the interval's level (95%, the churn stage's
    bootstrap) is a label, not a result. Returns the count of numbers checked.
    """
    assert sources, name
    values = [report.lookup(metrics_by_file[file], file, key) for file, key in sources]
    text = value_text.replace("95% interval", "")
    for text_value in [value for value in values if isinstance(value, str)]:
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
    for name, (value_cell, source_cell) in _number_rows(text).items():
        sources = re.findall(r"`(metrics/[\w.]+\.json)` → `([\w.]+)`", source_cell)
        checked += check_traced(name, value_cell.replace("`", ""), sources, metrics_by_file)
    return checked


def test_key_numbers_are_the_five_and_each_traces_to_its_metrics_key():
    numbers = report.key_numbers(inputs())
    text = report.summary_markdown(inputs())

    assert [number.name for number in numbers] == [
        "Churn rate",
        "Revenue at risk",
        "Model quality",
        "Biggest churn driver",
        "Expected value of the recommended campaign",
    ]
    assert all(number.available for number in numbers)
    by_file = {f"metrics/{name}.json": content for name, content in METRICS.items()}
    assert trace_key_numbers(text, by_file) == 10
    rows = _number_rows(text)
    assert rows["Churn rate"][0] == "16.9% of 9,990 customers"
    assert rows["Revenue at risk"][0] == "123,457"
    assert rows["Model quality"][0] == "ROC-AUC 0.873 (95% interval 0.851 to 0.892)"
    assert rows["Biggest churn driver"][0] == "`days_since_last_event` (importance 0.072)"
    assert (
        rows["Expected value of the recommended campaign"][0] == "6,240 from 540 of 2,000 held-out customers"
    )
    assert "::: {#tbl-key-numbers}" in text and "@tbl-key-numbers" in text


def test_key_numbers_follow_the_metrics():
    metrics = with_metric("churn", "revenue_at_risk", 99.4)
    metrics["features"]["churn_rate"] = 0.25

    rows = _number_rows(report.summary_markdown(inputs(metrics)))

    assert rows["Revenue at risk"][0] == "99"
    assert rows["Churn rate"][0].startswith("25.0%")


def test_the_campaign_on_todays_customers_is_the_key_number_when_the_churn_stage_writes_it():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["customers_scored"] = 375
    metrics["churn"]["recommended_campaign"] = {
        "customers_targeted": 41,
        "share_targeted": 0.1093,
        "expected_cost": 205.0,
        "expected_benefit": 619.43,
        "expected_profit": 414.43,
    }

    text = report.summary_markdown(inputs(metrics))
    campaign = _section(report.recommendations_markdown(inputs(metrics)), "What the campaign costs and earns")

    assert (
        _number_rows(text)["Expected value of the recommended campaign"][0]
        == "414 from 41 of 375 scored customers"
    )
    assert (
        trace_key_numbers(text, {f"metrics/{name}.json": content for name, content in metrics.items()}) == 10
    )
    assert (
        "Run on today's 375 scored customers, the same threshold reaches 41 of them (10.9%): an "
        "expected cost "
        "of 205 against an expected benefit of 619, a profit of 414." in campaign
    )


def test_a_key_number_the_pipeline_did_not_write_is_named_not_invented():
    text = report.summary_markdown(inputs(without("churn", "campaign")))

    assert "not available (`metrics/churn.json` → `campaign.expected_profit` is missing)" in text
    assert "This build lacks 1 of the five numbers (expected value of the recommended campaign)" in text


# -- data quality -----------------------------------------------------------------------------------


def test_data_quality_reconciles_and_lists_the_rules_that_fired():
    text = report.data_quality_markdown(DATA_QUALITY)

    assert "All 2 tables reconcile" in text
    assert "| events | 500,000 | 480,000 | 20,000 | 4.00% | yes |" in text
    assert "- events: `exact_duplicate` 19,500, `bad_timestamp` 500" in text
    assert "never_fired" not in text


def test_data_quality_flags_a_table_that_does_not_reconcile():
    unbalanced = copy.deepcopy(DATA_QUALITY)
    unbalanced["customers"]["rows_out"] = 9980

    text = report.data_quality_markdown(unbalanced)

    assert "1 of 2 tables do not reconcile: customers." in text
    assert "**no** (+10 rows unaccounted for)" in text


# -- version stamp ----------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


DVC_LOCK = """\
schema: '2.0'
stages:
  generate:
    cmd: cba generate
    deps:
    - path: src/cba/generate.py
      hash: md5
      md5: '11111111111111111111111111111111'
      size: 10
    params:
      params.yaml:
        seed: 42
    outs:
    - path: datasets/raw/synthetic
      hash: md5
      md5: 22222222222222222222222222222222.dir
      size: 100
      nfiles: 3
  features:
    cmd: cba stage features
    outs:
    - path: datasets/processed/features.parquet
      hash: md5
      md5: '33333333333333333333333333333333'
      size: 50
    - path: metrics/features.json
      hash: md5
      md5: '44444444444444444444444444444444'
      size: 5
  report:
    cmd: cba report
    outs:
    - path: report/_book
      hash: md5
      md5: 55555555555555555555555555555555.dir
      size: 70
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_version_stamp_in_git_repo_reads_commit_dirty_and_dvc_lock(tmp_path):
    _git(tmp_path, "init", "--quiet")
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    (tmp_path / "dvc.lock").write_text(DVC_LOCK)
    _git(tmp_path, "add", "params.yaml", "dvc.lock")
    _git(tmp_path, "commit", "--quiet", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")

    clean = report.version_stamp(tmp_path, {"seed": 42})
    (tmp_path / "untracked.txt").write_text("not tracked, so not dirty\n")
    still_clean = report.version_stamp(tmp_path, {"seed": 42})
    (tmp_path / "params.yaml").write_text("seed: 7\n")
    dirty = report.version_stamp(tmp_path, {"seed": 7})

    assert clean["commit"] == head and len(head) == 40
    assert clean["dirty"] is False
    assert still_clean["dirty"] is False
    assert dirty["dirty"] is True
    assert clean["data"] == {
        "datasets/raw/synthetic": "22222222222222222222222222222222.dir",
        "datasets/processed/features.parquet": "33333333333333333333333333333333",
        "metrics/features.json": "44444444444444444444444444444444",
    }  # the report stage's own entry describes the previous book, so it is left out
    assert dirty["params"] == {"seed": 7}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", clean["built_at"])


def test_version_stamp_outside_git_without_dvc_lock(tmp_path):
    stamp = report.version_stamp(tmp_path, {"seed": 1})

    assert stamp["commit"] is None
    assert stamp["dirty"] is False
    assert stamp["data"] == {}


def test_version_markdown_shows_commit_hashes_and_time():
    stamp = {
        "commit": "a" * 40,
        "dirty": True,
        "data": {"datasets/raw/synthetic": "22222222222222222222222222222222.dir"},
        "params": {"seed": 42, "report": {"title": "Churn"}},
        "built_at": "2025-01-02T03:04:05+00:00",
    }

    text = report.version_markdown(stamp)

    assert text.startswith("## Version {#sec-version}")
    assert f"`{'a' * 40}`" in text
    assert "Uncommitted changes to tracked files: yes" in text
    assert "| `datasets/raw/synthetic` | `22222222222222222222222222222222.dir` |" in text
    assert "Parameters: 2 sections, listed in @sec-params." in text
    assert "2025-01-02T03:04:05+00:00" in text


def test_version_markdown_without_git_or_hashes():
    stamp = {
        "commit": None,
        "dirty": False,
        "data": {},
        "params": {},
        "built_at": "2025-01-02T03:04:05+00:00",
    }

    text = report.version_markdown(stamp)

    assert "not a git repository" in text
    assert "Uncommitted changes to tracked files: no" in text
    assert "No `dvc.lock` yet" in text


# -- A/B tests and recommendations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "target"), [(0.2, 0.16), (0.4333, 0.52), (0.05, 0.04)], ids=["churn", "funnel", "rare"]
)
def test_sample_size_per_arm_matches_the_closed_form(baseline, target):
    h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))  # Cohen's h
    closed_form = 2 * ((norm.ppf(0.975) + norm.ppf(0.8)) / h) ** 2

    assert report.sample_size_per_arm(baseline, target, 0.05, 0.8) == math.ceil(closed_form)


def test_sample_size_grows_with_power_and_shrinks_with_the_effect():
    base = report.sample_size_per_arm(0.2, 0.16, 0.05, 0.8)

    assert report.sample_size_per_arm(0.2, 0.16, 0.05, 0.9) > base
    assert report.sample_size_per_arm(0.2, 0.12, 0.05, 0.8) < base


@pytest.mark.parametrize(
    ("baseline", "target"), [(0.0, 0.1), (0.2, 1.0), (0.3, 0.3)], ids=["zero", "one", "same"]
)
def test_sample_size_rejects_impossible_rates(baseline, target):
    with pytest.raises(ValueError, match="rate"):
        report.sample_size_per_arm(baseline, target, 0.05, 0.8)


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def test_recommendations_target_the_segments_above_the_threshold_by_revenue_at_risk():
    text = report.recommendations_markdown(inputs())
    targets = _section(text, "Whom to target")

    assert (
        "holding 124,360 of revenue at risk. 2 of them have a mean churn probability at or above the "
        "decision threshold 0.35: target those. Start with **high risk, high value**: its 400 customers "
        "carry 62,320 (50%), with a mean churn probability of 38.0%. Intervention: Call the customer"
        in targets
    )
    assert "Call the customer about the complaint and offer a service credit." in targets
    rows = [line for line in targets.splitlines() if line.startswith("| high") or line.startswith("| low")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "high risk, high value",
        "low risk, high value",
        "high risk, low value",
    ]
    assert (
        "| high risk, high value | 400 | 38.0% | 410 | 62,320 | `Complain`, `days_since_last_event` |"
        in targets
    )


def test_recommendations_state_the_campaign_cost_benefit_and_profit_curve():
    campaign = _section(report.recommendations_markdown(inputs()), "What the campaign costs and earns")

    assert "reaches 540 of the 2,000 held-out customers (27.0%)" in campaign
    assert "it costs 2,700 and is expected to return 8,940: a profit of 6,240." in campaign
    assert "contacting the top 30% of customers by churn probability earns the most (6,300)" in campaign
    assert "sits at that peak" in campaign
    assert "does not pay" not in campaign


def test_a_losing_campaign_is_called_one():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["campaign"].update(expected_benefit=2000.0, expected_profit=-700.0)

    campaign = _section(report.recommendations_markdown(inputs(metrics)), "What the campaign costs and earns")

    assert "a loss of 700." in campaign and "does not pay" in campaign


def test_the_funnel_change_follows_the_drop_off_split():
    by_device = _section(report.recommendations_markdown(inputs()), "What to change in the shop")
    metrics = copy.deepcopy(METRICS)
    metrics["behaviour"]["biggest_drop_off"].update(
        by="category",
        worst="Grocery",
        best="Fashion",
        worst_pass_rate=0.48,
        best_pass_rate=0.52,
        worst_sessions=50000,
    )
    by_category = _section(report.recommendations_markdown(inputs(metrics)), "What to change in the shop")

    assert "loses the most sessions at view → add_to_cart: 50.0%" in by_device
    assert "fix the view → add_to_cart step on Mobile Phone" in by_device
    assert (
        "43.3% of its sessions at that step against 60.0% for Computer, 16.7 percentage points behind"
        in by_device
    )
    assert "keep about 10,002 more sessions" in by_device
    assert "review the catalogue of Grocery" in by_category


def test_each_recommendation_gets_an_ab_test_sized_from_the_observed_rate():
    text = report.recommendations_markdown(inputs())
    tests = _section(text, "How to verify each step")

    rows = [line for line in tests.splitlines() if line.startswith("| ") and "Per arm" not in line]
    assert len(rows) == 3  # the two segments above the threshold and the funnel change
    assert "low risk, high value" not in tests
    segment_size = report.sample_size_per_arm(0.38, 0.38 * 0.8, 0.05, 0.8)
    funnel_size = report.sample_size_per_arm(0.4333, 0.4333 * 1.2, 0.05, 0.8)
    assert f"| churn within 90 days | 38.0% | 30.4% | {segment_size:,} | 400 customers (too few) |" in tests
    assert f"| view → add_to_cart pass rate | 43.3% | 52.0% | {funnel_size:,} | 60,000 sessions |" in tests
    assert (
        "detect a 20% relative change of the observed rate with a two-sided test at 5% significance and "
        "80% power" in tests
    )
    assert "2 of 3 tests need more than the population observed" in tests


def test_ab_tests_follow_the_params():
    params = copy.deepcopy(PARAMS)
    params["report"]["ab_test"]["minimum_effect"] = 0.5

    tests = _section(report.recommendations_markdown(inputs(params=params)), "How to verify each step")

    size = report.sample_size_per_arm(0.38, 0.38 * 0.5, 0.05, 0.8)
    assert f"| 38.0% | 19.0% | {size:,} |" in tests


def test_model_and_data_bullets_follow_the_numbers():
    text = _section(report.recommendations_markdown(inputs()), "Model and data")
    close = copy.deepcopy(METRICS)
    close["churn"]["models"]["logistic_regression"]["roc_auc"] = 0.87

    assert "Score customers with XGBoost: it gains +0.061 ROC-AUC" in text
    assert (
        "Fix the events feed: it loses 4.0% of its rows, mostly to the rule `exact_duplicate` (19,500 rows)"
        in text
    )
    assert "customers feed" not in text  # 0.1% rejected
    assert "Use the logistic-regression model" in report.recommendations_markdown(inputs(close))


def test_a_source_without_events_says_so_instead_of_a_funnel_change():
    metrics = {**METRICS, "behaviour": {"has_events": False}}
    params = {**PARAMS, "data": {"source": "kaggle"}}

    text = report.recommendations_markdown(inputs(metrics, params=params))

    assert "The kaggle source has no event log, so there is no funnel to improve" in text
    assert "view → add_to_cart" not in text


def test_no_segment_above_the_threshold_means_targeting_customers_not_segments():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["campaign"]["threshold"] = 0.6

    text = report.recommendations_markdown(inputs(metrics))

    assert "No segment's mean churn probability reaches the decision threshold 0.60" in text
    assert "churn within 90 days" not in text  # no segment A/B test; the funnel test remains


def test_recommendations_without_churn_outputs_name_what_is_missing():
    text = report.recommendations_markdown(inputs({**METRICS, "churn": {}}))

    assert (
        "No risk segments to target: not available (`metrics/churn.json` → `risk_segments` is missing)"
        in text
    )
    assert "`metrics/churn.json` → `campaign` is missing" in text


# -- dashboards -------------------------------------------------------------------------------------

DASHBOARD_FIGURES = [
    "fig-active-customers",
    "fig-revenue",
    "fig-risk-segments",
    "fig-funnel",
    "fig-funnel-drop-offs",
    "fig-top-products-revenue",
    "fig-top-products-conversion",
]


def test_dashboards_draw_every_kibana_panel_from_the_pipeline_outputs():
    text = report.dashboards_markdown(inputs())

    for label in DASHBOARD_FIGURES:
        assert f"::: {{#{label}}}" in text and f"@{label}" in text
        assert f'id="{label}-plot"' in text  # the Plotly div, apart from the figure's own id
    assert text.count(f"<script>{get_plotlyjs()}</script>") == 1
    assert "the busiest day, 2024-01-14, had 24." in text
    assert "Revenue totals 10,500 over 14 days" in text
    assert "high risk, high value carries the most revenue at risk (62,320 from 400 customers)" in text
    assert "By device, Mobile Phone loses the most there" in text
    assert "LAP-001 earns the most (150,000.00 from 150 purchases)" in text
    assert "Kibana is not configured" in text


def test_dashboards_without_events_or_segments_say_what_is_empty():
    metrics = {**METRICS, "behaviour": {"has_events": False}, "churn": {}}
    params = {**PARAMS, "data": {"source": "kaggle"}}

    text = report.dashboards_markdown(inputs(metrics, tables={}, params=params))

    assert "The kaggle source has no event log" in text
    assert "The churn-risk panel is empty" in text
    assert "plotly-graph-div" not in text and "Plotly.newPlot" not in text


def test_dashboards_link_to_kibana_when_it_is_configured():
    params = {**PARAMS, "kibana": {"url": "https://kibana.example.com:5601"}}

    text = report.dashboards_markdown(inputs(params=params))

    assert "Kibana is not configured" not in text
    for dashboard in dashboards.DASHBOARDS:
        link = dashboards.dashboard_url("https://kibana.example.com:5601", dashboard.id)
        assert f"- [{dashboard.title}]({link})" in text


# -- what changed -----------------------------------------------------------------------------------

DVC_YAML = """\
stages:
  train:
    cmd: echo train
    params:
      - churn.horizon_days
    metrics:
      - metrics/churn.json:
          cache: false
"""


def _dvc(root: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _two_commit_repo(root: Path) -> None:
    _git(root, "init", "--quiet")
    _dvc(root, "init", "--quiet")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("churn:\n  horizon_days: 90\n")
    (root / "metrics").mkdir()
    (root / "metrics" / "churn.json").write_text(
        json.dumps({"roc_auc": 0.8, "n_test": 100, "best_model": "lr"})
    )
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "baseline")
    (root / "params.yaml").write_text("churn:\n  horizon_days: 60\n")
    (root / "metrics" / "churn.json").write_text(
        json.dumps({"roc_auc": 0.85, "n_test": 100, "best_model": "xgb"})
    )
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "shorter horizon")


def test_what_changed_compares_metrics_and_params_with_the_previous_commit(tmp_path):
    _two_commit_repo(tmp_path)
    baseline = _git(tmp_path, "rev-parse", "HEAD~1")

    comparison = report.what_changed(tmp_path, "HEAD~1")
    text = report.changes_markdown(comparison)

    assert comparison.baseline == baseline
    changes = {(change.kind, change.key): change for change in comparison.changes}
    assert set(changes) == {("metric", "roc_auc"), ("metric", "best_model"), ("param", "churn.horizon_days")}
    assert changes["metric", "roc_auc"].delta == pytest.approx(0.05)
    assert changes["param", "churn.horizon_days"].delta == -30
    assert changes["metric", "best_model"].delta is None
    assert comparison.unchanged == 1  # n_test
    assert f"Against `HEAD~1` (commit `{baseline[:12]}`): 2 metrics and 1 parameters changed" in text
    assert "| metric | `metrics/churn.json` | `roc_auc` | 0.8 | 0.85 | +0.05 |" in text
    assert "| param | `params.yaml` | `churn.horizon_days` | 90 | 60 | -30 |" in text


def test_what_changed_sees_the_uncommitted_workspace(tmp_path):
    _two_commit_repo(tmp_path)
    (tmp_path / "metrics" / "churn.json").write_text(json.dumps({"roc_auc": 0.9, "n_test": 120}))

    comparison = report.what_changed(tmp_path, "HEAD")

    changes = {change.key: (change.old, change.new) for change in comparison.changes}
    assert changes == {"roc_auc": (0.85, 0.9), "n_test": (100, 120), "best_model": ("xgb", None)}


def test_no_baseline_on_the_first_commit_outside_git_or_when_switched_off(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    _git(first, "init", "--quiet")
    _dvc(first, "init", "--quiet")
    _git(first, "commit", "--quiet", "-m", "only")
    plain = tmp_path / "plain"
    plain.mkdir()

    on_first = report.what_changed(first, "HEAD~1")
    outside = report.what_changed(plain, "HEAD~1")
    off = report.what_changed(first, None)

    assert on_first.baseline is None and "`HEAD~1` does not exist" in on_first.reason
    assert outside.baseline is None and "not a git repository" in outside.reason
    assert "`report.compare_to` is null" in off.reason
    assert report.changes_markdown(on_first).splitlines()[-1].startswith("No baseline: the revision `HEAD~1`")


# -- methodology, model card, appendices ------------------------------------------------------------


def test_methodology_states_validation_and_computed_limitations():
    text = report.methodology_markdown(inputs())

    assert CHURN["validation_detail"] in text
    assert "A naive random split of the same rows scores ROC-AUC 0.901 against 0.873" in text
    assert "would overstate the model" in text
    assert "held-out concordance of 0.712" in text
    assert "known to within 0.041 (95% interval 0.851 to 0.892)" in text
    assert "off from observed churn by 0.031" in text
    assert "fails for `Tenure`" in text
    assert "keeps 20% of would-be churners" in text


def test_model_card_covers_use_data_evaluation_limits_and_ethics():
    text = report.model_card_markdown(inputs())

    for heading in (
        "### Model",
        "### Intended use",
        "### Evaluation",
        "### Limits",
        "### Ethical considerations",
        "## Datasheet",
    ):
        assert heading in text
    assert "Model: XGBoost, chosen among logistic regression, XGBoost" in text
    assert "3 features (`days_since_last_event`, `Complain`, `Gender`)" in text
    assert f"SHA-256 `{'ab' * 32}`" in text
    assert "no purchase in the next 90 days" in text
    assert "| XGBoost (chosen) | 0.873 | 0.612 |" in text
    assert "ROC-AUC 0.873, 95% interval 0.851 to 0.892" in text
    assert "The model sees `Gender` (driver rank 3)" in text
    assert "events: 480,000 rows kept of 500,000" in text
    assert "Labelled customers: 9,990, of whom 16.9% churned." in text


def test_model_card_without_sensitive_inputs_says_so():
    model = {"name": "xgboost", "features": ["Complain"], "threshold": 0.35}

    text = report.model_card_markdown(inputs(model=model))

    assert "The model does not see `Gender` or `MaritalStatus`" in text


def test_data_dictionary_lists_every_schema_table_and_column():
    text = report.data_dictionary_markdown()

    tables = [
        getattr(schema, name) for name in schema.__all__ if isinstance(getattr(schema, name), schema.Table)
    ]
    assert len(tables) >= 5
    for table in tables:
        assert f"## {table.name.capitalize()}" in text
        for column in table.columns:
            assert f"| `{column.name}` | `{column.dtype}` |" in text
    assert "| `PreferredPaymentMode` | Debit Card, Credit Card, E wallet, UPI, Cash on Delivery |" in text


def test_params_appendix_lists_every_key():
    text = report.params_markdown(PARAMS)

    assert "{#sec-params}" in text
    assert "| `report.ab_test.minimum_effect` | 0.2 |" in text
    assert "| `kibana.url` | null |" in text
    assert "8 parameters" in text


# -- writing the generated chapters -----------------------------------------------------------------


def test_write_generated_writes_every_included_file(tmp_path):
    write_project_outputs(tmp_path)

    report.write_generated(tmp_path, {**PARAMS, "report": {**PARAMS["report"], "compare_to": None}})

    generated = tmp_path / "report" / "_generated"
    names = sorted(path.stem for path in generated.glob("*.md"))
    assert names == sorted(
        [
            "version",
            "summary",
            "data_quality",
            "dashboards",
            "recommendations",
            "changes",
            "methodology",
            "model_card",
            "data_dictionary",
            "params",
        ]
    )
    assert (generated / "summary.md").read_text() == report.summary_markdown(
        report.read_inputs(tmp_path, PARAMS)
    )
    assert "No baseline: `report.compare_to` is null" in (generated / "changes.md").read_text()


def test_every_generated_include_is_used_by_a_chapter_of_the_book():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    sources = "".join(
        (ROOT / entry.path).read_text()
        for entry in report.book_entries(config)
        if entry.path.endswith(".qmd")
    )

    for name in [
        "version",
        "summary",
        "data_quality",
        "dashboards",
        "recommendations",
        "changes",
        "methodology",
        "model_card",
        "data_dictionary",
        "params",
    ]:
        assert f"_generated/{name}.md >}}}}" in sources, name


def test_the_project_book_has_its_chapters_in_parts_and_its_appendices():
    entries = report.book_entries(yaml.safe_load((ROOT / "_quarto.yml").read_text()))

    assert entries[0].path == "index.qmd"
    chapters = [Path(entry.path).stem for entry in entries if not entry.appendix]
    assert chapters == [
        "index",
        "data-quality",
        "ingest",
        "clean",
        "eda",
        "dashboards",
        "features",
        "churn",
        "survival",
        "recommendations",
        "changes",
        "methodology",
        "model-card",
    ]
    assert [Path(entry.path).stem for entry in entries if entry.appendix] == ["data-dictionary", "params"]
    assert {entry.part for entry in entries if "chapters/" in entry.path} == {"Data", "Behaviour", "Churn"}


# -- the book ---------------------------------------------------------------------------------------


def _plotly_outputs() -> list:
    """The outputs plotly's notebook renderer produces: the plotly.js bundle once, then the figure."""
    figure = go.Figure(go.Bar(x=["loyal", "churned"], y=[83, 17]))
    bundle = NotebookRenderer().to_mimebundle(figure.to_dict())
    plotly_js = f"<script>{get_plotlyjs()}</script>"
    return [
        nbformat.v4.new_output("display_data", data={"text/html": plotly_js}),
        nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.plotly.v1+json": figure.to_plotly_json(), **bundle},
        ),
    ]


TINY_QUARTO = """\
project:
  type: book
  output-dir: report/_book
book:
  title: "Tiny churn book"
  output-file: tiny-book
  chapters:
    - index.qmd
    - part: "Models"
      chapters:
        - report/chapters/churn.ipynb
        - report/summary.qmd
  appendices:
    - report/appendix.qmd
"""

SUMMARY_QMD = """\
---
title: "Summary and recommendations"
---

{{< include _generated/summary.md >}}

::: {#fig-bars}

```{=html}
<div id="raw-bars">raw <b>HTML</b> kept as is</div>
```

Bars of churn.

:::

::: {.content-visible when-format="html"}
Shown in HTML.
:::

::: {.content-visible unless-format="html"}
Only in the PDF.
:::

See @fig-bars, @tbl-feed and @sec-appendix-detail; the [churn chapter](chapters/churn.ipynb) and the
[appendix](appendix.qmd#sec-appendix-detail). Mail support@example.com; code `@fig-bars` stays.
"""


def _tiny_project(root: Path) -> None:
    (root / "report" / "chapters").mkdir(parents=True)
    (root / "report" / "_generated").mkdir()
    (root / "_quarto.yml").write_text(TINY_QUARTO)
    (root / "index.qmd").write_text(
        '---\ntitle: "About this report"\n---\n\nAn introduction.\n\n'
        "{{< include report/_generated/version.md >}}\n"
    )
    (root / "report" / "_generated" / "version.md").write_text(
        "## Version\n\n| Path | MD5 |\n|---|---|\n| `datasets/raw` | `abc123` |\n"
    )
    (root / "report" / "summary.qmd").write_text(SUMMARY_QMD)
    (root / "report" / "_generated" / "summary.md").write_text(
        "## Recommendations\n\n- Fix the feed.\n\n::: {#tbl-feed}\n\n| Feed | Rows |\n|---|---:|\n"
        "| events | 1,000 |\n\nRows per feed.\n\n:::\n"
    )
    (root / "report" / "appendix.qmd").write_text(
        '---\ntitle: "Details"\n---\n\n## More detail {#sec-appendix-detail}\n\nThe fine print.\n'
    )
    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("fig = churn_figure()\nfig", execution_count=1)
    code.outputs = _plotly_outputs()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Churn models\n\nWho leaves, and why."), code]
    nbformat.write(notebook, root / "report" / "chapters" / "churn.ipynb")


def test_fallback_renders_the_book(tmp_path, capsys):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=None)

    assert book == tmp_path / "report" / "_book"
    assert capsys.readouterr().out.startswith(
        "Quarto not found on PATH: rendered the HTML book with the built-in fallback to "
        "report/_book/index.html (no PDF: Chromium not found)."
    )
    index = (book / "index.html").read_text()
    chapter = (book / "churn.html").read_text()
    summary = (book / "summary.html").read_text()
    appendix = (book / "appendix.html").read_text()

    assert "<title>Tiny churn book</title>" in index
    assert '<h1 class="title">About this report</h1>' in index
    assert '<h1 class="title">2  Summary and recommendations</h1>' in summary  # chapter 1 is the notebook
    assert '<h1 class="title">Appendix A  Details</h1>' in appendix
    assert '<li class="part">Models</li>' in index and '<li class="part">Appendices</li>' in index
    assert "<code>abc123</code>" in index  # the include was expanded and the table converted
    assert "{{<" not in index + summary
    assert "<li>Fix the feed.</li>" in summary
    assert "<title>Churn models" in chapter
    for page in (index, chapter, summary, appendix):
        links = re.findall(r'href="([^"#:]+)"', page)
        assert {"index.html", "churn.html", "summary.html", "appendix.html"} <= set(links)
        assert all((book / link).is_file() for link in links)
    assert 'class="previous" href="index.html"' in chapter
    assert 'class="next" href="summary.html"' in chapter

    # The figure draws offline: the figure div, Plotly.newPlot, and plotly.js served by the book itself.
    assert "plotly-graph-div" in chapter and "Plotly.newPlot" in chapter
    assert '<script src="plotly.min.js"></script>' in chapter
    assert (book / "plotly.min.js").read_text() == get_plotlyjs()
    assert not re.search(r"<script[^>]+src=\"https?://", chapter)
    assert "<details" in chapter and "churn_figure" in chapter  # the code is folded, not lost
    assert not (book / "print.html").exists()


def test_fallback_resolves_cross_references_floats_and_chapter_links(tmp_path):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=None)
    summary = (book / "summary.html").read_text()

    assert '<figure id="fig-bars" class="quarto-float quarto-float-fig">' in summary
    assert '<div id="raw-bars">raw <b>HTML</b> kept as is</div>' in summary
    assert "<figcaption>Figure 2.1: Bars of churn.</figcaption>" in summary
    assert "<figcaption>Table 2.1: Rows per feed.</figcaption>" in summary
    assert '<a href="summary.html#fig-bars">Figure 2.1</a>' in summary
    assert '<a href="summary.html#tbl-feed">Table 2.1</a>' in summary
    assert '<a href="appendix.html#sec-appendix-detail">Appendix A</a>' in summary
    assert '<a href="churn.html">churn chapter</a>' in summary
    assert '<a href="appendix.html#sec-appendix-detail">appendix</a>' in summary
    assert '<h2 id="sec-appendix-detail">More detail</h2>' in (book / "appendix.html").read_text()
    assert "Shown in HTML." in summary and "Only in the PDF." not in summary
    assert "support@example.com" in summary and "<code>@fig-bars</code>" in summary
    assert not re.search(r"(?<![\w#])@(fig|tbl|sec)-", re.sub(r"<code>.*?</code>", "", summary))
    assert ":::" not in summary


def test_an_unresolved_cross_reference_names_the_chapter_and_label(tmp_path):
    _tiny_project(tmp_path)
    summary = tmp_path / "report" / "summary.qmd"
    summary.write_text(summary.read_text() + "\nAnd @fig-nowhere.\n")

    with pytest.raises(ValueError, match=r"summary\.qmd: cross-reference @fig-nowhere has no #fig-nowhere"):
        report.render_book(tmp_path, quarto=None, chromium=None)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_fallback_prints_the_whole_book_to_pdf_with_chromium(tmp_path, capsys):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=CHROMIUM)

    pdf = book / "tiny-book.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "printed it to report/_book/tiny-book.pdf" in capsys.readouterr().out
    assert not (book / "print.html").exists()


def test_fallback_is_used_when_quarto_is_not_on_path(tmp_path, capsys):
    _tiny_project(tmp_path)

    report.render_book(tmp_path, quarto="quarto-that-does-not-exist", chromium=None)

    assert capsys.readouterr().out.startswith("Quarto not found on PATH")


def test_missing_chapter_names_it_and_the_config(tmp_path):
    _tiny_project(tmp_path)
    (tmp_path / "report" / "chapters" / "churn.ipynb").unlink()

    with pytest.raises(FileNotFoundError, match=r"report/chapters/churn\.ipynb.*_quarto\.yml"):
        report.render_book(tmp_path, quarto=None)


def test_configure_figures_embeds_plotly_offline():
    import plotly.io as pio

    previous = pio.renderers.default
    try:
        report.configure_figures()
        assert pio.renderers.default == "plotly_mimetype+notebook"
    finally:
        pio.renderers.default = previous
