"""Own event logs as they come: any date range, compact dates, string customer ids, nothing usable."""

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cba import behaviour, clean, sources
from cba.config import Params, Paths, load_params
from cba.stages import clean as clean_stage
from cba.stages import eda as eda_stage
from cba.stages import ingest as ingest_stage
from cba.stream.elasticsearch import _document_id

ROOT = Path(__file__).resolve().parents[1]

CDNOW_LIKE = """cust,date,quantity,amount
00001,19970101,1,11.77
00002,19970112,1,12.00
00002,19970112,5,77.00
00003,19970102,2,20.76
00003,19970330,2,20.76
00003,19970402,2,19.54
00004,19970101,2,29.33
00004,19970118,2,29.73
"""
"""A 1990s transaction log: customer, date as YYYYMMDD, quantity, amount; two orders on one day."""

CLICKSTREAM = """user,ts,action,item,cost
user_0002,2019-10-01 10:00:00,view,p1,5.00
user_0002,2019-10-01 10:01:00,cart,p1,5.00
user_0002,2019-10-01 10:02:00,buy,p1,5.00
user_0000,2019-10-01 11:00:00,view,p2,7.50
user_0001,2019-10-02 09:00:00,view,p1,5.00
user_0001,2019-10-02 09:03:00,buy,p1,5.00
,2019-10-02 09:04:00,view,p1,5.00
"""
"""A clickstream whose customer ids are text; one row has no id."""


def own_log_params(path: Path, columns: dict[str, str], **clean_window) -> Params:
    """The project's params for an own log at ``path``, with an optional explicit cleaning window."""
    params = load_params(ROOT / "params.yaml")
    data = params.data.model_copy(
        update={
            "source": "events",
            "path": str(path),
            "columns": columns,
            "event_types": {"view": ["view"], "add_to_cart": ["cart"], "purchase": ["buy"]},
        }
    )
    window = params.clean.model_copy(update=clean_window)
    return params.model_copy(update={"data": data, "clean": window})


