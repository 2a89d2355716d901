"""The synthetic generator: deterministic, in its schemas, faults at their rates, and the built-in behaviour.

Shares of randomly injected faults are checked against their rate with a tolerance of ``SIGMAS`` binomial
standard deviations, so a check fails only when the generator is wrong, not when a seed is unlucky.
"""

import datetime as dt
import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cba import schema, sources
from cba.generate import SyntheticData, generate, write

SIGMAS = 5.0
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
ISO_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?!\+00:00)[+-]\d{2}:\d{2}$")
KAGGLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "E Commerce Dataset.xlsx"
KAGGLE_LEVELLED = [
    "PreferredLoginDevice",
    "CityTier",
    "PreferredPaymentMode",
    "Gender",
    "HourSpendOnApp",
    "NumberOfDeviceRegistered",
    "PreferedOrderCat",
    "SatisfactionScore",
    "MaritalStatus",
    "Complain",
]
"""Kaggle attributes with a handful of levels, whose shares the synthetic customers reproduce."""


# --- fixtures and helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed(params) -> int:
    return params.seed


@pytest.fixture(scope="module")
def data(tiny_generate_params, seed) -> SyntheticData:
    return generate(tiny_generate_params, seed)


@pytest.fixture(scope="module")
def written(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    write(data, out)
    return out


@pytest.fixture(scope="module")
def events(data) -> pd.DataFrame:
    """Distinct events (exact duplicates dropped), text decoded, with the timestamp parsed to UTC."""
    frame = as_frame(data.events).drop(columns="event_date").drop_duplicates(ignore_index=True)
    return frame.assign(utc=parse_timestamps(frame["timestamp"]))


@pytest.fixture(scope="module")
def customers(data) -> pd.DataFrame:
    """Distinct customers (exact duplicates dropped)."""
    return as_frame(data.customers).drop_duplicates(ignore_index=True)


@pytest.fixture(scope="module")
def kaggle_customers() -> pd.DataFrame:
    """The real Kaggle customers, aliases replaced by their canonical labels."""
    return sources.load_kaggle(KAGGLE, "E Comm").to_pandas().replace(schema.LABEL_ALIASES)


@pytest.fixture(scope="module")
def sessions(data) -> pd.DataFrame:
    return as_frame(data.sessions)


@pytest.fixture(scope="module")
def orders(data) -> pd.DataFrame:
    return as_frame(data.orders)


def as_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas, dictionary-encoded text decoded to plain strings."""
    decoded = pa.schema(
        [
            field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
            for field in table.schema
        ]
    )
    return table.cast(decoded).to_pandas()


def parse_timestamps(text: pd.Series) -> pd.Series:
    """ISO 8601 text with ``Z`` or a ``+HH:MM`` offset, as UTC; anything else becomes NaT."""
    return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")


def window(params) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First instant of the window and first instant after it."""
    return (
        pd.Timestamp(params.start_date, tz="UTC"),
        pd.Timestamp(params.end_date + dt.timedelta(days=1), tz="UTC"),
    )


def assert_share_near(observed: int, trials: int, rate: float, what: str) -> None:
    """``observed / trials`` lies within ``SIGMAS`` binomial standard deviations of ``rate``."""
    assert trials > 0, f"no rows to measure {what} on"
    tolerance = SIGMAS * math.sqrt(rate * (1.0 - rate) / trials)
    share = observed / trials
    assert abs(share - rate) <= tolerance, f"{what}: share {share:.4f}, expected {rate} ± {tolerance:.4f}"


def file_digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- determinism ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["customers", "sessions", "events", "orders"])
def test_same_params_and_seed_give_the_same_tables(data, tiny_generate_params, seed, table):
    again = getattr(generate(tiny_generate_params, seed), table)
    first = getattr(data, table)
    assert again.schema == first.schema
    # Compared as frames, where NaN equals NaN (pa.Table.equals treats NaN as unequal to itself).
    pd.testing.assert_frame_equal(again.to_pandas(), first.to_pandas())


def test_same_params_and_seed_write_the_same_bytes(tiny_generate_params, seed, tmp_path):
    for run in ("first", "second"):
        write(generate(tiny_generate_params, seed), tmp_path / run)
    first, second = file_digests(tmp_path / "first"), file_digests(tmp_path / "second")
    assert "customers.parquet" in first
    assert any(name.startswith("events/") for name in first)
    assert first == second


