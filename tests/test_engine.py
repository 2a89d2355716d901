"""The same ibis expressions on DuckDB and on PySpark give the same results.

Tiny literal frames go to Parquet and are read back with :func:`cba.engine.read_parquet` on each engine,
the path the stages take. One local Spark session serves the whole module.
"""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cba import behaviour, clean, engine, features, schema
from cba.config import EngineParams

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
pytestmark = pytest.mark.spark

DUCKDB = EngineParams(name="duckdb", spark_master="local[2]", memory_limit=None, temp_directory=None)
SPARK = DUCKDB.model_copy(update={"name": "spark"})
EARLIEST, LATEST = dt.date(2024, 1, 1), dt.date(2025, 1, 1)
FIRST_DAY, LAST_DAY = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


@pytest.fixture(scope="module", autouse=True)
def spark_session():
    """One local Spark session for the module (``engine.connect`` reuses it), stopped at the end."""
    con = engine.connect(engine=SPARK)
    yield
    con.disconnect()


def raw_events(with_sessions: bool = True) -> pd.DataFrame:
    """Landed events as text, with a fault of every kind the cleaning rules know."""
    rows = [
        # event_id, customer_id, session_id, timestamp, event_type, product_id, category, price, device
        (1, "1", "10", "2024-03-01T10:00:00Z", "view", "P1", "Fashion", "20.0", "Computer"),
        (2, "1", "10", "2024-03-01T10:05:00Z", "add_to_cart", "P1", "Fashion", "20.0", "Computer"),
        (3, "1", "10", "2024-03-01T10:09:30Z", "purchase", "P1", "Fashion", "20.0", "Computer"),
        (3, "1", "10", "2024-03-01T10:09:30Z", "purchase", "P1", "Fashion", "20.0", "Computer"),  # duplicate
        (4, "1", "11", "2024-03-01T17:00:00+05:30", "view", "P2", "Grocery", "3.5", "Mobile Phone"),  # offset
        (5, "1", "12", "2024-03-03 09:00:00", "view", "P2", "Grocery", "3.5", "Mobile Phone"),  # no offset
        (6, "2", "20", "not a timestamp", "view", "P1", "Fashion", "20.0", "Computer"),
        (7, "2", "20", "2024-04-02T08:00:00Z", "view", "P3", "Fashion", "12.0", "Tablet"),
        (8, "2", "20", "2024-04-02T08:30:00Z", "purchase", "P3", "Fashion", "12.0", "Tablet"),
        (9, "2", "21", "2024-05-10T23:30:00Z", "view", "P1", None, None, None),
        (10, "C-3", "30", "2024-04-02T08:00:00Z", "view", "P1", "Fashion", "20.0", "Computer"),
        (11, "3", "30", "2023-12-31T23:59:59Z", "view", "P1", "Fashion", "20.0", "Computer"),
        (12, "3", "30", "2025-01-01T00:00:00Z", "view", "P1", "Fashion", "20.0", "Computer"),
        (13, "3", "31", "2024-06-01T12:00:00Z", "wishlist", "P1", "Fashion", "20.0", "Computer"),
        (14, "3", "31", "2024-06-01T12:01:00Z", "purchase", "P1", "Fashion", "twenty", "Computer"),
        (15, "3", "31", "2024-06-01T12:02:00Z", "purchase", "P1", "Fashion", "-1", "Computer"),
        (16, "3", "32", "2024-07-15T12:00:00Z", "view", "P4", "Mobile Phone", "300", "Mobile Phone"),
        (17, "3", "32", "2024-07-15T12:20:00Z", "purchase", "P4", "Mobile Phone", "300", "Mobile Phone"),
        (18, "3", "33", "2024-07-15T13:30:00Z", "view", "P4", "Mobile Phone", "300", "Mobile Phone"),
    ]
    columns = ["event_id", "customer_id", "session_id", "timestamp", "event_type"]
    frame = pd.DataFrame(rows, columns=[*columns, "product_id", "category", "price", "device"])
    return frame if with_sessions else frame.drop(columns="session_id")


def to_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False, coerce_timestamps="us")
    return path


def on_both(path: Path, run: Callable, timezone: str = "UTC") -> tuple:
    """``run(con, table)`` on DuckDB and on Spark, each reading ``path`` itself."""
    results = []
    for params in (DUCKDB, SPARK):
        con = engine.connect(timezone, params)
        results.append(run(con, engine.read_parquet(con, path)))
    return tuple(results)


