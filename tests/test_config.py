import copy
import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from cba.config import FaultRates, GenerateParams, Params, ParamsError, load_params, params_from_dict

PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"
DELETE = object()


def raw_params() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def with_value(raw: dict, dotted_key: str, value: object) -> dict:
    """A deep copy of ``raw`` with ``dotted_key`` set to ``value`` (or removed when ``value`` is DELETE)."""
    raw = copy.deepcopy(raw)
    *parents, name = dotted_key.split(".")
    section = raw
    for parent in parents:
        section = section[parent]
    if value is DELETE:
        del section[name]
    else:
        section[name] = value
    return raw


def test_project_params_load_into_typed_objects(params):
    assert isinstance(params, Params)
    assert isinstance(params.generate, GenerateParams)
    assert isinstance(params.generate.faults, FaultRates)
    assert isinstance(params.generate.start_date, dt.date)
    assert params.generate.start_date < params.generate.end_date
    assert all(0.0 <= rate <= 1.0 for rate in dataclasses.astuple(params.generate.faults))
    assert params_from_dict(raw_params()) == params


@pytest.mark.parametrize(
    ("key", "value", "named_key"),
    [
        ("generate.num_customers", -5, "generate.num_customers"),
        ("generate.num_events", 0, "generate.num_events"),
        ("data.source", "bigquery", "data.source"),
        ("ingest.mode", "carrier-pigeon", "ingest.mode"),
        ("engine.name", "flink", "engine.name"),
        ("generate.end_date", "2023-06-01", "generate.end_date"),
        ("generate.end_date", "2024-01-01", "generate.end_date"),
        ("clean.latest_timestamp", "2023-12-31", "clean.latest_timestamp"),
        ("generate.faults.duplicate_rate", 1.5, "generate.faults.duplicate_rate"),
        ("generate.churn_rate", 0.0, "generate.churn_rate"),
        ("churn.search.budget", DELETE, "churn.search.budget"),
        ("generate.faults", DELETE, "generate.faults"),
        ("eda.top_k", 5, "eda.top_k"),
        ("generate.faults.typo_rate", 0.1, "generate.faults.typo_rate"),
        ("eda.top_n", "ten", "eda.top_n"),
        ("generate.num_events", 1.5, "generate.num_events"),
        ("seed", True, "seed"),
        ("generate.faults.missing_rate", "high", "generate.faults.missing_rate"),
        ("generate.faults.missing_rate", False, "generate.faults.missing_rate"),
        ("survival.segment", 3, "survival.segment"),
        ("generate.start_date", "2024-13-45", "generate.start_date"),
        ("clean.earliest_timestamp", "yesterday", "clean.earliest_timestamp"),
        ("generate.faults", "none", "generate.faults"),
        ("generate.start_date", 20240101, "generate.start_date"),
        ("generate.start_date", dt.datetime(2024, 1, 1, 10, 0), "generate.start_date"),
    ],
    ids=[
        "negative-num-customers",
        "zero-num-events",
        "unknown-data-source",
        "unknown-ingest-mode",
        "unknown-engine-name",
        "end-date-before-start-date",
        "end-date-equals-start-date",
        "clean-window-reversed",
        "rate-above-one",
        "churn-rate-below-min",
        "missing-key",
        "missing-section",
        "unknown-key",
        "unknown-nested-key",
        "string-for-int",
        "float-for-int",
        "bool-for-int",
        "string-for-float",
        "bool-for-float",
        "int-for-string",
        "bad-date-string",
        "word-for-date",
        "scalar-for-section",
        "int-for-date",
        "datetime-for-date",
    ],
)
def test_bad_value_raises_naming_its_key(key, value, named_key):
    with pytest.raises(ParamsError, match=named_key.replace(".", r"\.")):
        params_from_dict(with_value(raw_params(), key, value))


def test_load_params_names_the_file_and_the_key(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(with_value(raw_params(), "generate.num_customers", -5)))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(path) in str(err.value)
    assert "generate.num_customers must be >= 1, got -5" in str(err.value)


def test_load_params_on_a_missing_file_names_the_file(tmp_path: Path):
    path = tmp_path / "nowhere" / "params.yaml"
    with pytest.raises(ParamsError, match="not found") as err:
        load_params(path)
    assert str(path) in str(err.value)


def test_load_params_rejects_a_file_that_is_not_a_mapping(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping") as err:
        load_params(path)
    assert str(path) in str(err.value)