def write_log(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "own" / "log.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CDNOW_COLUMNS = {"customer_id": "cust", "timestamp": "date", "amount": "amount"}
CLICK_COLUMNS = {
    "customer_id": "user",
    "timestamp": "ts",
    "event_type": "action",
    "product_id": "item",
    "amount": "cost",
}


# --- the window ---------------------------------------------------------------------------------------


def test_compact_dates_land_as_iso_dates():
    stamps = pa.chunked_array([["19970101", "1997-01-02", "19970103 10:00", "yesterday", None]])
    assert sources._iso_compact_dates(stamps).to_pylist() == [
        "1997-01-01",
        "1997-01-02",
        "1997-01-03 10:00",
        "yesterday",
        None,
    ]


def test_the_default_window_is_the_generators_for_synthetic_data_and_none_for_an_own_log(tmp_path):
    params = load_params(ROOT / "params.yaml")
    assert params.clean.earliest_timestamp is None and params.clean.latest_timestamp is None
    assert params.event_window == (params.generate.start_date, pd.Timestamp("2025-01-01").date())
    own = own_log_params(tmp_path / "log.csv", CDNOW_COLUMNS)
    assert own.event_window == (None, None)
    explicit = own_log_params(
        tmp_path / "log.csv", CDNOW_COLUMNS, latest_timestamp=pd.Timestamp("1997-02-01").date()
    )
    assert explicit.event_window == (None, pd.Timestamp("1997-02-01").date())


def test_a_1990s_transaction_log_goes_through_ingest_eda_and_clean(tmp_path, capsys):
    params = own_log_params(write_log(tmp_path, CDNOW_LIKE), CDNOW_COLUMNS)
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    result = eda_stage.run(params, paths)
    assert result.daily["orders"].sum() == 8
    assert result.daily["date"].min() == pd.Timestamp("1997-01-01")
    assert "Over 6 days the shop saw 8 orders" in behaviour.daily_activity_sentence(result.daily)
    cleaned = clean_stage.run(params, paths)
    assert cleaned.quality["events"]["rows_out"] == 8
    assert cleaned.derived_customers == 4
    assert capsys.readouterr().out == ""


def test_a_window_that_rejects_most_events_is_named_in_one_line(tmp_path, capsys):
    day = pd.Timestamp("1997-01-02").date()
    params = own_log_params(write_log(tmp_path, CDNOW_LIKE), CDNOW_COLUMNS, latest_timestamp=day)
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    eda_stage.run(params, paths)
    clean_stage.run(params, paths)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # one at eda, one at clean
    assert lines[1] == (
        "The event window leaves out 6 of 8 events (75%): 6 on or after clean.latest_timestamp (1997-01-02); "
        "set those params to the data's dates, or to null for the data's own window."
    )


def test_a_window_that_rejects_every_event_stops_cleaning_naming_the_rule_and_the_param(tmp_path):
    start = pd.Timestamp("2024-01-01").date()
    params = own_log_params(write_log(tmp_path, CDNOW_LIKE), CDNOW_COLUMNS, earliest_timestamp=start)
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    result = eda_stage.run(params, paths)  # exploring an empty window does not fail
    assert result.daily.empty and result.behaviour["days"] == 0
    assert behaviour.daily_activity_sentence(result.daily).startswith("No event timestamp parses")
    with pytest.raises(clean.NoValidRowsError) as err:
        clean_stage.run(params, paths)
    assert str(err.value) == (
        "no events row passes cleaning: all 8 rows were rejected, 8 of them by the rule "
        "timestamp_before_start; check clean.earliest_timestamp (null = no bound) in params.yaml"
    )


def test_a_one_day_log_explores_without_error(tmp_path):
    one_day = "cust,date,amount\n1,19970101,3.00\n2,19970101,4.00\n"
    params = own_log_params(write_log(tmp_path, one_day), CDNOW_COLUMNS)
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    result = eda_stage.run(params, paths)
    assert len(result.daily) == 1 and result.behaviour["orders"] == 2
    behaviour.daily_activity_sentence(result.daily)
    behaviour.cohort_retention_sentence(result.cohorts)


def test_unparsable_timestamps_stop_cleaning_naming_the_timestamp_column(tmp_path):
    params = own_log_params(
        write_log(tmp_path, "cust,date,amount\n1,soon,3.00\n2,later,4.00\n"), CDNOW_COLUMNS
    )
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    eda_stage.run(params, paths)
    with pytest.raises(
        clean.NoValidRowsError, match="rule unparsable_timestamp; check data.columns.timestamp"
    ):
        clean_stage.run(params, paths)


# --- string customer ids ------------------------------------------------------------------------------


def test_text_ids_get_sorted_integer_keys_and_whole_numbers_keep_theirs():
    events = pa.table({"customer_id": ["b-2", "a-1", None, "b-2"], "timestamp": ["x"] * 4})
    keyed, mapping = sources.key_customer_ids(events)
    assert keyed.column("customer_id").to_pylist() == [2, 1, None, 2]
    assert mapping.to_pylist() == [
        {"customer_id": 1, "original_id": "a-1"},
        {"customer_id": 2, "original_id": "b-2"},
    ]
    numbers = pa.table({"customer_id": ["007", "12", None]})
    assert sources.key_customer_ids(numbers) == (numbers, None)


def test_a_clickstream_with_text_ids_is_cleaned_and_scored_under_its_own_ids(tmp_path):
    params = own_log_params(write_log(tmp_path, CLICKSTREAM), CLICK_COLUMNS)
    paths = Paths(tmp_path)
    landed = ingest_stage.run(params, paths)
    assert "ids got an integer key" in ingest_stage.landed_sentence(landed, params)
    eda_stage.run(params, paths)
    cleaned = clean_stage.run(params, paths)
    assert cleaned.quality["events"]["rows_out"] == 6
    assert cleaned.quality["events"]["rules"]["unparsable_customer_id"] == 1
    assert cleaned.customers["customer_id"].tolist() == [1, 2, 3]
    scores = pd.DataFrame({"customer_id": [3, 1], "churn_probability": [0.9, 0.1]})
    restored = sources.with_original_ids(scores, paths.landed)
    assert restored["customer_id"].tolist() == ["user_0002", "user_0000"]
    with pytest.raises(ValueError, match="customer_id 9 is not in"):
        sources.with_original_ids(scores.assign(customer_id=[9, 1]), paths.landed)


def test_whole_number_ids_are_written_as_they_are(tmp_path):
    params = own_log_params(write_log(tmp_path, CDNOW_LIKE), CDNOW_COLUMNS)
    paths = Paths(tmp_path)
    ingest_stage.run(params, paths)
    frame = pd.DataFrame({"customer_id": [1, 3]})
    assert sources.with_original_ids(frame, paths.landed) is frame


def test_elasticsearch_document_ids_keep_text_ids_and_whole_numbers():
    assert _document_id("3f1c-uuid") == "3f1c-uuid"
    assert _document_id(np.int64(12)) == "12"
    assert _document_id(12.0) == "12"


# --- end to end ---------------------------------------------------------------------------------------


def cdnow_like(customers: int = 300, seed: int = 11) -> pd.DataFrame:
    """A 1990s transaction log: id, YYYYMMDD date, quantity, amount; some buy twice a day, many stop."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("1997-01-01")
    rows = []
    for customer in range(1, customers + 1):
        first = int(rng.integers(0, 90))
        stops = first + int(rng.integers(30, 540))
        for day in sorted(set(first + np.cumsum(rng.geometric(1 / 25, 40)))):
            if day >= min(stops, 546):
                break
            for _ in range(int(rng.choice([1, 1, 1, 2]))):
                quantity = int(rng.integers(1, 5))
                date = (start + pd.Timedelta(days=int(day))).strftime("%Y%m%d")
                rows.append((f"{customer:05d}", date, quantity, round(quantity * rng.gamma(2, 8), 2)))
    return pd.DataFrame(rows, columns=["customer", "date", "quantity", "amount"])


def uuid_clickstream(customers: int = 300, seed: int = 13) -> pd.DataFrame:
    """A clickstream with UUID customer ids and raw event names; sessions of views, carts and buys."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2019-10-01")
    rows = []
    for _ in range(customers):
        user = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63))))
        stops = int(rng.integers(40, 420))
        day = int(rng.integers(0, 30))
        while day < stops:
            when = start + pd.Timedelta(days=day, minutes=int(rng.integers(0, 1200)))
            product = f"p{int(rng.integers(0, 40))}"
            price = f"{rng.gamma(2, 15):.2f}"
            for step, action in enumerate(("view", "cart", "purchase")):
                if step and rng.random() > 0.5:
                    break
                stamp = (when + pd.Timedelta(minutes=2 * step)).strftime("%Y-%m-%dT%H:%M:%S")
                rows.append((user, stamp, action, product, price))
            day += int(rng.geometric(1 / 12))
    return pd.DataFrame(rows, columns=["user_id", "event_time", "event_type", "product_id", "price"])


