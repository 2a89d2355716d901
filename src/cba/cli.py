"""The ``cba`` command: thin wrappers that load params, call the library and save."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
import yaml
from papermill.exceptions import PapermillExecutionError

from cba import dashboards as kibana
from cba import generate as generator
from cba import notebooks, stream
from cba import report as book
from cba.config import ElasticsearchParams, ParamsError, Paths, load_params

app = typer.Typer(help="Customer behaviour analysis: data, models and the report.", no_args_is_help=True)

ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml to read")]


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="folder to write the raw tables to")] = Path(
        "datasets/raw/synthetic"
    ),
    num_customers: Annotated[int | None, typer.Option(help="overrides generate.num_customers")] = None,
    num_events: Annotated[int | None, typer.Option(help="overrides generate.num_events")] = None,
    seed: Annotated[int | None, typer.Option(help="overrides seed")] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Generate synthetic customers, sessions, events and orders."""
    loaded = _load(params)
    overrides = {"num_customers": num_customers, "num_events": num_events}
    for key, value in overrides.items():
        if value is not None and value < 1:
            _fail(f"--{key.replace('_', '-')} must be >= 1, got {value}")
    if seed is not None and seed < 0:
        _fail(f"--seed must be >= 0, got {seed}")
    settings = loaded.generate.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    data = generator.generate(settings, loaded.seed if seed is None else seed)
    generator.write(data, out)
    typer.echo(
        f"wrote {data.customers.num_rows:,} customers, {data.sessions.num_rows:,} sessions, "
        f"{data.events.num_rows:,} events and {data.orders.num_rows:,} orders to {out}"
    )


