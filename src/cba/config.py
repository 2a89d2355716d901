"""Load ``params.yaml`` into one typed, validated :class:`Params` object, and resolve project paths.

Every knob of the pipeline lives in ``params.yaml``. :func:`load_params` reads it once and checks every
value with pydantic; a wrong value fails at once with a :class:`ParamsError` that names the key to fix.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from cba import schema

__all__ = [
    "AbTestParams",
    "EVENT_LOG_COLUMNS",
    "BusinessParams",
    "ChurnParams",
    "CleanParams",
    "ClvParams",
    "ForecastParams",
    "NearDuplicateParams",
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
    "NextPurchaseParams",
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


class _Rule(ValueError):
    """A rule across keys is broken; the message writes keys in backticks, relative to its section."""


def _iso_date(value: Any) -> Any:
    """A ``YYYY-MM-DD`` string as a date; anything else is left for the strict date check."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return value


def _empty_if_none(value: Any) -> Any:
    """An empty YAML section (``None``) as an empty mapping."""
    return {} if value is None else value


Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0.05, le=0.95)]
Date = Annotated[dt.date, BeforeValidator(_iso_date)]


class _Section(BaseModel):
    """A section of ``params.yaml``: every key required, no unknown key, values of the exact type, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FaultRates(_Section):
    """Data-quality faults the generator injects, each as a share of rows."""

    duplicate_rate: Rate
    near_duplicate_rate: Rate
    missing_rate: Rate
    bad_timestamp_rate: Rate
    label_inconsistency_rate: Rate
    mixed_timezone_rate: Rate


class GenerateParams(_Section):
    """Size, time window, churn level and faults of the synthetic data."""

    num_customers: Count
    num_events: Count
    start_date: Date
    end_date: Date
    churn_rate: float = Field(ge=0.01, le=0.99)
    faults: FaultRates

    @model_validator(mode="after")
    def _window_in_order(self) -> GenerateParams:
        if self.end_date <= self.start_date:
            raise _Rule(f"`end_date` ({self.end_date}) must be after `start_date` ({self.start_date})")
        return self


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


class DataParams(_Section):
    """Which source feeds the pipeline, where it lives, and how to read it."""

    source: Literal["synthetic", "kaggle", "events"]
    path: str
    sheet: str
    columns: Annotated[dict[str, str], BeforeValidator(_empty_if_none)]
    event_types: Annotated[dict[str, list[str]], BeforeValidator(_empty_if_none)]
    session_timeout_minutes: Count
    timezone: str
    snapshot_attributes: list[str] | None = None
    snapshot_date: Date | None = None

    @field_validator("snapshot_attributes")
    @classmethod
    def _customer_attributes(cls, names: list[str] | None) -> list[str] | None:
        known = [c.name for c in schema.KAGGLE_ATTRIBUTES]
        unknown = sorted(set(names or []) - set(known))
        if unknown:
            raise _Rule(f"`{unknown[0]}` is not a customer attribute; use names from {known}")
        return names

    @field_validator("columns")
    @classmethod
    def _mappable_columns(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(EVENT_LOG_COLUMNS))
        if unknown:
            raise _Rule(f"`{unknown[0]}` is not a mappable column; use {list(EVENT_LOG_COLUMNS)}")
        return columns

    @field_validator("event_types")
    @classmethod
    def _known_event_types(cls, event_types: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(event_types) - set(schema.EVENT_TYPES))
        if unknown:
            raise _Rule(f"`{unknown[0]}` is not an event type; use {list(schema.EVENT_TYPES)}")
        return event_types

    @field_validator("timezone")
    @classmethod
    def _iana_time_zone(cls, timezone: str) -> str:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{timezone!r} is not an IANA time zone") from None
        return timezone

    @model_validator(mode="after")
    def _event_log_names_its_keys(self) -> DataParams:
        if self.source == "events":
            for required in EVENT_LOG_COLUMNS[:2]:
                if required not in self.columns:
                    raise _Rule(f"`columns.{required}` is required when `source` is events")
        return self


class IngestParams(_Section):
    """How raw data reaches ``datasets/interim``: files (batch) or a bounded read of a Kafka topic."""

    mode: Literal["batch", "kafka"]


class KafkaParams(_Section):
    """Where the event stream lives and how to reach it; the SASL password comes from the environment."""

    bootstrap_servers: str
    topic: str
    partitions: Count
    replication_factor: Count
    group: str
    session_timeout_ms: int = Field(ge=1000)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None
    sasl_username: str | None
    sasl_password_env: str
    ssl_cafile: str | None


class ElasticsearchParams(_Section):
    """The Elasticsearch cluster events and churn scores are indexed into (``url`` null: not configured)."""

    url: str | None
    verify_certs: bool
    ca_certs: str | None
    api_key_env: str
    compatibility: Literal[8, 9, "json"] | None


class KibanaParams(_Section):
    """The Kibana the dashboards are published to and the book links to (``url`` null: not configured)."""

    url: str | None
    api_key_env: str


class EngineParams(_Section):
    """Where the ibis expressions over events run."""

    name: Literal["duckdb", "spark"]
    spark_master: str
    memory_limit: str | None
    temp_directory: str | None


class EdaParams(_Section):
    """Knobs of the exploratory analysis."""

    top_n: Count
    conversion_window_minutes: Count
    min_views: Count


class NearDuplicateParams(_Section):
    """How cleaning links near-duplicate customers: records that differ in at most a few attributes."""

    max_differences: int = Field(ge=0)
    max_group_size: int = Field(ge=2)


class CleanParams(_Section):
    """Rules of the cleaning stage; a null window bound is the data's own (see ``Params.event_window``)."""

    earliest_timestamp: Date | None
    latest_timestamp: Date | None
    near_duplicates: NearDuplicateParams

    @model_validator(mode="after")
    def _window_in_order(self) -> CleanParams:
        if (
            self.earliest_timestamp is not None
            and self.latest_timestamp is not None
            and self.latest_timestamp <= self.earliest_timestamp
        ):
            raise _Rule(
                f"`latest_timestamp` ({self.latest_timestamp}) must be after "
                f"`earliest_timestamp` ({self.earliest_timestamp})"
            )
        return self