@pytest.mark.e2e
def test_a_1990s_transaction_log_runs_end_to_end(tmp_path):
    from test_pipeline import assert_book_and_consistent_metrics, build, metrics

    log = cdnow_like()
    project = build(
        tmp_path / "repo",
        {
            "data": {
                "source": "events",
                "path": "datasets/own/cdnow.csv",
                "columns": {"customer_id": "customer", "timestamp": "date", "amount": "amount"},
            }
        },
        {"datasets/own/cdnow.csv": log},
    )
    assert_book_and_consistent_metrics(project)
    quality = metrics(project, "data_quality")["events"]
    assert quality["rows_in"] == len(log)
    assert quality["rules"]["timestamp_before_start"] == quality["rules"]["timestamp_in_future"] == 0
    assert metrics(project, "behaviour")["days"] > 300


@pytest.mark.e2e
def test_a_clickstream_with_uuid_customer_ids_runs_end_to_end(tmp_path):
    from test_pipeline import assert_book_and_consistent_metrics, build, run

    log = uuid_clickstream()
    project = build(
        tmp_path / "repo",
        {
            "data": {
                "source": "events",
                "path": "datasets/own/clicks.csv.gz",
                "columns": {
                    "customer_id": "user_id",
                    "timestamp": "event_time",
                    "event_type": "event_type",
                    "product_id": "product_id",
                    "amount": "price",
                },
                "event_types": {"add_to_cart": ["cart"]},
            }
        },
        {"datasets/own/clicks.csv.gz": log},
    )
    assert_book_and_consistent_metrics(project)
    originals = set(log["user_id"])
    for name in ("churn_scores", "survival_times"):
        written = pd.read_parquet(project / "datasets" / "scores" / f"{name}.parquet")
        assert set(written["customer_id"]) <= originals, name
    run(["cba", "predict", "--input", "datasets/features/current.parquet", "--output", "scores.csv"], project)
    predicted = pd.read_csv(project / "scores.csv")
    assert len(predicted) > 0 and set(predicted["customer_id"]) <= originals
