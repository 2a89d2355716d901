"""Load ``params.yaml`` into one typed, validated :class:`Params` object, and resolve project paths.

Every knob of the pipeline lives in ``params.yaml``. :func:`load_params` reads it once and checks every
value; a wrong value fails at once with a :class:`ParamsError` that names the key to fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cba import schema

__all__ = [
    "AbTestParams",
    "EVENT_LOG_COLUMNS",
    "BusinessParams",
    "ChurnParams",
    "CleanParams",
    "DataParams",
    "EdaParams",
    "ElasticsearchParams",
    "EngineParams",
    "FaultRates",
    "FeaturesParams",
    "GenerateParams",
    "IngestParams",
    "KafkaParams",
    "KibanaParams",
    "Params",
    "ParamsError",
    "Paths",
    "ReportParams",
    "SearchParams",
    "SurvivalParams",
    "load_params",
    "params_from_dict",
]


class ParamsError(ValueError):
    """A value in ``params.yaml`` is missing, unknown or out of range; the message names the key."""


def _rate() -> Any:
    return field(metadata={"min": 0.0, "max": 1.0})


def _positive() -> Any:
    return field(metadata={"min": 1})


@dataclass(frozen=True)
class FaultRates:
    """Data-quality faults the generator injects, each as a share of rows."""

    duplicate_rate: float = _rate()
    near_duplicate_rate: float = _rate()
    missing_rate: float = _rate()
    bad_timestamp_rate: float = _rate()
    label_inconsistency_rate: float = _rate()
    mixed_timezone_rate: float = _rate()


@dataclass(frozen=True)
class GenerateParams:
    """Size, time window, churn level and faults of the synthetic data."""

    num_customers: int = _positive()
    num_events: int = _positive()
    start_date: dt.date
    end_date: dt.date
    churn_rate: float = field(metadata={"min": 0.01, "max": 0.99})
    faults: FaultRates

    def check(self, prefix: str) -> None:
        """Reject a window that ends before it starts."""
        if self.end_date <= self.start_date:
            raise ParamsError(
                f"{prefix}.end_date ({self.end_date}) must be after {prefix}.start_date ({self.start_date})"
            )


EVENT_LOG_COLUMNS = (
    "customer_id",
    "timestamp",
    "event_type",
    "amount",
    "session_id",
    "product_id",
    "category",
    "device",
    "order_id",
)
"""Columns an own event log can map (``data.columns``); the first two are required."""


@dataclass(frozen=True)
class DataParams:
    """Which source feeds the pipeline, where it lives, and how to read it."""

    source: Literal["synthetic", "kaggle", "events"]
    path: str
    sheet: str
    columns: dict[str, str]
    event_types: dict[str, list[str]]
    session_timeout_minutes: int = _positive()
    timezone: str

    def check(self, prefix: str) -> None:
        """Check the column and event-name mappings and the time zone."""
        unknown = sorted(set(self.columns) - set(EVENT_LOG_COLUMNS))
        if unknown:
            raise ParamsError(
                f"{prefix}.columns.{unknown[0]} is not a mappable column; use {list(EVENT_LOG_COLUMNS)}"
            )
        if self.source == "events":
            for required in EVENT_LOG_COLUMNS[:2]:
                if required not in self.columns:
                    raise ParamsError(
                        f"{prefix}.columns.{required} is required when {prefix}.source is events"
                    )
        unknown = sorted(set(self.event_types) - set(schema.EVENT_TYPES))
        if unknown:
            raise ParamsError(
                f"{prefix}.event_types.{unknown[0]} is not an event type; use {list(schema.EVENT_TYPES)}"
            )
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ParamsError(f"{prefix}.timezone {self.timezone!r} is not an IANA time zone") from None


@dataclass(frozen=True)
class IngestParams:
    """How raw data reaches ``datasets/interim``: files (batch) or a bounded read of a Kafka topic."""

    mode: Literal["batch", "kafka"]


@dataclass(frozen=True)
class KafkaParams:
    """Where the event stream lives and how to reach it; the SASL password comes from the environment."""

    bootstrap_servers: str
    topic: str
    partitions: int = _positive()
    replication_factor: int = _positive()
    group: str
    session_timeout_ms: int = field(metadata={"min": 1000})
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None
    sasl_username: str | None
    sasl_password_env: str
    ssl_cafile: str | None


@dataclass(frozen=True)
class ElasticsearchParams:
    """The Elasticsearch cluster events and churn scores are indexed into (``url`` null: not configured)."""

    url: str | None
    verify_certs: bool
    ca_certs: str | None
    api_key_env: str
    compatibility: Literal[8, 9, "json"] | None


@dataclass(frozen=True)
class KibanaParams:
    """The Kibana the dashboards are published to and the book links to (``url`` null: not configured)."""

    url: str | None
    api_key_env: str


@dataclass(frozen=True)
class EngineParams:
    """Where the ibis expressions over events run."""

    name: Literal["duckdb", "spark"]
    spark_master: str


@dataclass(frozen=True)
class EdaParams:
    """Knobs of the exploratory analysis."""

    top_n: int = _positive()
    conversion_window_minutes: int = _positive()
    min_views: int = _positive()


@dataclass(frozen=True)
class CleanParams:
    """Rules of the cleaning stage."""

    earliest_timestamp: dt.date
    latest_timestamp: dt.date

    def check(self, prefix: str) -> None:
        """Reject a validity window that ends before it starts."""
        if self.latest_timestamp <= self.earliest_timestamp:
            raise ParamsError(
                f"{prefix}.latest_timestamp ({self.latest_timestamp}) must be after "
                f"{prefix}.earliest_timestamp ({self.earliest_timestamp})"
            )


@dataclass(frozen=True)
class SearchParams:
    """The bounded hyperparameter search of every churn model."""

    budget: int = _positive()
    folds: int = field(metadata={"min": 2})


@dataclass(frozen=True)
class BusinessParams:
    """The retention campaign whose expected profit sets the decision threshold."""

    contact_cost: float = field(metadata={"min": 0.0})
    retained_value: float = field(metadata={"min": 0.0})
    offer_success_rate: float = _rate()
    high_value_quantile: float = field(metadata={"min": 0.01, "max": 0.99})


@dataclass(frozen=True)
class FeaturesParams:
    """Customer features beyond the label's own settings."""

    affinity_dimensions: int = _positive()


