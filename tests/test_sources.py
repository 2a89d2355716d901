from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cba import generate, schema, sources
from cba.config import DataParams, load_params

ROOT = Path(__file__).resolve().parents[1]
KAGGLE = ROOT.parent / "shared" / "datasets" / "E Commerce Dataset.xlsx"


def data_params(**overrides) -> DataParams:
    base = load_params(ROOT / "params.yaml").data
    return base.model_copy(update=overrides)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    params = load_params(ROOT / "params.yaml")
    small = params.generate.model_copy(update={"num_customers": 200, "num_events": 5_000})
    out = tmp_path_factory.mktemp("raw") / "synthetic"
    generate.write(generate.generate(small, seed=3), out)
    return out


def test_synthetic_source_loads_in_schema_types(synthetic):
    tables = sources.load(data_params(path=str(synthetic)))
    assert set(tables) == set(sources.SYNTHETIC_TABLES)
    for name, table in tables.items():
        expected = sources.SYNTHETIC_TABLES[name].arrow_schema
        assert table.column_names == expected.names, name
        for field in expected:
            stored = table.schema.field(field.name).type
            assert (stored.value_type if pa.types.is_dictionary(stored) else stored) == field.type, field.name


def test_land_then_read_back(synthetic, tmp_path):
    tables = sources.load_synthetic(synthetic)
    paths = sources.land(tables, tmp_path / "landed")
    assert paths["events"] == tmp_path / "landed" / "events.parquet"
    assert sources.read_landed(tmp_path / "landed", "events").equals(tables["events"])
    assert sources.read_landed(tmp_path / "landed", "nothing") is None


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


# --- Kaggle ---------------------------------------------------------------------------------------------


def kaggle_frame(rows: int = 3) -> pd.DataFrame:
    frame = pd.DataFrame({c: [1] * rows for c in schema.KAGGLE_CUSTOMERS.names})
    return frame.rename(columns={"customer_id": "CustomerID"}).assign(CustomerID=range(50001, 50001 + rows))


def test_kaggle_csv_export_loads_with_customer_id(tmp_path):
    path = tmp_path / "ecommerce.csv"
    kaggle_frame().to_csv(path, index=False)
    table = sources.load(data_params(source="kaggle", path=str(path)))
    assert list(table) == ["customers"]
    assert table["customers"].column_names == schema.KAGGLE_CUSTOMERS.names
    assert table["customers"]["customer_id"].to_pylist() == [50001, 50002, 50003]


def test_kaggle_text_among_numbers_is_kept_for_cleaning(tmp_path):
    frame = kaggle_frame().astype({"Tenure": object})
    frame.loc[1, "Tenure"] = "ten"
    path = tmp_path / "ecommerce.xlsx"
    frame.to_excel(path, sheet_name="E Comm", index=False)
    table = sources.load_kaggle(path, "E Comm")
    assert table["Tenure"].to_pylist() == ["1", "ten", "1"]


def test_kaggle_wrong_sheet_names_the_sheets_and_the_key(tmp_path):
    path = tmp_path / "ecommerce.xlsx"
    kaggle_frame().to_excel(path, sheet_name="Data", index=False)
    with pytest.raises(
        sources.SourceError, match=r"no sheet 'E Comm' \(the workbook has \['Data'\]\).*data\.sheet"
    ):
        sources.load_kaggle(path, "E Comm")


def test_kaggle_missing_column_and_empty_file_are_named(tmp_path):
    path = tmp_path / "ecommerce.csv"
    kaggle_frame().drop(columns=["Complain"]).to_csv(path, index=False)
    with pytest.raises(sources.SourceError, match="ecommerce.csv: missing column 'Complain'"):
        sources.load_kaggle(path, "E Comm")
    kaggle_frame(0).to_csv(path, index=False)
    with pytest.raises(sources.SourceError, match="ecommerce.csv: no rows"):
        sources.load_kaggle(path, "E Comm")


