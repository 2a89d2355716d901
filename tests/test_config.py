import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

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
    assert all(0.0 <= rate <= 1.0 for rate in params.generate.faults.model_dump().values())
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
        ("clean.latest_timestamp", "2023-12-31 10:00", "clean.latest_timestamp"),
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
        "clean-window-not-a-date",
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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"generate.end_date": "2023-06-01"},
            "generate.end_date (2023-06-01) must be after generate.start_date (2024-01-01)",
        ),
        (
            {"clean.earliest_timestamp": "2024-01-01", "clean.latest_timestamp": "2023-12-31"},
            "clean.latest_timestamp (2023-12-31) must be after clean.earliest_timestamp (2024-01-01)",
        ),
        (
            {"data.source": "events", "data.columns": {"timestamp": "InvoiceDate"}},
            "data.columns.customer_id is required when data.source is events",
        ),
        (
            {"data.source": "kaggle", "ingest.mode": "kafka"},
            "ingest.mode kafka reads events from the topic, but data.source kaggle has no events",
        ),
        ({"data.columns": {"price": "Total"}}, "data.columns.price is not a mappable column"),
        ({"data.event_types": {"refund": ["return"]}}, "data.event_types.refund is not an event type"),
        (
            {"survival.covariates": "Complain"},
            "survival.covariates must be a list of attribute names, got 'Complain'",
        ),
        (
            {"forecast.windows": 2, "forecast.test_windows": 2},
            "forecast.test_windows (2) must be fewer than forecast.windows (2)",
        ),
    ],
    ids=[
        "generate-window",
        "clean-window",
        "events-without-customer-id",
        "kafka-ingest-of-kaggle",
        "unmappable-column",
        "unknown-event-type",
        "covariates-not-a-list",
        "no-forecast-window-left-to-choose-on",
    ],
)
def test_broken_rule_across_keys_names_every_key_in_dotted_form(changes, message):
    raw = raw_params()
    for key, value in changes.items():
        raw = with_value(raw, key, value)
    with pytest.raises(ParamsError) as err:
        params_from_dict(raw)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("churn.search.folds", 1, "churn.search.folds must be >= 2, got 1"),
        (
            "churn.business.high_value_quantile",
            1.0,
            "churn.business.high_value_quantile must be <= 0.99, got 1.0",
        ),
        ("report.ab_test.power", "high", "report.ab_test.power must be a number, got 'high'"),
        ("churn.search.budget", DELETE, "missing key 'churn.search.budget'"),
        ("churn.search.strategy", "grid", "unknown key 'churn.search.strategy'"),
        (
            "elasticsearch.compatibility",
            7,
            "elasticsearch.compatibility must be one of 8, 9 or 'json', got 7",
        ),
        (
            "elasticsearch.compatibility",
            "8",
            "elasticsearch.compatibility must be one of 8, 9 or 'json', got '8'",
        ),
        ("data.columns", {"customer_id": 3}, "data.columns.customer_id must be a string, got 3"),
    ],
    ids=[
        "bound-three-levels-deep",
        "upper-bound",
        "type-three-levels-deep",
        "missing-three-levels-deep",
        "unknown-three-levels-deep",
        "compatibility-unknown-major",
        "compatibility-as-text",
        "mapping-entry",
    ],
)
def test_error_names_the_nested_key(key, value, message):
    with pytest.raises(ParamsError) as err:
        params_from_dict(with_value(raw_params(), key, value))
    assert str(err.value) == message


def test_every_wrong_key_is_named_at_once():
    raw = with_value(raw_params(), "eda.top_n", 0)
    raw = with_value(raw, "report.currency", None)
    with pytest.raises(ParamsError) as err:
        params_from_dict(raw)
    assert str(err.value) == "eda.top_n must be >= 1, got 0; report.currency must be a string, got None"


@pytest.mark.parametrize("compatibility", [None, 8, 9, "json"])
def test_elasticsearch_compatibility_accepts_each_media_type(compatibility):
    raw = with_value(raw_params(), "elasticsearch.compatibility", compatibility)
    assert params_from_dict(raw).elasticsearch.compatibility == compatibility


def test_an_empty_mapping_section_reads_as_empty():
    raw = with_value(raw_params(), "data.event_types", None)
    assert params_from_dict(raw).data.event_types == {}


def test_params_are_read_only_and_copies_are_explicit(params):
    with pytest.raises(ValidationError, match="frozen"):
        params.churn.search.folds = 5
    copy_ = params.churn.search.model_copy(update={"folds": 5})
    assert (copy_.folds, params.churn.search.folds) == (5, 3)
