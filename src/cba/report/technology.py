"""Chapter "Technology choices": why each technology is here, what it costs, and what it measured.

Every figure comes from ``benchmarks/results/<name>.json``, which ``python benchmarks/<name>.py`` writes
(`BENCHMARKS`): the generator's rate, ingest + EDA + clean against pandas, the engines, the stream's
throughput and the whole pipeline's cost curve. A results file that is absent, or that lacks a field the
chapter reads, turns its section into one sentence naming the file and the command that writes it.

The cost curve (`cba.report.cost_curve`) is every stage's seconds and peak memory at each size
``pipeline.json`` holds, whichever sizes those are; the closing section extrapolates it to 10 and 100 times
the largest size with the measured growth exponents, and says that it is an extrapolation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cba.figures import FIGURE_CONFIG
from cba.report.cost_curve import (
    cost_curve_figure,
    duration,
    exponent_text,
    extrapolate,
    gigabytes,
    growth_exponent,
    growth_exponents,
    machine,
    pipeline_runs,
    shared_machine_note,
    size_label,
    stage_order,
    stopped_runs,
    times,
)
from cba.report.inputs import Missing, lookup
from cba.report.markdown import and_list, bullets, float_div, html_only, raw_html, table

BENCHMARKS = {
    "generate": ("python benchmarks/generate.py", "the synthetic generator against a plain-Python reference"),
    "clean_eda": ("python benchmarks/clean_eda.py", "ingest, EDA and clean on DuckDB against pandas"),
    "engines": ("python benchmarks/engines.py", "clean and features on DuckDB and on Spark"),
    "stream": ("python benchmarks/stream.py", "Kafka produce, consume and land against the raw producer"),
    "pipeline": ("python benchmarks/pipeline.py", "every stage's seconds and peak memory at growing sizes"),
}
"""Benchmark name -> (the command that writes ``benchmarks/results/<name>.json``, what it measures)."""

ENGINE_NAMES = {
    "duckdb": "DuckDB",
    "spark_local": "Spark in local mode",
    "spark_cluster": "Spark on a standalone cluster",
}
"""What a reader calls each engine ``benchmarks/engines.py`` runs."""

SCALE_FACTORS = (10, 100)
"""How many times the largest measured size the closing section extrapolates to."""

Results = Mapping[str, Mapping[str, Any]]
"""Benchmark name -> the contents of its results file (absent when the file is)."""


class IncompleteResults(ValueError):
    """A results file lacks a field the chapter reads; the message names the file, field and command."""


def read_benchmark_results(folder: Path) -> dict[str, dict[str, Any]]:
    """The results files of `BENCHMARKS` that exist in ``folder``, by benchmark name.

    Raises
    ------
    ValueError
        When a results file is not valid JSON (the message names it).
    """
    results = {}
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                results[name] = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON ({err}); re-run {BENCHMARKS[name][0]}") from err
    return results


def results_file(name: str) -> str:
    """Where benchmark ``name`` writes its results, as the book names it."""
    return f"benchmarks/results/{name}.json"


def missing_results(name: str) -> str:
    """The sentence a section shows when ``benchmarks/results/<name>.json`` does not exist."""
    return f"`{results_file(name)}` is missing: `{BENCHMARKS[name][0]}` measures it and writes the file."


def field(results: Results, name: str, path: str) -> Any:
    """The value at ``path`` (dots between keys) of results file ``name``.

    Raises
    ------
    IncompleteResults
        When the file or the field is absent.
    """
    value = lookup(results.get(name, {}), results_file(name), path)
    if isinstance(value, Missing):
        raise IncompleteResults(
            f"`{results_file(name)}` has no `{path}`: `{BENCHMARKS[name][0]}` writes it again with every "
            "field this chapter reads."
        )
    return value


# --- the chapter ----------------------------------------------------------------------------------------


def technology_markdown(results: Results) -> str:
    """The chapter: where the figures come from, one section per technology, the cost curve, and scale."""
    lines = [
        "Why the pipeline is built from these technologies, what each one costs, and what it measured on "
        "this project's own data. Every figure below is read from the results files the benchmarks write; "
        "no figure is typed in. Timings depend on the machine and on what else ran on it, so each section "
        "names the size and the machine its file records.",
        "",
        "## Where the figures come from {#sec-tech-sources}",
        "",
        *float_div("tbl-tech-sources", table(*_sources_rows(results), align="llll"), _SOURCES_CAPTION),
    ]
    for heading, label, why, cost, measured in _SECTIONS:
        lines += ["", f"## {heading} {{#{label}}}", "", why, "", f"*What it costs.* {cost}", ""]
        lines += _guarded(measured, results)
    lines += ["", "## The cost curve {#sec-tech-cost-curve}", "", *_guarded(_cost_curve, results)]
    lines += ["", "## At ten and a hundred times the size {#sec-tech-scale}", "", *_guarded(_scale, results)]
    return "\n".join(lines) + "\n"


_SOURCES_CAPTION = "The benchmarks, the files they write and what each file records."


def _sources_rows(results: Results) -> tuple[list[str], list[list[str]]]:
    header = ["Results file", "Measures", "Size", "Machine"]
    rows = []
    for name, (command, what) in BENCHMARKS.items():
        result = results.get(name)
        if result is None:
            rows.append([f"`{results_file(name)}`", what, f"missing: run `{command}`", "–"])
        else:
            rows.append([f"`{results_file(name)}`", what, _size_text(name, result), machine(result)])
    return header, rows


def _size_text(name: str, result: Mapping[str, Any]) -> str:
    if name == "pipeline":
        sizes = [f"{run['events']:,}" for run in pipeline_runs(result)]
        return f"{and_list(sizes)} events" if sizes else "no runs"
    path = {"generate": "end_to_end.events", "clean_eda": "data.events"}.get(name, "events")
    events = lookup(result, results_file(name), path)
    return str(events) if isinstance(events, Missing) else f"{events:,} events"


def engine_name(key: str) -> str:
    """What a reader calls an engine of ``engines.json`` (``spark_local`` -> ``Spark in local mode``)."""
    return ENGINE_NAMES.get(key, key.replace("_", " "))


def _guarded(section: Callable[[Results], list[str]], results: Results) -> list[str]:
    """The section's lines, or the sentence naming the results file or field it lacks."""
    try:
        return section(results)
    except IncompleteResults as err:
        return [str(err)]


