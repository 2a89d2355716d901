"""The ``cba`` command: thin wrappers that load params, call the library and save."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
import yaml
from papermill.exceptions import PapermillExecutionError

from cba import generate as generator
from cba import notebooks
from cba import report as book
from cba.config import ParamsError, load_params

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
    settings = dataclasses.replace(loaded.generate, **{k: v for k, v in overrides.items() if v is not None})
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
        output = notebooks.run_stage(name, yaml.safe_load(params.read_text()), Path.cwd())
    except PapermillExecutionError as err:
        typer.echo(f"error: stage {name} failed: {err.ename}: {err.evalue}", err=True)
        typer.echo(f"(the executed notebook with the full traceback: report/chapters/{name}.ipynb)", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"executed stages/{name}.ipynb -> {output}")


@app.command()
def report(params: ParamsOption = Path("params.yaml")) -> None:
    """Write the computed summary and version stamp, then render the book."""
    _load(params)
    root = Path.cwd()
    book.write_generated(root, yaml.safe_load(params.read_text()))
    output = book.render_book(root)
    typer.echo(f"book: {output}")


def _load(path: Path):
    try:
        return load_params(path)
    except ParamsError as err:
        _fail(str(err))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)