def assert_same(duckdb: pd.DataFrame, spark: pd.DataFrame, by: list[str] | None = None) -> None:
    """Equal frames, up to row order (when ``by`` is given) and timestamp resolution."""

    def normalise(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.sort_values(by, kind="stable") if by else frame
        frame = frame.reset_index(drop=True)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC").dt.as_unit("us")
        return frame

    assert len(duckdb) > 0
    pd.testing.assert_frame_equal(normalise(duckdb), normalise(spark))


def run_clean(con, events, timeout: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    accepted, rejected = clean.clean_events(events, EARLIEST, LATEST, timeout)
    return con.execute(accepted), con.execute(rejected)


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
def test_clean_events_accepts_and_rejects_the_same_rows(tmp_path: Path, timezone: str):
    path = to_parquet(raw_events(), tmp_path / "events.parquet")
    (accepted, rejected), (spark_accepted, spark_rejected) = on_both(path, run_clean, timezone)
    assert_same(accepted, spark_accepted)
    assert_same(rejected, spark_rejected)
    assert sorted(rejected[clean.REJECTION_RULE]) == sorted(clean.EVENT_RULES)
    assert accepted.columns.tolist() == schema.EVENTS.names


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
def test_clean_events_derives_the_same_sessions(tmp_path: Path, timezone: str):
    path = to_parquet(raw_events(with_sessions=False), tmp_path / "events.parquet")
    (accepted, _), (spark_accepted, _) = on_both(path, lambda con, t: run_clean(con, t, timeout=30), timezone)
    assert_same(accepted, spark_accepted)
    assert accepted["session_id"].nunique() == 7


def test_features_from_each_engines_own_clean_output(tmp_path: Path):
    """Clean, write with ``con.to_parquet``, read back, then cutoff and features: the stages' path."""
    path = to_parquet(raw_events(), tmp_path / "events.parquet")
    results = []
    for params in (DUCKDB, SPARK):
        con = engine.connect(engine=params)
        accepted, _ = clean.clean_events(engine.read_parquet(con, path), EARLIEST, LATEST, 30)
        processed = tmp_path / f"processed-{params.name}.parquet"
        con.to_parquet(accepted, processed)
        events = engine.read_parquet(con, processed)
        cutoff = features.churn_cutoff(events, horizon_days=60)
        results.append((events.schema(), cutoff, con.execute(features.customer_features(events, cutoff, 60))))
    (schema_duckdb, cutoff, table), (schema_spark, spark_cutoff, spark_table) = results
    assert schema_spark == schema_duckdb
    assert spark_cutoff == cutoff == dt.datetime(2024, 5, 16, 13, 30, tzinfo=dt.UTC)
    assert_same(table, spark_table)
    assert table["customer_id"].tolist() == [1, 2]


def test_labelled_and_current_features(tmp_path: Path):
    """Cutoffs, stacked labelled features (scores, segments, preferences, affinity) and the current table."""
    con = engine.connect()
    accepted, _ = clean.clean_events(
        engine.read_parquet(con, to_parquet(raw_events(), tmp_path / "raw.parquet")), EARLIEST, LATEST, 30
    )
    path = tmp_path / "events.parquet"
    con.to_parquet(accepted, path)
    signups = to_parquet(
        pd.DataFrame(
            {"customer_id": [1, 2, 3], "signup_date": [dt.date(2024, 2, 1), dt.date(2024, 4, 2), None]}
        ),
        tmp_path / "customers.parquet",
    )

    def build(con, events):
        joined = engine.read_parquet(con, signups)
        cutoffs = features.label_cutoffs(events, 60, None, training_cutoffs=1)
        interactions = features.product_interactions(events, cutoffs[0]).to_pandas()
        affinity = features.fit_product_affinity(interactions, dimensions=2, seed=3)
        labelled = features.labelled_features(events, cutoffs, 60, affinity, joined)
        return cutoffs, labelled, features.current_features(events, affinity, joined)

    (cutoffs, labelled, current), (spark_cutoffs, spark_labelled, spark_current) = on_both(path, build)
    assert spark_cutoffs == cutoffs
    assert_same(labelled, spark_labelled)
    assert_same(current, spark_current)
    assert labelled["customer_id"].tolist() == [1, 1, 2]
    assert current["customer_id"].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("by", "window"),
    [(None, None), ("device", None), ("category", 10), (None, 60)],
    ids=["overall", "by-device", "by-category-10-minutes", "overall-60-minutes"],
)
def test_funnel(tmp_path: Path, by: str | None, window: int | None):
    path = to_parquet(raw_events(), tmp_path / "events.parquet")
    duckdb, spark = on_both(path, lambda con, t: behaviour.funnel(t, by, window))
    assert_same(duckdb, spark)


@pytest.mark.parametrize("with_sessions", [True, False], ids=["sessions", "no-sessions"])
def test_daily_activity(tmp_path: Path, with_sessions: bool):
    path = to_parquet(raw_events(with_sessions), tmp_path / "events.parquet")
    duckdb, spark = on_both(
        path, lambda con, t: behaviour.daily_activity(behaviour.numeric_prices(t), FIRST_DAY, LAST_DAY)
    )
    assert_same(duckdb, spark)


@pytest.mark.parametrize(
    "table",
    [
        lambda t: behaviour.cohort_retention(t, FIRST_DAY, LAST_DAY).reset_index(),
        lambda t: behaviour.price_by_category(behaviour.numeric_prices(t)),
        lambda t: behaviour.top_products(behaviour.numeric_prices(t), by="category"),
        lambda t: behaviour.top_products_by_conversion(behaviour.numeric_prices(t), min_views=1),
    ],
    ids=["cohort-retention", "price-by-category", "top-categories", "top-products-by-conversion"],
)
def test_other_event_tables(tmp_path: Path, table: Callable):
    path = to_parquet(raw_events(), tmp_path / "events.parquet")
    duckdb, spark = on_both(path, lambda con, t: table(t))
    assert_same(duckdb, spark)


def test_duckdb_takes_the_memory_limit_and_spill_folder(tmp_path: Path):
    limited = DUCKDB.model_copy(update={"memory_limit": "1GB", "temp_directory": str(tmp_path / "spill")})
    con = engine.connect(engine=limited)
    setting = "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    memory_limit, temp_directory = con.raw_sql(setting).fetchone()
    assert memory_limit == "953.6 MiB"  # 1 GB = 10^9 bytes, as DuckDB reports it in GiB/MiB
    assert temp_directory == str(tmp_path / "spill")


def test_duckdb_keeps_its_defaults_without_a_limit():
    import duckdb

    limit = "SELECT current_setting('memory_limit')"
    assert engine.connect(engine=DUCKDB).raw_sql(limit).fetchone() == duckdb.connect().sql(limit).fetchone()