def test_another_seed_gives_other_events(data, tiny_generate_params, seed):
    other = generate(tiny_generate_params, seed + 1).events
    assert not other["timestamp"].equals(data.events["timestamp"])
    assert not other["customer_id"].equals(data.events["customer_id"])


# --- shape and schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("customers", schema.CUSTOMERS),
        ("sessions", schema.SESSIONS),
        ("events", schema.RAW_EVENTS),
        ("orders", schema.ORDERS),
    ],
    ids=["customers", "sessions", "events", "orders"],
)
def test_every_table_matches_its_schema(data, table, expected):
    schema.validate(getattr(data, table), expected, f"generate().{table}")


def test_customer_columns_come_in_schema_order(data):
    assert data.customers.column_names == schema.CUSTOMERS.names


@pytest.mark.parametrize("column", KAGGLE_LEVELLED)
def test_each_level_of_an_attribute_holds_its_share_of_the_real_kaggle_customers(
    customers, kaggle_customers, column
):
    ours = customers[column].replace(schema.LABEL_ALIASES.get(column, {})).dropna()
    real = kaggle_customers[column].dropna().value_counts(normalize=True)
    common = real[real * len(ours) >= 10]  # levels common enough for the binomial tolerance
    assert len(common) >= 2, f"{column}: too few common levels to compare"
    for level, share in common.items():
        assert_share_near(int((ours == level).sum()), len(ours), share, f"{column} = {level!r}")


def test_customer_ids_are_unique_once_exact_duplicates_are_dropped(customers, tiny_generate_params):
    assert customers["customer_id"].is_unique
    originals = customers["customer_id"] < 50_001 + tiny_generate_params.num_customers
    assert originals.sum() == tiny_generate_params.num_customers


def test_reregistered_customers_copy_an_original_under_a_new_id(customers, tiny_generate_params):
    new_id = customers["customer_id"] >= 50_001 + tiny_generate_params.num_customers
    attributes = customers.columns.drop("customer_id").tolist()
    originals = customers[~new_id]
    copies = customers[new_id].merge(originals, on=attributes, how="left", indicator=True)
    assert (copies["_merge"] == "both").all(), "a re-registered customer matches no original"
    assert_share_near(
        int(new_id.sum()),
        int((~new_id).sum()),
        tiny_generate_params.faults.near_duplicate_rate,
        "re-registered",
    )


def test_exactly_num_events_distinct_event_ids(data, tiny_generate_params):
    assert pc.count_distinct(data.events["event_id"]).as_py() == tiny_generate_params.num_events


@pytest.mark.parametrize("table", ["events", "customers"])
def test_duplicates_are_exact_copies_at_the_duplicate_rate(data, tiny_generate_params, table):
    frame = as_frame(getattr(data, table))
    key = "event_id" if table == "events" else "customer_id"
    repeated_key = frame[key].duplicated(keep=False)
    assert frame[key].value_counts().max() <= 2
    assert (frame.duplicated(keep=False) == repeated_key).all(), "a repeated id with different values"
    distinct = frame[key].nunique()
    assert_share_near(
        len(frame) - distinct, distinct, tiny_generate_params.faults.duplicate_rate, f"{table} duplicates"
    )


# --- vocabularies and faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("column", list(schema.VOCABULARIES))
def test_customer_labels_are_canonical_or_known_aliases(customers, column):
    allowed = set(schema.VOCABULARIES[column]) | set(schema.LABEL_ALIASES.get(column, {}))
    assert set(customers[column].unique()) <= allowed


def test_a_product_has_one_category_and_one_price(events):
    per_product = events.groupby("product_id")[["category", "price"]].nunique()
    assert (per_product == 1).all().all(), per_product[(per_product != 1).any(axis=1)].head()


def test_an_event_is_on_its_sessions_device_unless_blank(events, sessions):
    device = events["session_id"].map(sessions.set_index("session_id")["device"])
    written = events["device"].notna()
    assert (events.loc[written, "device"] == device[written]).all()