class SearchParams(_Section):
    """The bounded hyperparameter search of every churn model."""

    budget: Count
    folds: int = Field(ge=2)
    max_rows: int = Field(default=100_000, ge=100)


class BusinessParams(_Section):
    """The retention campaign whose expected profit sets the decision threshold."""

    contact_cost: float = Field(ge=0.0)
    retained_value: float = Field(ge=0.0)
    offer_success_rate: Rate
    high_value_quantile: float = Field(ge=0.01, le=0.99)


class FeaturesParams(_Section):
    """Customer features beyond the label's own settings."""

    affinity_dimensions: Count


class ChurnParams(_Section):
    """Churn label definition and model training."""

    horizon_days: Count
    active_days: Count | None = None
    cutoff: Date | None
    training_cutoffs: Count
    base_rate: Literal["auto", "latest", "trend"] = "auto"
    drift_significance: Rate = 0.05
    test_size: Share
    search: SearchParams
    max_fit_rows: int = Field(default=200_000, ge=100)
    calibration_folds: int = Field(default=10, ge=2)
    business: BusinessParams

    @property
    def active_window_days(self) -> int:
        """Days before a cutoff in which a customer must have been active to be scored (``active_days``)."""
        return self.horizon_days if self.active_days is None else self.active_days


class SurvivalParams(_Section):
    """Survival analysis: Kaplan-Meier curves per segment, log-rank tests, a Cox model."""

    segment: str
    other_segments: list[str]
    covariates: list[str]
    penalizer: float = Field(ge=0.0)
    test_share: Share
    significance: Rate
    cox_max_rows: int = Field(ge=100)

    @field_validator("other_segments", "covariates", mode="before")
    @classmethod
    def _attribute_names(cls, names: Any) -> Any:
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"must be a list of attribute names, got {names!r}")
        return names


class ClvParams(_Section):
    """Customer lifetime value: the holdout that validates BG/NBD, the horizon and discount of CLV."""

    holdout_days: Count
    months: Count
    discount_rate: float = Field(ge=0.0, le=1.0)


class NextPurchaseParams(_Section):
    """Next purchase: the window after a cutoff in which a purchase counts."""

    window_days: Count