def _require(results: Results, name: str) -> Mapping[str, Any]:
    if name not in results:
        raise IncompleteResults(missing_results(name))
    return results[name]


def _kafka(results: Results) -> list[str]:
    _require(results, "stream")
    events = field(results, "stream", "events")
    end_to_end = field(results, "stream", "end_to_end_events_per_s")
    raw = field(results, "stream", "raw_producer_events_per_s")
    target = field(results, "stream", "target_ratio")
    ratio = end_to_end / raw
    verdict = "meets" if ratio >= target else "misses"
    return [
        f"*Measured.* {events:,} events, sent by `cba.stream.produce` and landed in Parquet by "
        f"`cba stream consume`, went through at {end_to_end:,.0f} events/s end to end, against "
        f"{raw:,.0f} events/s for kafka-python's producer alone on the same broker: {ratio:.2f} times the "
        f"raw rate, which {verdict} the target of {target} times. The broker recorded is "
        f"{field(results, 'stream', 'broker')}, on {machine(results['stream'])}; the ratio measures the "
        "project's side (encoding, consuming, landing) more than the broker's."
        + shared_machine_note(results["stream"])
    ]


def _elasticsearch(results: Results) -> list[str]:
    return [
        "*Measured.* Nothing yet: no benchmark times indexing into Elasticsearch (the service the tests "
        "start is an OpenSearch-compatible stand-in, whose rate would say nothing about Elasticsearch), "
        "and the pipeline publishes scores only when `elasticsearch.url` is set."
    ]