@pytest.mark.parametrize(
    ("column", "alias"),
    [(column, alias) for column, aliases in schema.LABEL_ALIASES.items() for alias in aliases],
    ids=[f"{column}-{alias}" for column, aliases in schema.LABEL_ALIASES.items() for alias in aliases],
)
def test_alias_share_matches_label_inconsistency_rate(customers, tiny_generate_params, column, alias):
    canonical = schema.LABEL_ALIASES[column][alias]
    values = customers[column]
    assert_share_near(
        int((values == alias).sum()),
        int(values.isin([alias, canonical]).sum()),
        tiny_generate_params.faults.label_inconsistency_rate,
        f"{column} written as {alias!r}",
    )


@pytest.mark.parametrize(
    "column", [c.name for c in schema.KAGGLE_ATTRIBUTES if c.nullable], ids=lambda name: name
)
def test_missing_share_of_each_nullable_attribute_matches_missing_rate(
    customers, tiny_generate_params, column
):
    assert_share_near(
        int(customers[column].isna().sum()),
        len(customers),
        tiny_generate_params.faults.missing_rate,
        f"missing {column}",
    )


def test_attributes_that_kaggle_never_leaves_blank_are_never_blank(customers):
    required = [c.name for c in schema.CUSTOMERS.columns if not c.nullable]
    assert not customers[required].isna().any().any()


def test_blank_attributes_are_nulls_not_nan(data):
    for column in (c.name for c in schema.KAGGLE_ATTRIBUTES if c.nullable):
        assert not pc.any(pc.is_nan(data.customers[column])).as_py(), column


def test_missing_device_share_matches_missing_rate(events, tiny_generate_params):
    assert_share_near(
        int(events["device"].isna().sum()), len(events), tiny_generate_params.faults.missing_rate, "device"
    )
    others = [c.name for c in schema.RAW_EVENTS.columns if c.name != "device"]
    assert not events[others].isna().any().any()


def test_bad_timestamp_share_matches_bad_timestamp_rate(events, tiny_generate_params):
    first, after = window(tiny_generate_params)
    bad = events["utc"].isna() | (events["utc"] < first) | (events["utc"] >= after)
    assert_share_near(
        int(bad.sum()), len(events), tiny_generate_params.faults.bad_timestamp_rate, "bad timestamps"
    )


def test_local_offset_share_matches_mixed_timezone_rate(events, tiny_generate_params):
    faults = tiny_generate_params.faults
    # Bad timestamps replace local ones, so a local offset survives on the other rows only.
    expected = faults.mixed_timezone_rate * (1.0 - faults.bad_timestamp_rate)
    local = events["timestamp"].str.match(ISO_LOCAL)
    assert_share_near(int(local.sum()), len(events), expected, "local-offset timestamps")


def test_every_timestamp_text_has_one_layout(events):
    """UTC, local and bad timestamps alike: ``YYYY-MM-DDTHH:MM:SS+HH:MM``, 25 characters."""
    text = events["timestamp"]
    assert text.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}").all()


def test_raw_events_come_by_utc_day_with_each_duplicate_after_its_original(data):
    day = data.events["event_date"].cast(pa.int32()).to_numpy()
    assert (np.diff(day) >= 0).all()
    event_id = data.events["event_id"].to_numpy()
    follows_its_original = event_id[1:] == event_id[:-1]
    assert follows_its_original.sum() == len(event_id) - len(np.unique(event_id))


def test_local_offsets_are_the_customers_own(events, customers):
    local = events[events["timestamp"].str.match(ISO_LOCAL)]
    zone = local["customer_id"].map(customers.set_index("customer_id")["timezone"])
    expected = [ts.tz_convert(name).strftime("%z") for ts, name in zip(local["utc"], zone, strict=True)]
    written = local["timestamp"].str[-6:].str.replace(":", "", regex=False)
    assert written.tolist() == expected


def test_every_timestamp_parses_and_lies_in_the_window_without_bad_timestamp_faults(
    tiny_generate_params, seed
):
    clean_params = tiny_generate_params.model_copy(
        update={"faults": tiny_generate_params.faults.model_copy(update={"bad_timestamp_rate": 0.0})}
    )
    data = generate(clean_params, seed)
    first, after = window(clean_params)
    utc = parse_timestamps(data.events["timestamp"].to_pandas())
    assert utc.notna().all()
    assert utc.min() >= first and utc.max() < after
    for table, columns in [
        (data.sessions, ["session_start", "session_end"]),
        (data.orders, ["order_timestamp"]),
    ]:
        for column in columns:
            values = table[column].to_pandas()
            assert values.min() >= first and values.max() < after, column