@dataclass(frozen=True)
class ChurnParams:
    """Churn label definition and model training."""

    horizon_days: int = _positive()
    cutoff: dt.date | None
    training_cutoffs: int = _positive()
    test_size: float = field(metadata={"min": 0.05, "max": 0.95})
    search: SearchParams
    business: BusinessParams


@dataclass(frozen=True)
class SurvivalParams:
    """Survival analysis: Kaplan-Meier curves per segment, log-rank tests, a Cox model."""

    segment: str
    other_segments: list[str]
    covariates: list[str]
    penalizer: float = field(metadata={"min": 0.0})
    test_share: float = field(metadata={"min": 0.05, "max": 0.95})
    significance: float = field(metadata={"min": 0.0, "max": 1.0})

    def check(self, prefix: str) -> None:
        """Segments and covariates are lists of attribute names."""
        for name in ("other_segments", "covariates"):
            values = getattr(self, name)
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise ParamsError(f"{prefix}.{name} must be a list of attribute names, got {values!r}")


@dataclass(frozen=True)
class AbTestParams:
    """The A/B test proposed to verify each recommendation: error rates and the effect to detect."""

    alpha: float = field(metadata={"min": 0.001, "max": 0.5})
    power: float = field(metadata={"min": 0.5, "max": 0.999})
    minimum_effect: float = field(metadata={"min": 0.01, "max": 0.9})


@dataclass(frozen=True)
class ReportParams:
    """The book: the revision "What changed" compares with, and the A/B tests it proposes."""

    compare_to: str | None
    currency: str
    ab_test: AbTestParams


@dataclass(frozen=True)
class Params:
    """Every knob of the pipeline, as read from ``params.yaml``."""

    seed: int = field(metadata={"min": 0})
    data: DataParams
    generate: GenerateParams
    ingest: IngestParams
    kafka: KafkaParams
    elasticsearch: ElasticsearchParams
    kibana: KibanaParams
    engine: EngineParams
    eda: EdaParams
    clean: CleanParams
    features: FeaturesParams
    churn: ChurnParams
    survival: SurvivalParams
    report: ReportParams

    def check(self, prefix: str) -> None:
        """Reject a Kafka ingest of a source without events (the topic carries events only)."""
        if self.ingest.mode == "kafka" and self.data.source == "kaggle":
            raise ParamsError(
                "ingest.mode kafka reads events from the topic, but data.source kaggle has no events; "
                "use ingest.mode batch"
            )