def _engines(results: Results) -> list[str]:
    lines = []
    if "engines" in results:
        engines = field(results, "engines", "engines")
        duckdb = field(results, "engines", "engines.duckdb")
        rows = [
            [
                engine_name(name),
                f"{run['clean_seconds']:.1f}",
                f"{run['features_seconds']:.1f}",
                f"{run['seconds']:.1f}",
                gigabytes(run["peak_memory_mb"]),
                f"{run['seconds'] / duckdb['seconds']:.2f}",
            ]
            for name, run in engines.items()
        ]
        spark = [
            f"{engine_name(name)} took {times(run['seconds'] / duckdb['seconds'], 'DuckDB')}"
            for name, run in engines.items()
            if name != "duckdb"
        ]
        pandas_clean = field(results, "engines", "pandas_reference.clean_seconds")
        agree = field(results, "engines", "outputs_agree")
        lines += [
            f"*Measured.* Clean and features at {field(results, 'engines', 'events'):,} events "
            f"({field(results, 'engines', 'customers'):,} customers) on {machine(results['engines'])}: "
            + (f"{and_list(spark)}; " if spark else "")
            + "DuckDB's clean stage took "
            + times(duckdb["clean_seconds"] / pandas_clean, "the pandas reference")
            + f" ({duckdb['clean_seconds']:.1f} s against {pandas_clean:.1f} s). "
            + (
                "Every engine wrote the same tables."
                if agree
                else "The engines' outputs differ (see `agreement` in the results file)."
            )
            + shared_machine_note(results["engines"]),
            "",
            *float_div(
                "tbl-tech-engines",
                table(["Engine", "Clean (s)", "Features (s)", "Total (s)", "Peak memory", "× DuckDB"], rows),
                f"Clean and features per engine (`{results_file('engines')}`).",
            ),
        ]
    else:
        lines.append(missing_results("engines"))
    lines.append("")
    if "clean_eda" in results:
        cba_seconds = field(results, "clean_eda", "cba.seconds")
        pandas_seconds = field(results, "clean_eda", "pandas_reference.seconds")
        cba_stages = field(results, "clean_eda", "cba.stages_seconds")
        pandas_stages = field(results, "clean_eda", "pandas_reference.stages_seconds")
        cba_peaks = field(results, "clean_eda", "cba.stages_peak_rss_mb")
        pandas_peaks = field(results, "clean_eda", "pandas_reference.stages_peak_rss_mb")
        rows = [
            [
                stage,
                f"{seconds:.1f}",
                f"{pandas_stages[stage]:.1f}",
                gigabytes(cba_peaks[stage]),
                gigabytes(pandas_peaks[stage]),
            ]
            for stage, seconds in cba_stages.items()
        ]
        agree = field(results, "clean_eda", "outputs_agree")
        lines += [
            f"Ingest, EDA and clean at {field(results, 'clean_eda', 'data.events'):,} events, one process "
            f"per stage as `dvc repro` runs them, on {machine(results['clean_eda'])}: the project's stages "
            f"took {duration(cba_seconds)}, "
            + times(cba_seconds / pandas_seconds, "a pandas reference of the same stages")
            + f" ({duration(pandas_seconds)}), with a peak of "
            f"{gigabytes(field(results, 'clean_eda', 'cba.peak_rss_mb'))} against "
            f"{gigabytes(field(results, 'clean_eda', 'pandas_reference.peak_rss_mb'))}. "
            + ("Both sides made the same tables." if agree else "The two sides' tables differ.")
            + shared_machine_note(results["clean_eda"]),
            "",
            *float_div(
                "tbl-tech-clean-eda",
                table(["Stage", "cba (s)", "pandas (s)", "cba peak", "pandas peak"], rows),
                "Ingest, EDA and clean, the project's stages against pandas "
                f"(`{results_file('clean_eda')}`).",
            ),
        ]
    else:
        lines.append(missing_results("clean_eda"))
    return lines