def test_sessions_never_run_past_the_end_of_the_window(tiny_generate_params):
    short = tiny_generate_params.model_copy(
        update={
            "start_date": tiny_generate_params.end_date - dt.timedelta(days=1),
            "faults": tiny_generate_params.faults.model_copy(update={"bad_timestamp_rate": 0.0}),
        }
    )
    _, after = window(short)
    for seed in range(10):
        last_end = generate(short, seed).sessions["session_end"].to_pandas().max()
        assert last_end < after, f"seed {seed}: a session ends at {last_end}"


# --- behaviour built into the generator -----------------------------------------------------------------


def test_churn_share_matches_churn_rate(customers, tiny_generate_params):
    assert set(customers["Churn"].unique()) <= {0, 1}
    assert_share_near(
        int(customers["Churn"].sum()), len(customers), tiny_generate_params.churn_rate, "churners"
    )


def test_every_purchase_or_removal_follows_an_add_to_cart(events):
    ordered = events.sort_values(["session_id", "event_id"])
    carts_so_far = (ordered["event_type"] == "add_to_cart").groupby(ordered["session_id"]).cumsum()
    acts_on_cart = ordered["event_type"].isin(["purchase", "remove_from_cart"])
    assert acts_on_cart.any()
    assert (carts_so_far[acts_on_cart] >= 1).all()


def test_sessions_count_their_events(events, sessions, tiny_generate_params):
    counted = events.groupby("session_id").size()
    assert sessions.set_index("session_id")["num_events"].equals(counted.reindex(sessions["session_id"]))
    assert sessions["num_events"].sum() == tiny_generate_params.num_events
    assert (sessions["session_end"] >= sessions["session_start"]).all()


def test_orders_reconcile_with_purchase_events(events, orders):
    purchases = events[events["event_type"] == "purchase"]
    by_session = purchases.groupby("session_id").agg(items=("price", "size"), amount=("price", "sum"))
    per_order = orders.set_index("session_id").sort_index()
    assert per_order.index.equals(by_session.index), "one order per session with a purchase"
    assert (per_order["num_items"] == by_session["items"]).all()
    np.testing.assert_allclose(per_order["order_amount"], by_session["amount"], atol=0.005)

    spent = orders.groupby("customer_id")["order_amount"].sum()
    bought = purchases.groupby("customer_id")["price"].sum()
    pd.testing.assert_series_equal(spent, bought, check_names=False, atol=0.01)
    sessions_with_purchase = purchases.groupby("customer_id")["session_id"].nunique()
    assert (orders.groupby("customer_id").size() == sessions_with_purchase).all()


def test_an_order_is_placed_at_the_instant_of_its_purchase_event(events, orders, tiny_generate_params):
    first, after = window(tiny_generate_params)
    purchases = events[
        (events["event_type"] == "purchase") & (events["utc"] >= first) & (events["utc"] < after)
    ]
    placed = purchases["session_id"].map(orders.set_index("session_id")["order_timestamp"])
    assert len(purchases) > 0
    assert (placed == purchases["utc"]).all()


def test_computers_convert_better_than_mobile_phones(sessions, orders):
    converted = sessions["session_id"].isin(orders["session_id"])
    rate = converted.groupby(sessions["device"]).mean()
    size = sessions["device"].value_counts()
    pooled = converted.mean()
    noise = math.sqrt(pooled * (1 - pooled) * (1 / size["Computer"] + 1 / size["Mobile Phone"]))
    assert rate["Computer"] - rate["Mobile Phone"] > SIGMAS * noise, rate.to_dict()


def test_laptops_cost_more_than_groceries(events):
    mean_price = events.groupby("category")["price"].mean()
    assert mean_price["Laptop & Accessory"] > mean_price["Grocery"]


def test_weekends_get_more_than_their_share_of_sessions(sessions, customers):
    zone = sessions["customer_id"].map(customers.set_index("customer_id")["timezone"])
    weekday = pd.Series(
        [ts.tz_convert(name).dayofweek for ts, name in zip(sessions["session_start"], zone, strict=True)]
    )
    weekend = 2 / 7
    noise = math.sqrt(weekend * (1 - weekend) / len(sessions))
    share = (weekday >= 5).mean()
    assert share - weekend > SIGMAS * noise, f"weekend share {share:.3f}"