@dataclass(frozen=True)
class Paths:
    """Where every stage reads and writes, relative to the project root."""

    root: Path

    @property
    def raw(self) -> Path:  # noqa: D102
        return self.root / "datasets" / "raw"

    @property
    def interim(self) -> Path:  # noqa: D102
        return self.root / "datasets" / "interim"

    @property
    def landed(self) -> Path:
        """Raw tables as the source gave them, in Parquet."""
        return self.interim / "landed"

    @property
    def rejected(self) -> Path:
        """Rows the cleaning rules rejected, with the rule."""
        return self.interim / "rejected"

    @property
    def processed(self) -> Path:
        """Clean ``events.parquet`` (when the source has events) and ``customers.parquet``."""
        return self.root / "datasets" / "processed"

    @property
    def features(self) -> Path:
        """One row per customer and cutoff: features and the churn label."""
        return self.root / "datasets" / "features" / "customers.parquet"

    @property
    def current_features(self) -> Path:
        """One row per customer: features at the last event, unlabelled (the customers to score)."""
        return self.root / "datasets" / "features" / "current.parquet"

    @property
    def scores(self) -> Path:
        """Per-customer predictions: churn scores and survival times."""
        return self.root / "datasets" / "scores"

    @property
    def metrics(self) -> Path:  # noqa: D102
        return self.root / "metrics"

    @property
    def plots(self) -> Path:  # noqa: D102
        return self.root / "plots"

    @property
    def models(self) -> Path:  # noqa: D102
        return self.root / "models"

    @property
    def chapters(self) -> Path:
        """Executed stage notebooks, the book's chapters."""
        return self.root / "report" / "chapters"

    @property
    def churn_model(self) -> Path:
        """The fitted churn model and its metadata."""
        return self.models / "churn.joblib"

    @property
    def generated(self) -> Path:
        """The Markdown the book's chapters include, computed from the pipeline's outputs."""
        return self.root / "report" / "_generated"


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return params_from_dict(raw)
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from None


def params_from_dict(raw: dict[str, Any]) -> Params:
    """Build :class:`Params` from a plain mapping (as parsed from YAML), validating every key."""
    return _build(Params, raw, "")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix or 'params'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ParamsError(f"unknown key {_key(prefix, unknown[0])!r}")
    values = {}
    for f in dataclasses.fields(cls):
        key = _key(prefix, f.name)
        if f.name not in raw:
            raise ParamsError(f"missing key {key!r}")
        values[f.name] = _coerce(hints[f.name], raw[f.name], key, f.metadata)
    obj = cls(**values)
    if hasattr(obj, "check"):
        obj.check(prefix)
    return obj


def _coerce(hint: Any, value: Any, key: str, limits: typing.Mapping[str, Any]) -> Any:
    optional = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if type(None) in optional:
        if value is None:
            return None
        hint = next(h for h in optional if h is not type(None))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ParamsError(f"{key} must be one of {list(choices)}, got {value!r}")
        return value
    if typing.get_origin(hint) is dict:
        return _mapping(typing.get_args(hint)[1], value, key)
    if hint is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ParamsError(f"{key} must be a date (YYYY-MM-DD), got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParamsError(f"{key} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamsError(f"{key} must be a number, got {value!r}")
        value = float(value)
    if hint is bool and not isinstance(value, bool):
        raise ParamsError(f"{key} must be true or false, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ParamsError(f"{key} must be a string, got {value!r}")
    if "min" in limits and value < limits["min"]:
        raise ParamsError(f"{key} must be >= {limits['min']}, got {value!r}")
    if "max" in limits and value > limits["max"]:
        raise ParamsError(f"{key} must be <= {limits['max']}, got {value!r}")
    return value


def _mapping(value_hint: Any, value: Any, key: str) -> dict:
    """A mapping of text keys to text (or lists of text); ``None`` (an empty YAML section) is empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"{key} must be a mapping, got {value!r}")
    wants_list = typing.get_origin(value_hint) is list
    for name, item in value.items():
        items = item if wants_list and isinstance(item, list) else [item]
        if wants_list and not isinstance(item, list) or not all(isinstance(i, str) for i in items):
            expected = "a list of names" if wants_list else "a column name"
            raise ParamsError(f"{key}.{name} must be {expected}, got {item!r}")
    return dict(value)


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