def _generator(results: Results) -> list[str]:
    _require(results, "generate")
    run = field(results, "generate", "end_to_end")
    reference = field(results, "generate", "reference")
    speed = run["events_per_second"] / reference["events_per_second"]
    return [
        f"*Measured.* {run['events']:,} events for {run['customers']:,} customers drawn and written in "
        f"{duration(run['seconds'])} ({run['generate_seconds']:.1f} s drawing, {run['write_seconds']:.1f} s "
        f"writing {run['bytes_written'] / 2**20:,.0f} MB of Parquet): {run['events_per_second']:,} events/s "
        f"end to end, {speed:.1f} times the plain-Python reference's {reference['events_per_second']:,} "
        f"events/s (measured on {reference['events']:,} events), on {machine(results['generate'])}."
        + shared_machine_note(results["generate"])
    ]


def _dvc(results: Results) -> list[str]:
    pipeline = _require(results, "pipeline")
    runs = pipeline_runs(pipeline)
    if not runs:
        raise IncompleteResults(f"`{results_file('pipeline')}` holds no runs: {missing_results('pipeline')}")
    sizes = [
        f"{duration(run['seconds'])} at {run['events']:,} events"
        + (f" ({run['raw_bytes'] / 2**20:,.0f} MB of raw data)" if "raw_bytes" in run else "")
        for run in runs
    ]
    smallest = runs[0]
    quickest = min(smallest["stages"], key=lambda stage: smallest["stages"][stage]["seconds"])
    return [
        f"*Measured.* The whole pipeline, every stage as a `dvc repro` command, took {and_list(sizes)}. "
        f"The quickest stage, {quickest}, took {smallest['stages'][quickest]['seconds']:.1f} s at "
        f"{smallest['events']:,} events, DVC's own hashing and bookkeeping included: an upper bound on what "
        "DVC adds to each stage."
    ]


def _notebooks(results: Results) -> list[str]:
    pipeline = _require(results, "pipeline")
    measured = [
        f"{duration(run['stages']['report']['seconds'])} with a peak of "
        f"{gigabytes(run['stages']['report']['peak_memory_mb'])} at {run['events']:,} events"
        for run in pipeline_runs(pipeline)
        if "report" in run["stages"]
    ]
    if not measured:
        raise IncompleteResults(f"`{results_file('pipeline')}` has no run of the `report` stage.")
    return [
        f"*Measured.* The report stage (the generated chapters and the rendered book) took "
        f"{and_list(measured)}. Each stage's kernel is part of that stage's peak memory in "
        "@sec-tech-cost-curve."
    ]


def _code_versions(runs: list[dict]) -> str:
    """Which commit each size ran: one sentence, empty when no run recorded its commit."""
    commits = [run.get("commit") for run in runs]
    if not any(commits):
        return ""
    if len(set(commits)) == 1:
        return f" Every size ran the code of commit `{commits[0]}`."
    named = [
        f"{run['events']:,} events {f'commit `{commit}`' if commit else 'an unrecorded commit'}"
        for run, commit in zip(runs, commits, strict=True)
    ]
    return (
        f" The sizes ran different code ({and_list(named)}), so a change in a stage's cost between two "
        "sizes may come from the code as well as from the data."
    )