def test_evenings_get_many_more_sessions_than_nights(sessions, customers):
    zone = sessions["customer_id"].map(customers.set_index("customer_id")["timezone"])
    hour = pd.Series(
        [ts.tz_convert(name).hour for ts, name in zip(sessions["session_start"], zone, strict=True)]
    )
    evening, night = int(hour.between(18, 21).sum()), int(hour.between(2, 5).sum())
    assert evening > 5 * night, f"{evening} sessions from 18 to 22 h, {night} from 2 to 6 h (local time)"


def test_engagement_decays_over_a_customers_time_with_the_shop(sessions, customers, tiny_generate_params):
    """Customers who stay hold more sessions in the first half of their active time than in the second."""
    first, after = window(tiny_generate_params)
    stayed = customers[customers["Churn"] == 0].set_index("customer_id")
    joined = pd.to_datetime(stayed["signup_date"]).dt.tz_localize("UTC").clip(lower=first)
    halfway = joined + (after - joined) / 2
    theirs = sessions[sessions["customer_id"].isin(stayed.index)]
    early = int((theirs["session_start"] < theirs["customer_id"].map(halfway)).sum())
    late = len(theirs) - early
    assert early - late > SIGMAS * math.sqrt(early + late), (
        f"{early} sessions in the first half, {late} after"
    )


# --- written files --------------------------------------------------------------------------------------


def test_write_lays_out_hive_partitions_by_utc_date(written):
    assert (written / "customers.parquet").is_file()
    for folder, key in [("events", "event_date"), ("sessions", "session_date"), ("orders", "order_date")]:
        names = [
            p.relative_to(written / folder).as_posix() for p in (written / folder).rglob("*") if p.is_file()
        ]
        assert names, folder
        pattern = re.compile(rf"^{key}=(\d{{4}}-\d{{2}}-\d{{2}})/part-0\.parquet$")
        assert all(pattern.match(name) for name in names), [n for n in names if not pattern.match(n)][:3]


def test_event_partitions_hold_the_events_of_their_utc_day(written, data, tiny_generate_params):
    first, after = window(tiny_generate_params)
    rows = 0
    for path in sorted((written / "events").glob("event_date=*/part-0.parquet")):
        day = dt.date.fromisoformat(path.parent.name.removeprefix("event_date="))
        part = pq.read_table(path)
        rows += part.num_rows
        text = part["timestamp"].to_pandas()
        utc = parse_timestamps(text[text.str.match(ISO_UTC)])
        in_window = utc[(utc >= first) & (utc < after)]  # bad-timestamp faults are filed by their true day
        assert (in_window.dt.date == day).all(), path
    assert rows == data.events.num_rows


def test_written_events_read_back_in_the_raw_schema(written, data):
    events = pq.read_table(written / "events")
    schema.validate(events, schema.RAW_EVENTS, written / "events")
    assert events.num_rows == data.events.num_rows


def test_timestamp_text_splits_where_int32_offsets_end(tmp_path):
    """Past 2^31 - 1 bytes of text the column continues in another string array, with the same values."""
    from cba.generate.faults import _ISO_RECORD, _TEXT_CHUNK_ROWS, _fixed_width_text

    width = _ISO_RECORD.itemsize
    assert _TEXT_CHUNK_ROWS * width <= 2**31 - 1 < (_TEXT_CHUNK_ROWS + 1) * width
    texts = [f"2024-01-{day:02d}T00:00:00+00:00" for day in range(1, 8)]
    records = np.frombuffer("".join(texts).encode(), dtype=_ISO_RECORD)
    column = _fixed_width_text(records, chunk_rows=3)
    assert [len(chunk) for chunk in column.chunks] == [3, 3, 1]
    assert [np.frombuffer(chunk.buffers()[1], np.int32)[0] for chunk in column.chunks] == [0, 0, 0]
    assert column.to_pylist() == texts == _fixed_width_text(records).to_pylist()
    pq.write_table(pa.table({"timestamp": column}), tmp_path / "events.parquet")
    assert pq.read_table(tmp_path / "events.parquet")["timestamp"].to_pylist() == texts