@pytest.mark.skipif(not KAGGLE.exists(), reason=f"the real Kaggle file is not at {KAGGLE}")
def test_the_real_kaggle_file_loads():
    table = sources.load_kaggle(KAGGLE, "E Comm")
    assert table.num_rows == 5630
    assert round(pc.mean(table["Churn"]).as_py(), 4) == 0.1684


# --- own event log --------------------------------------------------------------------------------------


def test_transaction_only_csv_becomes_purchases(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text("cust,when,total\n7,2024-03-01 10:00:00,12.5\n8,2024-03-02 11:00:00,3\n")
    params = data_params(
        source="events",
        path=str(path),
        columns={"customer_id": "cust", "timestamp": "when", "amount": "total"},
    )
    events = sources.load(params)["events"]
    assert events.column_names == ["timestamp", "event_id", "customer_id", "event_type", "price"]
    assert events["event_type"].to_pylist() == ["purchase", "purchase"]
    assert events["price"].to_pylist() == ["12.5", "3"]  # text until cleaning parses it
    assert events["event_id"].to_pylist() == [1, 2]


def test_event_names_are_mapped_and_unknown_names_kept(tmp_path):
    frame = pd.DataFrame(
        {"user": [1, 1, 2], "ts": ["2024-01-01T00:00:00Z"] * 3, "kind": ["pv", "buy", "wishlist"]}
    )
    frame.to_parquet(tmp_path / "part-1.parquet")
    params = data_params(
        source="events",
        path=str(tmp_path),
        columns={"customer_id": "user", "timestamp": "ts", "event_type": "kind"},
        event_types={"view": ["pv"], "purchase": ["buy"]},
    )
    assert sources.load(params)["events"]["event_type"].to_pylist() == ["view", "purchase", "wishlist"]


def test_a_mapping_to_a_missing_column_names_file_column_and_key(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("cust,when\n1,2024-01-01\n")
    params = data_params(
        source="events", path=str(path), columns={"customer_id": "cust", "timestamp": "time"}
    )
    with pytest.raises(
        sources.SourceError,
        match=r"log\.csv: no column 'time' \(mapped as timestamp\).*data\.columns\.timestamp",
    ):
        sources.load(params)


def test_an_empty_log_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("cust,when\n")
    params = data_params(
        source="events", path=str(path), columns={"customer_id": "cust", "timestamp": "when"}
    )
    with pytest.raises(sources.SourceError, match=r"log\.csv: no rows"):
        sources.load(params)


LOG_TEXT = "cust,when,total\n7,2024-03-01 10:00:00,12.5\n8,2024-03-02 11:00:00,3\n"


def _compressed(path, kind):
    import bz2
    import gzip
    import zipfile

    import pyarrow as pa

    if kind == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export/transactions.csv", LOG_TEXT)
    elif kind == "zst":
        with pa.CompressedOutputStream(str(path), "zstd") as stream:
            stream.write(LOG_TEXT.encode())
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress}[kind](LOG_TEXT.encode()))
    return path


@pytest.mark.parametrize("name", ["log.csv.gz", "log.csv.bz2", "log.csv.zst", "log.zip"], ids=lambda n: n)
def test_compressed_event_logs_read_like_plain_csv(tmp_path, name):
    path = _compressed(tmp_path / name, name.rsplit(".", 1)[-1])
    params = data_params(
        source="events",
        path=str(path),
        columns={"customer_id": "cust", "timestamp": "when", "amount": "total"},
    )
    events = sources.load(params)["events"]
    assert events["customer_id"].to_pylist() == ["7", "8"]
    assert events["price"].to_pylist() == ["12.5", "3"]
    assert events["timestamp"].to_pylist() == ["2024-03-01 10:00:00", "2024-03-02 11:00:00"]


def test_a_zip_without_exactly_one_csv_is_named(tmp_path):
    import zipfile

    path = tmp_path / "logs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", LOG_TEXT)
        archive.writestr("b.csv", LOG_TEXT)
    params = data_params(
        source="events", path=str(path), columns={"customer_id": "cust", "timestamp": "when"}
    )
    with pytest.raises(
        sources.SourceError, match=r"logs.zip: a zipped event log must hold exactly one \.csv"
    ):
        sources.load(params)