def _cost_curve(results: Results) -> list[str]:
    from plotly.offline import get_plotlyjs

    pipeline = _require(results, "pipeline")
    runs = pipeline_runs(pipeline, complete=False)
    if not runs:
        raise IncompleteResults(f"`{results_file('pipeline')}` holds no runs: {missing_results('pipeline')}")
    sizes = [run["events"] for run in runs]
    dates = sorted({run["date"] for run in runs if "date" in run})
    cpus = (pipeline.get("environment") or {}).get("cpus")
    loads = [
        (run["events"], run["load_average_1_5_15_min_at_start"][0])
        for run in runs
        if run.get("load_average_1_5_15_min_at_start")
    ]
    lines = [
        f"Every stage's seconds and peak memory, run by `dvc repro` one stage at a time, at "
        f"{and_list([f'{n:,}' for n in sizes])} events on {machine(pipeline)}"
        + (f", measured on {and_list(dates)}." if dates else ".")
        + " Seconds include DVC's work; peak memory sums every process of the stage (papermill, the kernel, "
        "workers).",
    ]
    if loads and cpus:
        busy = [f"{n:,} events ({load:.2f})" for n, load in loads if load > cpus]
        lines[0] += (
            f" The machine was shared: the 1-minute load average at the start of the run exceeded its {cpus} "
            f"CPUs at {and_list(busy)}, so those seconds are upper bounds."
            if busy
            else f" The 1-minute load average at the start of every run was within the {cpus} CPUs."
        )
    lines[0] += _code_versions(runs)
    figure = cost_curve_figure(pipeline)
    figure.update_layout(margin={"t": 60, "l": 40, "r": 20, "b": 40})
    figure_html = figure.to_html(
        full_html=False, include_plotlyjs=False, div_id="fig-cost-curve-plot", config=FIGURE_CONFIG
    )
    lines += [
        "",
        *html_only(
            [
                *raw_html(f"<script>{get_plotlyjs()}</script>"),
                "",
                *float_div(
                    "fig-cost-curve",
                    raw_html(figure_html),
                    "Seconds and peak memory per stage against events, log-log "
                    f"(`{results_file('pipeline')}`).",
                ),
            ]
        ),
        "",
        *float_div(
            "tbl-cost-curve",
            table(*_cost_rows(runs)),
            f"Seconds and peak memory per stage at each size (`{results_file('pipeline')}`).",
        ),
        "",
    ]
    lines += [
        f"The run at {run['events']:,} events was stopped after the {list(run['stages'])[-1]} stage: the "
        "table and the figure show the stages it measured; the totals, exponents and extrapolations leave "
        "it out."
        for run in stopped_runs(pipeline)
    ]
    exponents = growth_exponents(pipeline)
    if not exponents:
        sizes = [run["events"] for run in pipeline_runs(pipeline)] or sizes
        lines.append(
            f"Growth exponents need two sizes; `{results_file('pipeline')}` holds one ({sizes[0]:,} events): "
            f"`{BENCHMARKS['pipeline'][0]} --events N` adds a size and keeps the sizes measured before."
        )
        return lines
    header = ["Stage"]
    for small, large in exponents:
        pair = f"{size_label(small)}→{size_label(large)}"
        header += [f"Seconds {pair}", f"Memory {pair}"]
    stages = list(next(reversed(exponents.values())))
    rows = [
        ["whole pipeline" if stage == "pipeline" else stage]
        + [
            exponent_text(steps[stage][key]) if stage in steps else "–"
            for steps in exponents.values()
            for key in ("seconds", "peak_memory_mb")
        ]
        for stage in stages
    ]
    (small, large), last = next(reversed(exponents.items()))
    superlinear = [stage for stage, steps in last.items() if stage != "pipeline" and steps["seconds"] > 1]
    lines += [
        "The growth exponent of a stage between two sizes is log(t₂ / t₁) / log(n₂ / n₁): 1 is linear, below "
        "1 better than linear (fixed costs, bounded samples), above 1 worse. Between "
        f"{small:,} and {large:,} events the whole pipeline's seconds grew with exponent "
        f"{exponent_text(last['pipeline']['seconds'])}; "
        + (
            f"{and_list(superlinear)} grew faster than linearly."
            if superlinear
            else "no stage grew faster than linearly."
        ),
        "",
        *float_div(
            "tbl-growth-exponents",
            table(header, rows),
            "Growth exponents of seconds and peak memory between consecutive sizes.",
        ),
    ]
    return lines


