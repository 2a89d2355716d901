import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cba import generate, schema, sources
from cba.config import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    params = load_params(ROOT / "params.yaml")
    small = dataclasses.replace(params.generate, num_customers=200, num_events=5_000)
    out = tmp_path_factory.mktemp("raw") / "synthetic"
    generate.write(generate.generate(small, seed=3), out)
    return out


def test_synthetic_source_loads_in_schema_types(synthetic):
    tables = sources.load_synthetic(synthetic)
    assert set(tables) == set(sources.RAW_TABLES)
    for name, table in tables.items():
        assert table.schema.equals(sources.RAW_TABLES[name].arrow_schema, check_metadata=False), name


def test_land_then_read_back(synthetic, tmp_path):
    tables = sources.load_synthetic(synthetic)
    paths = sources.land(tables, tmp_path / "interim")
    assert paths["events"] == tmp_path / "interim" / "events.parquet"
    events = sources.read_landed(tmp_path / "interim", "events", schema.RAW_EVENTS)
    assert events.equals(tables["events"])


def test_missing_source_names_the_params_key(tmp_path):
    with pytest.raises(sources.SourceError, match=r"customers\.parquet: not found.*data\.path"):
        sources.load_synthetic(tmp_path / "nowhere")


def test_missing_column_names_file_and_column(synthetic, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("events", "sessions", "orders"):
        (broken / name).symlink_to(synthetic / name)
    customers = pq.read_table(synthetic / "customers.parquet").drop_columns(["CashbackAmount"])
    pq.write_table(customers, broken / "customers.parquet")
    with pytest.raises(
        schema.SchemaError, match=r"broken/customers\.parquet: missing column 'CashbackAmount'"
    ):
        sources.load_synthetic(broken)


def test_wrong_type_and_empty_table_are_refused():
    wrong = pa.table({"customer_id": ["a"], "Churn": [1]})
    table = schema.Table("tiny", (schema.Column("customer_id", pa.int64(), "id"),))
    with pytest.raises(
        schema.SchemaError, match="f.parquet: column 'customer_id' of the tiny table has type string"
    ):
        schema.validate(wrong, table, "f.parquet")
    with pytest.raises(schema.SchemaError, match="f.parquet: the tiny table is empty"):
        schema.validate(wrong.slice(0, 0), table, "f.parquet")


def test_read_landed_names_the_missing_file(tmp_path):
    with pytest.raises(sources.SourceError, match="orders.parquet: not found"):
        sources.read_landed(tmp_path, "orders", schema.ORDERS)