class ForecastParams(_Section):
    """Daily sales forecasts: the rolling-origin validation, its test windows and the final forecast."""

    horizon_days: Count
    windows: Count
    test_windows: Count
    final_horizon_days: Count
    season_lengths: list[Count] = Field(min_length=1)

    @model_validator(mode="after")
    def _windows_left_to_choose_on(self) -> ForecastParams:
        if self.test_windows >= self.windows:
            raise _Rule(
                f"`test_windows` ({self.test_windows}) must be fewer than `windows` ({self.windows}): "
                "the models are chosen on the windows before the test windows"
            )
        return self


class AbTestParams(_Section):
    """The A/B test proposed to verify each recommendation: error rates and the effect to detect."""

    alpha: float = Field(ge=0.001, le=0.5)
    power: float = Field(ge=0.5, le=0.999)
    minimum_effect: float = Field(ge=0.01, le=0.9)


class ReportParams(_Section):
    """The book: the revision "What changed" compares with, and the A/B tests it proposes."""

    compare_to: str | None
    currency: str
    ab_test: AbTestParams


class Params(_Section):
    """Every knob of the pipeline, as read from ``params.yaml``."""

    seed: int = Field(ge=0)
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
    clv: ClvParams
    next_purchase: NextPurchaseParams
    forecast: ForecastParams
    report: ReportParams

    @model_validator(mode="after")
    def _kafka_carries_events(self) -> Params:
        if self.ingest.mode == "kafka" and self.data.source == "kaggle":
            raise _Rule(
                "`ingest.mode` kafka reads events from the topic, but `data.source` kaggle has no events; "
                "use `ingest.mode` batch"
            )
        return self

    @property
    def event_window(self) -> tuple[dt.date | None, dt.date | None]:
        """The days events must fall in: first day, and the day after the last (``None``: no bound).

        ``clean.earliest_timestamp`` and ``clean.latest_timestamp`` when set; a null bound is the data's
        own: the generator's window (``generate.start_date`` to ``end_date``) for the synthetic source,
        whose faults write timestamps outside it on purpose, and no bound for the Kaggle file or an own log.
        """
        synthetic = self.data.source == "synthetic"
        earliest = self.clean.earliest_timestamp
        latest = self.clean.latest_timestamp
        if earliest is None and synthetic:
            earliest = self.generate.start_date
        if latest is None and synthetic:
            latest = self.generate.end_date + dt.timedelta(days=1)
        return earliest, latest


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
    def lapsed_features(self) -> Path:
        """One row per customer lapsed at a cutoff or today: the win-back group, never scored for churn."""
        return self.root / "datasets" / "features" / "lapsed.parquet"

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
    def benchmark_results(self) -> Path:
        """Speed and memory measured by ``benchmarks/*.py``, one committed JSON file per benchmark."""
        return self.root / "benchmarks" / "results"

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
    """Build :class:`Params` from a plain mapping (as parsed from YAML), validating every key.

    Raises
    ------
    ParamsError
        Naming each wrong key in dotted form (``churn.search.folds``), one problem per ``;``.
    """
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError("; ".join(_describe(error) for error in err.errors())) from None


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "date_type": "a date (YYYY-MM-DD)",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence that starts from, or names, the dotted params key."""
    key = ".".join(str(part) for part in error["loc"])
    kind, got, context = error["type"], error["input"], error.get("ctx", {})
    if kind == "missing":
        return f"missing key {key!r}"
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    if kind in _BOUNDS:
        bound = next(iter(context.values()))
        return f"{key} must be {_BOUNDS[kind]} {bound}, got {got!r}"
    if kind == "literal_error":
        return f"{key} must be one of {context['expected']}, got {got!r}"
    if kind in _EXPECTED:
        return f"{key or 'params'} must be {_EXPECTED[kind]}, got {got!r}"
    if kind == "value_error" and isinstance(context["error"], _Rule):
        return re.sub(r"`([^`]+)`", lambda marked: _dotted(key, marked[1]), str(context["error"]))
    if kind == "value_error":
        return f"{key} {context['error']}"
    return f"{key or 'params'}: {error['msg']}"


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key