def _cost_rows(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["Stage"]
    header += [f"Seconds {size_label(run['events'])}" for run in runs]
    header += [f"Memory {size_label(run['events'])}" for run in runs]
    rows = []
    for stage in stage_order(runs):
        cells = [run["stages"].get(stage) for run in runs]
        rows.append(
            [stage]
            + [f"{cell['seconds']:,.1f}" if cell else "–" for cell in cells]
            + [gigabytes(cell["peak_memory_mb"]) if cell else "–" for cell in cells]
        )
    complete = [run.get("complete", True) for run in runs]
    rows.append(
        ["whole pipeline"]
        + [f"{run['seconds']:,.1f}" if done else "–" for run, done in zip(runs, complete, strict=True)]
        + [
            gigabytes(run["peak_memory_mb"]) if done else "–"
            for run, done in zip(runs, complete, strict=True)
        ]
    )
    return header, rows


def _scale(results: Results) -> list[str]:
    """The extrapolated cost, then what a team would change, which stands even without the cost curve."""
    runs = pipeline_runs(results.get("pipeline", {}))
    largest = runs[-1]["events"] if runs else None
    changes = _guarded(lambda results: _changes(results, largest), results)
    return [*_guarded(_extrapolation, results), "", "What a team would change:", "", *bullets(changes)]


def _extrapolation(results: Results) -> list[str]:
    pipeline = _require(results, "pipeline")
    runs = pipeline_runs(pipeline)
    if len(runs) < 2:
        raise IncompleteResults(
            f"Extrapolating needs the cost curve at two sizes at least, and `{results_file('pipeline')}` "
            f"holds {'one' if runs else 'none'}: `{BENCHMARKS['pipeline'][0]}` measures its default sizes "
            "(`--events` chooses others) and keeps the sizes measured before."
        )
    small, large = runs[-2]["events"], runs[-1]["events"]
    projected = {factor: extrapolate(pipeline, factor) for factor in SCALE_FACTORS}
    stages = list(projected[SCALE_FACTORS[0]])
    header = ["Stage"]
    header += [f"Seconds {size_label(large * factor)}" for factor in SCALE_FACTORS]
    header += [f"Memory {size_label(large * factor)}" for factor in SCALE_FACTORS]
    rows = [
        ["whole pipeline" if stage == "pipeline" else stage]
        + [duration(projected[factor][stage]["seconds"]) for factor in SCALE_FACTORS]
        + [gigabytes(projected[factor][stage]["peak_memory_mb"]) for factor in SCALE_FACTORS]
        for stage in stages
    ]
    lines = [
        f"*Extrapolated, not measured.* Each stage's seconds and peak memory at {SCALE_FACTORS[0]} and "
        f"{SCALE_FACTORS[1]} times the largest measured size ({large:,} events), as the measured value "
        f"times the factor to the power of the stage's growth exponent between {small:,} and {large:,} "
        "events (a negative exponent counts as 0: a cost is never extrapolated to fall), on the same "
        "machine and with the same code. An exponent measured over one step of size is "
        "a rough guide: a stage can hit a wall (memory, disk) that no exponent foresees.",
        "",
        *float_div(
            "tbl-tech-scale",
            table(header, rows),
            f"Extrapolated seconds and peak memory per stage (`{results_file('pipeline')}`).",
        ),
        "",
    ]
    memory_gb = (pipeline.get("environment") or {}).get("memory_gb")
    exponents = growth_exponents(pipeline)[(small, large)]
    for factor in SCALE_FACTORS:
        stages_at = {stage: value for stage, value in projected[factor].items() if stage != "pipeline"}
        slowest = max(stages_at, key=lambda stage: stages_at[stage]["seconds"])
        sentence = (
            f"At {large * factor:,} events the pipeline would take about "
            f"{duration(projected[factor]['pipeline']['seconds'])}, {slowest} the slowest stage "
            f"({duration(stages_at[slowest]['seconds'])})"
        )
        if memory_gb:
            over = [stage for stage, value in stages_at.items() if value["peak_memory_mb"] / 1024 > memory_gb]
            sentence += (
                f"; {and_list(over)} would need more than this machine's {memory_gb} GB of memory."
                if over
                else f"; every stage's peak stays within this machine's {memory_gb} GB of memory."
            )
        else:
            sentence += "."
        lines += [sentence, ""]
    shrinking = [
        stage
        for stage, steps in exponents.items()
        if stage != "pipeline" and any(value < 0 for value in steps.values())
    ]
    if shrinking:
        lines += [
            f"{and_list(shrinking)} used less time or memory at the larger size (a negative exponent: timing "
            "noise, or a fixed cost that dominates); their extrapolations shrink and are best read as flat.",
            "",
        ]
    return lines[:-1]


def _changes(results: Results, largest: int | None) -> list[str]:
    """What to change at ten and a hundred times ``largest`` events, with the figures that argue for it."""
    runs = pipeline_runs(results.get("pipeline", {}))
    ten, hundred = (
        (f"At {largest * factor:,} events" for factor in SCALE_FACTORS)
        if largest
        else (f"At {factor} times the size" for factor in SCALE_FACTORS)
    )
    if "engines" in results:
        ratio = field(results, "engines", "engines.spark_local.seconds") / field(
            results, "engines", "engines.duckdb.seconds"
        )
        spark = (
            f"At {field(results, 'engines', 'events'):,} events {engine_name('spark_local')} took "
            f"{times(ratio, 'DuckDB')}, "
            + (
                "so Spark pays only once a stage no longer fits one machine."
                if ratio >= 1
                else "so Spark is worth its servers even before the data outgrow one machine."
            )
        )
    else:
        spark = missing_results("engines")
    changes = [
        f"{ten}: DuckDB on one larger machine, with more cores and memory, and "
        "`engine.memory_limit` and `engine.temp_directory` set so the largest tables spill to a fast local "
        f"disk instead of failing. {spark}",
        f"{hundred}: Spark on a cluster for ingest, clean and features (`engine.name: spark`, "
        "`engine.spark_master`), the same ibis expressions, with executors sized from the stages' peak "
        "memory; the model stages train on a sample of customers, so their cost follows the sample, not the "
        "events.",
        "DVC with a remote cache on object storage shared by the team, so that no clone regenerates or "
        "copies data it does not need (`dvc pull` fetches what a stage needs)." + _raw_data_growth(runs),
    ]
    if "stream" in results:
        rate = field(results, "stream", "end_to_end_events_per_s")
        replay = (
            f" would take {duration(largest * SCALE_FACTORS[0] / rate)} to replay "
            f"{largest * SCALE_FACTORS[0]:,} events and {duration(largest * SCALE_FACTORS[1] / rate)} for "
            f"{largest * SCALE_FACTORS[1]:,}"
            if largest
            else " sets how long a replay takes"
        )
        changes.append(
            "Kafka with more partitions and one consumer per partition: at the measured "
            f"{rate:,.0f} events/s one consumer{replay}."
        )
    else:
        changes.append(
            f"Kafka: partitions and consumers sized from the stream's rate; {missing_results('stream')}"
        )
    changes += [
        "Elasticsearch with time-based indices and rollover, holding scores and daily aggregates rather than "
        "every raw event, so the cluster grows with customers and days, not with events.",
        "papermill and Quarto unchanged: the book reads small metrics and plot tables, whatever the size; "
        "only figures drawn from events need sampling.",
    ]
    return changes


def _raw_data_growth(runs: Sequence[Mapping[str, Any]]) -> str:
    """How large the raw data would be at ten and a hundred times the size; empty when not measured."""
    if len(runs) < 2 or "raw_bytes" not in runs[-2] or "raw_bytes" not in runs[-1]:
        return ""
    small, large = runs[-2], runs[-1]
    exponent = growth_exponent(small["raw_bytes"], large["raw_bytes"], small["events"], large["events"])
    sizes = [
        f"{large['raw_bytes'] * factor**exponent / 2**30:,.1f} GB at {large['events'] * factor:,} events"
        for factor in SCALE_FACTORS
    ]
    return f" The raw data alone would be about {and_list(sizes)} (extrapolated)."


_SECTIONS: tuple[tuple[str, str, str, str, Callable[[Results], list[str]]], ...] = (
    (
        "Kafka",
        "sec-tech-kafka",
        "Events from a live site arrive all the time, from many producers. Kafka keeps them in a "
        "partitioned, replicated log: the ingest stage's Kafka mode reads a bounded slice of a topic into "
        "the same Parquet landing the batch path writes, and `cba stream consume` feeds the Parquet landing "
        "and Elasticsearch, each reader at its own pace and able to start again from its committed offset "
        "after a failure. Messages are read at least once into idempotent sinks, so the effect is exactly "
        "once.",
        "A broker cluster to run, size and watch (brokers, controllers, replication, disk for retention), "
        "a consumer group per reader, and a JSON message per event to encode and decode. The batch default "
        "(files and DuckDB) needs none of it: Kafka earns its cost only when data arrive continuously.",
        _kafka,
    ),
    (
        "Elasticsearch and Kibana",
        "sec-tech-elasticsearch",
        "Scores and events indexed in Elasticsearch let people who never open Python look customers up and "
        "watch dashboards in Kibana. The dashboards and index templates are generated from one spec "
        "(`cba.dashboards`, committed under `dashboards/`), so panels, mappings and schema stay in step; the "
        "book redraws the same panels from the build's own outputs, so it never depends on a running "
        "cluster.",
        "A JVM cluster whose heap and disk grow with the index, index templates to migrate when the schema "
        "changes, a second copy of the data, and a client whose media type must match the server's major "
        "version (`elasticsearch.compatibility`).",
        _elasticsearch,
    ),
    (
        "DuckDB, and Spark behind the same ibis expressions",
        "sec-tech-engines",
        "Ingest, clean and features are written once as ibis expressions. DuckDB runs them in the stage's "
        "own process on every core, with no server, spilling to disk beyond `engine.memory_limit`; the same "
        "expressions run on Spark (`engine.name: spark`, any `engine.spark_master`) when the data outgrow "
        "one machine, with no change to the code. The benchmarks check that every engine writes the same "
        "tables.",
        "ibis limits the code to what every backend can express; Spark adds a JVM, a driver and executors, "
        "and a scheduling cost on every job that pays off only on data too big for one machine.",
        _engines,
    ),
    (
        "NumPy and Arrow for the synthetic data",
        "sec-tech-generator",
        "The synthetic customers and events behind the default build are drawn as arrays, a whole "
        "population at a time, and written as date-partitioned Parquet with Arrow, so anyone can build the "
        "book at any size without the real data.",
        "Array code is harder to read than a loop per customer; `benchmarks/generate.py` keeps a "
        "plain-Python reference of the same model to show what that buys.",
        _generator,
    ),
    (
        "DVC",
        "sec-tech-dvc",
        "`dvc.yaml` declares each stage's inputs, params and outputs; `dvc repro` reruns only the stages "
        "whose inputs changed, `dvc.lock` pins the bytes of every input and output of a build, and "
        "`dvc metrics diff` and `dvc plots diff` compare any two commits.",
        "Every output is hashed after its stage and copied or linked into the cache, so the disk holds each "
        "version of the data; the lock file is committed with the code; each stage is a command of its own, "
        "with its own start-up.",
        _dvc,
    ),
    (
        "papermill and Quarto",
        "sec-tech-notebooks",
        "Each stage is a notebook that papermill runs with the build's parameters injected; the executed "
        "notebook is the chapter, so the figures in the book are the ones the run made and every sentence "
        "in it is computed. Quarto turns those notebooks and the generated chapters into an HTML book and a "
        "Typst PDF; without Quarto, the built-in renderer writes the same chapters to HTML.",
        "A Jupyter kernel per stage, whose memory counts in the stage's peak; notebooks that must stay thin "
        "(the logic lives in `cba`); and Quarto, an install outside Python.",
        _notebooks,
    ),
)
"""(heading, label, why it is used, what it costs, the function writing its measured figures)."""