@app.command()
def stage(
    name: Annotated[str, typer.Argument(help=f"one of {', '.join(notebooks.STAGES)}")],
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Execute a stage notebook with papermill into report/chapters/."""
    if name not in notebooks.STAGES:
        _fail(f"unknown stage {name!r}; expected one of {', '.join(notebooks.STAGES)}")
    _load(params)
    try:
        notebooks.run_stage(name, yaml.safe_load(params.read_text()), Path.cwd())
    except PapermillExecutionError as err:
        typer.echo(f"error: stage {name} failed: {err.ename}: {err.evalue}", err=True)
        typer.echo(f"(the executed notebook with the full traceback: report/chapters/{name}.ipynb)", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(notebooks.stage_summary(name, Path.cwd()))


@app.command()
def report(params: ParamsOption = Path("params.yaml")) -> None:
    """Write the computed summary and version stamp, then render the book."""
    _load(params)
    root = Path.cwd()
    book.write_generated(root, yaml.safe_load(params.read_text()))
    output = book.render_book(root)
    pages = sorted(output.glob("*.html"))
    pdfs = [pdf.name for pdf in output.glob("*.pdf")]
    typer.echo(
        f"report: {len(pages)} pages in {output.relative_to(root)}/"
        + (f" and {', '.join(pdfs)}" if pdfs else " (no PDF)")
    )


@app.command()
def predict(
    input_path: Annotated[Path, typer.Option("--input", help="customers to score (.parquet or .csv)")],
    output: Annotated[Path, typer.Option(help="where to write the scores (.parquet or .csv)")],
    model: Annotated[Path, typer.Option(help="a fitted churn model")] = Path("models/churn.joblib"),
    next_purchase_model: Annotated[
        Path | None,
        typer.Option(
            "--next-purchase",
            help="also score the probability of a purchase within next_purchase.window_days with this "
            "fitted next-purchase model (models/next_purchase.joblib)",
        ),
    ] = None,
) -> None:
    """Score customers: the source's own customer_id, churn_probability and risk_segment.

    With ``--next-purchase``, also each customer's next_purchase_probability.
    """
    import joblib

    from cba import churn, next_purchase, sources

    models = [
        (model, "--model"),
        *([(next_purchase_model, "--next-purchase")] if next_purchase_model else []),
    ]
    for path, option in (*models, (input_path, "--input")):
        if not path.is_file():
            _fail(f"{option} {path}: file not found")
    if output.suffix not in (".parquet", ".csv"):
        _fail(f"--output {output}: expected a .parquet or .csv file name")
    try:
        reader = pd.read_parquet if input_path.suffix == ".parquet" else pd.read_csv
        customers = reader(input_path)
        scores = churn.predict(joblib.load(model), customers, str(input_path))
        scores = scores[["customer_id", "churn_probability", "risk_segment"]]
        if next_purchase_model is not None:
            fitted = joblib.load(next_purchase_model)
            if "skipped" in fitted:
                _fail(f"--next-purchase {next_purchase_model}: no model was fitted: {fitted['skipped']}")
            buys = next_purchase.predict(fitted, customers, str(input_path))
            scores["next_purchase_probability"] = buys["next_purchase_probability"].to_numpy()
        scores = sources.with_original_ids(scores, Paths(Path.cwd()).landed)
    except (churn.MissingFeaturesError, ValueError, OSError) as err:
        _fail(str(err))
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".parquet":
        scores.to_parquet(output, index=False)
    else:
        scores.to_csv(output, index=False)
    typer.echo(f"scored {len(scores):,} customers -> {output}")


@app.command("churn-splits")
def churn_splits(
    repeats: Annotated[
        int, typer.Option(help="repetitions of the grouped cross-validation, seeds seed, seed + 1, ...")
    ] = 1,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Train and test the churn models on every grouped fold of the features table, REPEATS times.

    The folds are 1 / churn.test_size, so every customer is tested once per repetition; shows how much
    the test figures move with the split. The first fold of the first repetition is the churn stage's own.
    """
    from cba import splits as resplit

    loaded = _load(params)
    if repeats < 1:
        _fail(f"--repeats must be >= 1, got {repeats}")
    path = Paths(Path.cwd()).features
    if not path.is_file():
        _fail(f"{path}: no features table; build it first with `dvc repro features`")
    table = resplit.churn_over_splits(pd.read_parquet(path), loaded.churn, loaded.seed, repeats)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
        typer.echo(table.to_string(index=False))
        typer.echo(f"\nover {len(table)} held-out folds:")
        typer.echo(resplit.spread(table).to_string())


stream_app = typer.Typer(help="Stream events through Kafka into the Parquet landing and Elasticsearch.")
dashboards_app = typer.Typer(help="Kibana dashboards and Elasticsearch index templates.")
scores_app = typer.Typer(help="Churn scores in Elasticsearch.")
app.add_typer(stream_app, name="stream", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards", no_args_is_help=True)
app.add_typer(scores_app, name="scores", no_args_is_help=True)

BootstrapOption = Annotated[
    str | None, typer.Option("--bootstrap-servers", help="HOST:PORT[,...]; default kafka.bootstrap_servers")
]
TopicOption = Annotated[str | None, typer.Option(help="default kafka.topic")]
EsUrlOption = Annotated[str | None, typer.Option("--es-url", help="default elasticsearch.url")]
EsCompatibilityOption = Annotated[
    str | None,
    typer.Option(
        "--es-compatibility",
        metavar="8|9|json",
        help="media type of every Elasticsearch request: compatible-with 8 or 9, or plain json; "
        "default elasticsearch.compatibility",
    ),
]


@stream_app.command("produce")
def stream_produce(
    input: Annotated[Path, typer.Option("--input", help="events: Parquet or CSV, a file or a folder")],
    bootstrap_servers: BootstrapOption = None,
    topic: TopicOption = None,
    rate: Annotated[float | None, typer.Option(min=0.001, help="events per second; default no limit")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="send only the first N events")] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Send events to a Kafka topic (created when missing), keyed by customer id."""
    loaded = _load(params)
    topic = topic or loaded.kafka.topic
    try:
        config = stream.kafka_config(loaded.kafka, bootstrap_servers)
        events = stream.read_events(input)
    except (stream.SettingsError, stream.ProduceError, ValueError) as err:
        _fail(str(err))
    events = events if limit is None else events.slice(0, limit)
    if stream.ensure_topic(config, topic, loaded.kafka.partitions, loaded.kafka.replication_factor):
        typer.echo(f"created topic {topic} with {loaded.kafka.partitions} partitions")
    with typer.progressbar(length=events.num_rows, label=f"sending to {topic}", file=sys.stderr) as bar:
        sent = stream.produce(events, config, topic, rate=rate, on_sent=bar.update)
    typer.echo(f"sent {sent:,} events to {topic}, every one acknowledged")


@stream_app.command("consume")
def stream_consume(
    sink: Annotated[list[str], typer.Option(help="parquet and/or elasticsearch; repeat for both")],
    bootstrap_servers: BootstrapOption = None,
    topic: TopicOption = None,
    group: Annotated[str | None, typer.Option(help="consumer group; default kafka.group")] = None,
    out: Annotated[Path | None, typer.Option(help="parquet sink: folder of the landed parts")] = None,
    es_url: EsUrlOption = None,
    es_compatibility: EsCompatibilityOption = None,
    index: Annotated[str, typer.Option(help="elasticsearch sink: index")] = kibana.EVENTS_INDEX,
    failures: Annotated[Path, typer.Option(help="elasticsearch sink: rejected documents")] = Path(
        "es-failures.jsonl"
    ),
    max_messages: Annotated[int | None, typer.Option(min=1, help="stop after N messages")] = None,
    idle_timeout: Annotated[float | None, typer.Option(min=0.1, help="stop after S idle seconds")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="messages written and committed together")] = 20_000,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Consume events into the sinks; offsets are committed once the sinks hold the batch."""
    loaded = _load(params)
    unknown = sorted(set(sink) - {"parquet", "elasticsearch"})
    if unknown:
        _fail(f"--sink {unknown[0]!r} is not a sink; use parquet or elasticsearch")
    if "parquet" in sink and out is None:
        _fail("--sink parquet needs --out DIR")
    es_url = es_url or loaded.elasticsearch.url
    if "elasticsearch" in sink and not es_url:
        _fail("--sink elasticsearch needs --es-url, or elasticsearch.url in params.yaml")
    es_settings = _es_settings(loaded.elasticsearch, es_compatibility)
    try:
        config = stream.kafka_config(loaded.kafka, bootstrap_servers)
        sinks = []
        if "parquet" in sink:
            sinks.append(stream.ParquetSink(out))
        if "elasticsearch" in sink:
            client = stream.elasticsearch_client(es_url, es_settings)
            sinks.append(stream.ElasticsearchSink(client, index, failures))
    except stream.SettingsError as err:
        _fail(str(err))
    topic = topic or loaded.kafka.topic
    report = stream.consume(
        config,
        topic,
        group or loaded.kafka.group,
        sinks,
        max_messages=max_messages,
        idle_timeout=idle_timeout,
        batch_size=batch_size,
        session_timeout_ms=loaded.kafka.session_timeout_ms,
    )
    typer.echo(
        f"consumed {report.consumed:,} messages from {topic} ({report.stopped_by}): {report.valid:,} events, "
        f"{report.dead_lettered:,} malformed to {stream.dead_letter_topic(topic)}"
    )
    for landed in sinks:
        if isinstance(landed, stream.ElasticsearchSink):
            typer.echo(
                f"elasticsearch: {landed.report.indexed:,} indexed into {index}, "
                f"{landed.report.failed:,} rejected (kept in {failures})"
            )
        else:
            typer.echo(f"parquet: {landed.landed:,} distinct events in {out}")


@dashboards_app.command("build")
def dashboards_build(
    out: Annotated[Path, typer.Option(help="folder of kibana/*.ndjson and elasticsearch/*.json")] = Path(
        "dashboards"
    ),
) -> None:
    """Write the Kibana saved objects and the Elasticsearch index templates."""
    written = kibana.build(out)
    typer.echo(f"wrote {len(written)} files to {out}")


@dashboards_app.command("publish")
def dashboards_publish(
    es_url: EsUrlOption = None,
    es_compatibility: EsCompatibilityOption = None,
    kibana_url: Annotated[str | None, typer.Option("--kibana-url", help="default kibana.url")] = None,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Install the index templates and import the dashboards into Kibana."""
    loaded = _load(params)
    es_url, kibana_url = es_url or loaded.elasticsearch.url, kibana_url or loaded.kibana.url
    if not es_url or not kibana_url:
        _fail("publish needs --es-url and --kibana-url, or elasticsearch.url and kibana.url in params.yaml")
    es_settings = _es_settings(loaded.elasticsearch, es_compatibility)
    try:
        api_key = stream.connect.secret(loaded.kibana.api_key_env, "kibana.api_key_env", False)
        kibana.install_templates(stream.elasticsearch_client(es_url, es_settings))
        typer.echo(f"installed {len(kibana.INDEX_TEMPLATES)} index templates into {es_url}")
        imported = kibana.import_dashboards(kibana_url, api_key)
    except (stream.SettingsError, kibana.PublishError) as err:
        _fail(str(err))
    typer.echo(f"imported {imported} saved objects into {kibana_url}")
    for dashboard in kibana.DASHBOARDS:
        typer.echo(f"{dashboard.title}: {kibana.dashboard_url(kibana_url, dashboard.id)}")


@scores_app.command("publish")
def scores_publish(
    scores: Annotated[Path, typer.Option(help="churn scores (Parquet)")] = Path(
        "datasets/scores/churn_scores.parquet"
    ),
    es_url: EsUrlOption = None,
    es_compatibility: EsCompatibilityOption = None,
    next_purchase: Annotated[
        Path, typer.Option(help="next-purchase scores (Parquet), joined when the file exists")
    ] = Path("datasets/scores/next_purchase.parquet"),
    failures: Annotated[Path, typer.Option(help="rejected documents (JSON lines)")] = Path(
        "datasets/scores/es-failures.jsonl"
    ),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Index the churn scores (with CLV, P(alive), next purchase) into Elasticsearch, when a URL is set."""
    loaded = _load(params)
    es_url = es_url or loaded.elasticsearch.url
    if not es_url:
        typer.echo("elasticsearch.url is not configured in params.yaml: churn scores not published")
        return
    es_settings = _es_settings(loaded.elasticsearch, es_compatibility)
    try:
        client = stream.elasticsearch_client(es_url, es_settings)
        buys = pd.read_parquet(next_purchase) if next_purchase.is_file() else None
        report = stream.index_scores(
            client, pd.read_parquet(scores), stream.FailureLog(failures), next_purchase=buys
        )
    except stream.SettingsError as err:
        _fail(str(err))
    except (stream.BulkError, ValueError, FileNotFoundError) as err:
        _fail(f"{scores}: {err}")
    typer.echo(
        f"indexed {report.indexed:,} churn scores into {kibana.SCORES_INDEX}; {report.failed:,} rejected"
        + (f" (kept in {failures})" if report.failed else "")
    )


def _es_settings(settings: ElasticsearchParams, compatibility: str | None) -> ElasticsearchParams:
    """``settings`` with ``--es-compatibility`` (8, 9 or json) in place of ``elasticsearch.compatibility``."""
    if compatibility is None:
        return settings
    choices = {"8": 8, "9": 9, "json": "json"}
    if compatibility not in choices:
        _fail(f"--es-compatibility must be one of 8, 9 or json, got {compatibility!r}")
    return settings.model_copy(update={"compatibility": choices[compatibility]})


def _load(path: Path):
    try:
        return load_params(path)
    except ParamsError as err:
        _fail(str(err))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)
