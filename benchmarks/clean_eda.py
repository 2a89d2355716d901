"""Ingest, EDA and clean on DuckDB (cba), one process per stage as in the pipeline, against pandas.

    python benchmarks/clean_eda.py [--events N]

The data: ``cba.generate.generate`` + ``cba.generate.write`` of N events (customers scaled with the ratio
in ``params.yaml``) into a temporary folder, in a subprocess of its own; not timed.

Each side runs three stages in the pipeline's order, ingest → eda → clean, each in a fresh subprocess
that reads what the stage before it wrote: that is how ``dvc repro`` runs them (``cba stage <name>``, one
process per stage, handing over Parquet files), so a stage never reuses another's memory or parsed
columns, and the pipeline's peak memory is the largest peak of any one stage, since stages never run
together.

(a) cba, as ``stages/ingest.ipynb``, ``stages/eda.ipynb`` and ``stages/clean.ipynb`` do it. ingest:
``sources.load_synthetic`` + ``sources.land``. eda: the four landed tables through ``engine.read_parquet``
on a connection from ``engine.connect``, ``behaviour.numeric_prices`` on the events, then the EDA tables: the
overview of the four tables (rows, columns, missing cells, duplicate rows), daily activity, the funnel by
device and by category (no conversion window), price quartiles by category, top products by revenue and
cohort retention. clean: ``clean.clean_events(..., ids_are_row_numbers=False)`` on the
landed events, accepted and rejected written with ``con.to_parquet``; ``clean.clean_customers`` on the
landed customers, both parts written.
(b) A straightforward pandas reference of the same stages from the same files. ingest: the four raw
tables read with ``pd.read_parquet`` and landed with ``DataFrame.to_parquet``. eda: the landed events
read with ``pd.read_parquet``, timestamps and prices parsed (``pd.to_datetime(..., utc=True,
format="ISO8601", errors="coerce")``, ``pd.to_numeric``), then the same tables with ``groupby``; the
overview with ``isna`` and ``duplicated``, from the events as read and from the other three tables read
one at a time. clean:
the landed events read again and judged by the same rules in the same order, vectorised
(``duplicated``, ``pd.to_numeric``, ``pd.to_datetime``, ``np.select``), accepted and rejected written to
Parquet; the landed customers through ``cba.clean.clean_customers``, which is already pandas.

Each stage's peak memory is the peak resident set of its own process (``os.wait4``), which is why this
parent imports nothing heavy before the runs end; a side's total time is the sum of its stages' and its
peak the largest of theirs. DuckDB uses every core (``engine.connect``); pandas uses one. The parent
then checks that both sides produced the same tables (the overview, rows per rejection rule, daily
totals, funnels, prices, top products, retention).

Not measured: the eda stage's tables of the customers alone (missing values, outliers, near duplicates,
demographics, churn by segment: the same pandas code on either side, 200k rows), and its conversion-window
funnels and behaviour numbers (``active_customers``, ``top_products_by_conversion``), which have no pandas
twin here.

Writes ``benchmarks/results/clean_eda.json`` and prints a short table. Timings never go to ``metrics/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "clean_eda.json"
TARGET_SPEEDUP = 3.0
TARGET_PEAK_RSS_MB = 4096
LANDED_TABLES = ("customers", "events", "sessions", "orders")  # as the eda stage reads them
EDA_TABLES = ("overview", "daily_activity", "funnel_device", "funnel_category", "price_by_category")
EDA_TABLES += ("top_products", "cohort_retention")


STAGES = ("ingest", "eda", "clean")  # the pipeline's order (dvc.yaml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events generated (clean ones)")
    parser.add_argument("--child", choices=("generate", "cba", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "generate":
        child_generate(args)
        return
    if args.child:
        CHILDREN[args.child][args.stage](args)
        return

    load_at_start = [round(load, 2) for load in os.getloadavg()]  # the machine may be shared
    with tempfile.TemporaryDirectory(prefix="cba-bench-") as tmp:
        data, tmp = Path(tmp) / "raw", Path(tmp)
        generated = spawn("generate", None, args.events, data, tmp / "generate")
        cba_run = run_stages("cba", args.events, data, tmp / "cba")
        pandas_run = run_stages("pandas", args.events, data, tmp / "pandas")
        agreement = compare(tmp / "cba", tmp / "pandas")
        data_info = json.loads((tmp / "generate" / "generate.json").read_text())
        data_info["bytes"] = folder_size(data)

    speedup = pandas_run["seconds"] / cba_run["seconds"]
    result = {
        "benchmark": "clean_eda",
        "data": data_info | {"generate_process_seconds": generated["process_seconds"]},
        "cba": cba_run,
        "pandas_reference": pandas_run,
        "speedup_vs_pandas": round(speedup, 2),
        "outputs_agree": all(agreement["checks"].values()),
        "agreement": agreement,
        "targets": {"speedup_vs_pandas": TARGET_SPEEDUP, "peak_rss_mb": TARGET_PEAK_RSS_MB},
        "met": {
            "speedup_vs_pandas": speedup >= TARGET_SPEEDUP,
            "peak_rss_mb": cba_run["peak_rss_mb"] < TARGET_PEAK_RSS_MB,
        },
        "environment": environment() | {"load_average_1_5_15_min_at_start": load_at_start},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


# --- the parent: subprocesses, peak memory, comparison --------------------------------------------------


def run_stages(kind: str, events: int, data: Path, work: Path) -> dict:
    """The stages of side ``kind``, one subprocess each in the pipeline's order, sharing ``work``.

    Total seconds are the sum of the stages' own timings; the peak is the largest stage's, as stages
    never run together.
    """
    work.mkdir(parents=True)
    stages = {stage: spawn(kind, stage, events, data, work) for stage in STAGES}
    return {
        "phases_seconds": {k: v for run in stages.values() for k, v in run["phases_seconds"].items()},
        "eda_tables_seconds": stages["eda"]["eda_tables_seconds"],
        "stages_seconds": {stage: run["seconds"] for stage, run in stages.items()},
        "stages_peak_rss_mb": {stage: run["peak_rss_mb"] for stage, run in stages.items()},
        "stages_process_seconds": {stage: run["process_seconds"] for stage, run in stages.items()},
        "seconds": round(sum(run["seconds"] for run in stages.values()), 3),
        "process_seconds": round(sum(run["process_seconds"] for run in stages.values()), 3),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in stages.values()),
    }


def spawn(kind: str, stage: str | None, events: int, data: Path, work: Path) -> dict:
    """Run this script as child ``kind`` (stage ``stage``); its timings, process wall time and peak RSS."""
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--child", kind, "--events", str(events)]
    command += ["--data", str(data), "--work", str(work)] + (["--stage", stage] if stage else [])
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    name = stage or kind
    if process.returncode != 0:
        raise SystemExit(f"the {kind} {name} run failed with exit code {process.returncode}")
    run = json.loads((work / f"{name}.json").read_text())
    run["process_seconds"] = round(seconds, 3)
    run["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # ru_maxrss is in KiB on Linux
    return run


def compare(cba_work: Path, pandas_work: Path) -> dict:
    """Whether the two runs made the same tables; a check per table and where they differ."""
    import numpy as np
    import pandas as pd

    ours = pd.read_pickle(cba_work / "eda.pkl") | pd.read_pickle(cba_work / "clean.pkl")
    theirs = pd.read_pickle(pandas_work / "eda.pkl") | pd.read_pickle(pandas_work / "clean.pkl")
    checks, differences = {}, []

    def check(name: str, equal: bool, detail: str) -> None:
        checks[name] = bool(equal)
        if not equal:
            differences.append(f"{name}: {detail}")

    a, b = ours["overview"], theirs["overview"]
    equal = a.shape == b.shape and (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all()
    check("overview", equal, f"cba {a.to_dict('records')} vs pandas {b.to_dict('records')}")

    for table in ("event_rules", "customer_rules"):
        check(table, ours[table] == theirs[table], f"cba {ours[table]} vs pandas {theirs[table]}")

    a, b = ours["daily_activity"], theirs["daily_activity"]
    same_days = len(a) == len(b) and (a["date"].to_numpy() == b["date"].to_numpy()).all()
    counts = ["events", "sessions", "orders"]
    equal = same_days and (a[counts].to_numpy() == b[counts].to_numpy()).all()
    check("daily_activity_counts", equal, _first_difference(a, b, "date", counts))
    equal = same_days and np.allclose(a["revenue"], b["revenue"], rtol=1e-9, atol=1e-6)
    check("daily_activity_revenue", equal, _first_difference(a, b, "date", ["revenue"]))

    for table, key in (("funnel_device", "device"), ("funnel_category", "category")):
        a, b = ours[table], theirs[table]
        steps = ["view", "add_to_cart", "purchase"]
        equal = a[key].astype(str).tolist() == b[key].astype(str).tolist()
        equal = equal and (a[steps].to_numpy() == b[steps].to_numpy()).all()
        check(table, equal, _first_difference(a, b, key, steps))

    a, b = ours["price_by_category"], theirs["price_by_category"]
    quartiles = ["p25", "median", "p75"]
    equal = a["category"].astype(str).tolist() == b["category"].astype(str).tolist()
    equal = equal and np.allclose(a[quartiles], b[quartiles], atol=0.011)
    check("price_by_category", equal, _first_difference(a, b, "category", quartiles))

    a, b = ours["top_products"], theirs["top_products"]
    items = ["views", "carts", "purchases"]
    equal = a["product_id"].astype(str).tolist() == b["product_id"].astype(str).tolist()
    equal = equal and (a[items].to_numpy() == b[items].to_numpy()).all()
    equal = equal and np.allclose(a["revenue"], b["revenue"], atol=0.011)
    check("top_products", equal, _first_difference(a, b, "product_id", [*items, "revenue"]))

    a, b = ours["cohort_retention"], theirs["cohort_retention"]
    equal = a.shape == b.shape and list(a.index) == list(b.index)
    equal = equal and np.allclose(a.to_numpy(), b.to_numpy(), atol=1e-4, equal_nan=True)
    check("cohort_retention", equal, f"shapes {a.shape} vs {b.shape}" if a.shape != b.shape else "values")
    return {"checks": checks, "differences": differences}


def _first_difference(a, b, key: str, columns: list[str]) -> str:
    """The first row (by ``key``) where two tables differ, as text."""
    if len(a) != len(b):
        return f"{len(a)} rows (cba) vs {len(b)} rows (pandas)"
    for (_, x), (_, y) in zip(a.iterrows(), b.iterrows(), strict=True):
        if str(x[key]) != str(y[key]) or any(str(x[c]) != str(y[c]) for c in columns):
            return f"cba {x[[key, *columns]].to_dict()} vs pandas {y[[key, *columns]].to_dict()}"
    return "within rounding"


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def environment() -> dict:
    """Versions and machine, read in a subprocess so that this process stays small until the end."""
    code = (
        "import json, duckdb, ibis, numpy, pandas, pyarrow; print(json.dumps({'duckdb': duckdb.__version__,"
        " 'ibis': ibis.__version__, 'pandas': pandas.__version__, 'numpy': numpy.__version__,"
        " 'pyarrow': pyarrow.__version__, 'duckdb_threads': duckdb.connect().sql("
        "\"SELECT current_setting('threads')\").fetchone()[0]}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    versions = json.loads(found.stdout)
    return {
        "python": platform.python_version(),
        **versions,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": [round(load, 2) for load in os.getloadavg()],
    }


# --- the children: each stage writes <stage>.json (and its tables) into its work folder -----------------


class Phases:
    """Wall time of each phase and the peak RSS of this process when the phase ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        self.started = self.last = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 3)
        self.peak_rss_mb[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        self.last = now

    def report(self, **extra) -> dict:
        return {
            "phases_seconds": self.seconds,
            "seconds": round(self.last - self.started, 3),
            "peak_rss_mb_after_phase": self.peak_rss_mb,
            **extra,
        }


def _params(events: int):
    from cba.config import load_params

    params = load_params(ROOT / "params.yaml")
    customers = max(1, round(events * params.generate.num_customers / params.generate.num_events))
    generate = params.generate.model_copy(update={"num_customers": customers, "num_events": events})
    return params.model_copy(update={"generate": generate})


def child_generate(args: argparse.Namespace) -> None:
    from cba.generate import generate, write

    params = _params(args.events)
    started = time.perf_counter()
    data = generate(params.generate, params.seed)
    rows = {"event_rows": data.events.num_rows, "customer_rows": data.customers.num_rows}
    write(data, args.data)
    info = {"events": args.events, "customers": params.generate.num_customers, **rows}
    info["generate_seconds"] = round(time.perf_counter() - started, 3)
    (args.work / "generate.json").write_text(json.dumps(info))


def _folders(work: Path) -> tuple[Path, Path, Path]:
    return work / "landed", work / "processed", work / "rejected"


def cba_ingest(args: argparse.Namespace) -> None:
    from cba import sources

    landed, _, _ = _folders(args.work)
    phases = Phases()
    tables = sources.load_synthetic(args.data)
    sources.land(tables, landed)
    phases.done("ingest")
    _save(args.work, "ingest", phases.report(), None)


def cba_eda(args: argparse.Namespace) -> None:
    from cba import behaviour, eda, engine

    params = _params(args.events)
    landed, _, _ = _folders(args.work)
    first_day, latest = params.event_window
    last_day = latest - dt.timedelta(days=1)

    phases = Phases()
    con = engine.connect(params.data.timezone, params.engine)
    tables = {name: engine.read_parquet(con, landed / f"{name}.parquet") for name in LANDED_TABLES}
    events = behaviour.numeric_prices(tables["events"])
    phases.done("eda_load")
    steps = {
        "overview": lambda: eda.overview(tables),
        "daily_activity": lambda: behaviour.daily_activity(events, first_day, last_day),
        "funnel_device": lambda: behaviour.funnel(events, "device"),
        "funnel_category": lambda: behaviour.funnel(events, "category"),
        "price_by_category": lambda: behaviour.price_by_category(events),
        "top_products": lambda: behaviour.top_products(events, "product_id", params.eda.top_n),
        "cohort_retention": lambda: behaviour.cohort_retention(events, first_day, last_day),
    }
    outputs, eda_seconds = _timed_tables(steps)
    phases.done("eda_tables")
    _save(args.work, "eda", phases.report(eda_tables_seconds=eda_seconds), outputs)


def cba_clean(args: argparse.Namespace) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cba import clean, engine, sources

    params = _params(args.events)
    landed, processed, rejected_dir = _folders(args.work)

    phases = Phases()
    con = engine.connect(params.data.timezone, params.engine)
    processed.mkdir(parents=True, exist_ok=True)
    rejected_dir.mkdir(parents=True, exist_ok=True)
    landed_customers = sources.read_landed(landed, "customers")
    events = engine.read_parquet(con, landed / "events.parquet")
    accepted, rejected = clean.clean_events(
        events,
        *params.event_window,
        params.data.session_timeout_minutes,
        ids_are_row_numbers=False,  # the synthetic source (data.source != "events")
    )
    con.to_parquet(accepted, processed / "events.parquet")
    con.to_parquet(rejected, rejected_dir / "events.parquet")
    phases.done("clean_events")

    customers = landed_customers.to_pandas()
    accepted_customers, rejected_customers = clean.clean_customers(customers, params.clean.near_duplicates)
    rejected_customers.to_parquet(rejected_dir / "customers.parquet", index=False)
    accepted_customers.to_parquet(processed / "customers.parquet", index=False)
    phases.done("clean_customers")

    # Outside the timing: what the comparison needs.
    rules = pq.read_table(rejected_dir / "events.parquet", columns=[clean.REJECTION_RULE])
    counts = pc.value_counts(rules[clean.REJECTION_RULE]).to_pylist()
    outputs = {"event_rules": {r: 0 for r in clean.EVENT_RULES} | {c["values"]: c["counts"] for c in counts}}
    outputs["event_rules"]["accepted"] = pq.read_metadata(processed / "events.parquet").num_rows
    outputs["customer_rules"] = _customer_rules(accepted_customers, rejected_customers)
    _save(args.work, "clean", phases.report(), outputs)


def pandas_ingest(args: argparse.Namespace) -> None:
    import pandas as pd

    from cba import schema

    landed, _, _ = _folders(args.work)
    landed.mkdir(parents=True, exist_ok=True)
    phases = Phases()
    for name, table in (
        ("customers", schema.CUSTOMERS),
        ("events", schema.RAW_EVENTS),
        ("sessions", schema.SESSIONS),
        ("orders", schema.ORDERS),
    ):
        location = args.data / (f"{name}.parquet" if name == "customers" else name)
        frame = pd.read_parquet(location)[table.names]  # the date partition key left out
        frame.to_parquet(landed / f"{name}.parquet", index=False)
        del frame
    phases.done("ingest")
    _save(args.work, "ingest", phases.report(), None)


def pandas_eda(args: argparse.Namespace) -> None:
    import pandas as pd

    params = _params(args.events)
    landed, _, _ = _folders(args.work)
    start, end = (pd.Timestamp(day, tz="UTC") for day in params.event_window)

    # The landed events, with timestamps and prices parsed here, as cba's eda stage parses its own. The
    # overview of the events is taken from the frame as read, before the prices are parsed; its seconds
    # are added to the overview table's (the phases are unchanged, so no second is counted twice).
    phases = Phases()
    raw = pd.read_parquet(landed / "events.parquet")
    started = time.perf_counter()
    events_overview = _pd_overview("events", raw)
    events_overview_seconds = time.perf_counter() - started
    at = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601", errors="coerce")
    raw["price"] = pd.to_numeric(raw["price"], errors="coerce")
    in_days = (at >= start) & (at < end)
    phases.done("eda_load")
    steps = {
        "overview": lambda: _pd_overview_table(landed, events_overview),
        "daily_activity": lambda: _pd_daily(raw, at, in_days),
        "funnel_device": lambda: _pd_funnel(raw, "device"),
        "funnel_category": lambda: _pd_funnel(raw, "category"),
        "price_by_category": lambda: _pd_prices(raw),
        "top_products": lambda: _pd_top_products(raw, "product_id", params.eda.top_n),
        "cohort_retention": lambda: _pd_retention(raw, at, in_days),
    }
    outputs, eda_seconds = _timed_tables(steps)
    eda_seconds["overview"] = round(eda_seconds["overview"] + events_overview_seconds, 3)
    phases.done("eda_tables")
    _save(args.work, "eda", phases.report(eda_tables_seconds=eda_seconds), outputs)


def pandas_clean(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from cba import clean, schema

    params = _params(args.events)
    landed, processed, rejected_dir = _folders(args.work)
    start, end = (pd.Timestamp(day, tz="UTC") for day in params.event_window)

    phases = Phases()
    processed.mkdir(parents=True, exist_ok=True)
    rejected_dir.mkdir(parents=True, exist_ok=True)
    raw = pd.read_parquet(landed / "events.parquet")
    # Events: every rule as a vectorised mask; the first that matches names the row's rule.
    customer = pd.to_numeric(raw["customer_id"], errors="coerce")
    at = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601", errors="coerce")
    price = pd.to_numeric(raw["price"], errors="coerce")
    masks = [
        raw.duplicated(keep="first"),
        customer.isna(),
        at.isna(),
        at < start,
        at >= end,
        ~raw["event_type"].isin(schema.EVENT_TYPES),
        price.isna() & raw["price"].notna(),
        price < 0,
    ]
    rule = pd.Series(np.select(masks, list(clean.EVENT_RULES), default=""), index=raw.index)
    ok = (rule == "").to_numpy()
    accepted = raw[ok].assign(
        timestamp=at[ok],
        customer_id=customer[ok].astype("int64"),
        price=price[ok],
        session_id=pd.to_numeric(raw["session_id"][ok], errors="coerce").astype("Int64"),
    )
    accepted = accepted.sort_values(["timestamp", "event_id"])[schema.EVENTS.names]
    accepted.to_parquet(processed / "events.parquet", index=False)
    rejected = raw[~ok].assign(**{clean.REJECTION_RULE: rule[~ok]}).sort_values("event_id")
    rejected.to_parquet(rejected_dir / "events.parquet", index=False)
    event_rules = {r: 0 for r in clean.EVENT_RULES} | rejected[clean.REJECTION_RULE].value_counts().to_dict()
    event_rules["accepted"] = len(accepted)
    del raw, accepted, rejected, masks, rule, customer, at, price
    phases.done("clean_events")

    customers = pd.read_parquet(landed / "customers.parquet")
    accepted_customers, rejected_customers = clean.clean_customers(customers, params.clean.near_duplicates)
    rejected_customers.to_parquet(rejected_dir / "customers.parquet", index=False)
    accepted_customers.to_parquet(processed / "customers.parquet", index=False)
    phases.done("clean_customers")

    outputs = {"event_rules": {k: int(v) for k, v in event_rules.items()}}
    outputs["customer_rules"] = _customer_rules(accepted_customers, rejected_customers)
    _save(args.work, "clean", phases.report(), outputs)


def _pd_overview(name: str, frame) -> dict:
    """Rows, columns, missing cells and duplicate rows of one table."""
    return {
        "table": name,
        "rows": len(frame),
        "columns": frame.shape[1],
        "missing_cells": int(frame.isna().sum().sum()),
        "duplicate_rows": int(frame.duplicated().sum()),
    }


def _pd_overview_table(landed: Path, events_overview: dict):
    """The overview of every landed table, in the stage's order, one more table in memory at a time."""
    import pandas as pd

    rows = {"events": events_overview}
    for name in (n for n in LANDED_TABLES if n not in rows):
        rows[name] = _pd_overview(name, pd.read_parquet(landed / f"{name}.parquet"))
    return pd.DataFrame([rows[name] for name in LANDED_TABLES])


def _pd_daily(raw, at, in_days):
    import pandas as pd

    purchase = raw["event_type"] == "purchase"
    frame = pd.DataFrame({"date": at.dt.floor("D"), "session_id": raw["session_id"], "purchase": purchase})
    frame = frame[in_days]
    grouped = frame.groupby("date")
    daily = pd.DataFrame(
        {
            "events": grouped.size(),
            "sessions": grouped["session_id"].nunique(),
            "orders": frame[frame["purchase"]].groupby("date")["session_id"].nunique(),
            "revenue": raw["price"].where(purchase)[in_days].groupby(frame["date"]).sum(),
        }
    )
    daily["orders"] = daily["orders"].fillna(0).astype("int64")
    daily = daily.reset_index()
    daily["date"] = daily["date"].dt.tz_localize(None)
    return daily


def _pd_funnel(raw, by: str):
    import pandas as pd

    from cba.behaviour import FUNNEL_STEPS

    steps = raw.loc[raw["event_type"].isin(FUNNEL_STEPS) & raw[by].notna(), ["session_id", by, "event_type"]]
    reached = steps.drop_duplicates()
    counts = reached.groupby([by, "event_type"], observed=True).size().unstack(fill_value=0)
    table = counts.reindex(columns=list(FUNNEL_STEPS), fill_value=0).reset_index()
    table.columns.name = None
    table[by] = table[by].astype(str)
    table = table.sort_values(by, ignore_index=True)
    table["conversion"] = (table["purchase"] / table["view"]).round(4)
    return pd.DataFrame(table)


def _pd_prices(raw):
    views = raw[(raw["event_type"] == "view") & raw["category"].notna()]
    grouped = views.groupby("category", observed=True)["price"]
    table = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    table.columns = ["p25", "median", "p75"]
    table = table.reset_index().sort_values("median", ascending=False, ignore_index=True)
    return table.round(2)


def _pd_top_products(raw, by: str, top_n: int):
    import pandas as pd

    items = raw[raw[by].notna()]
    kind = items["event_type"]
    table = (
        pd.DataFrame(
            {
                by: items[by],
                "views": kind == "view",
                "carts": kind == "add_to_cart",
                "purchases": kind == "purchase",
                "revenue": items["price"].where(kind == "purchase"),
            }
        )
        .groupby(by, observed=True)
        .sum()
        .reset_index()
    )
    table["conversion"] = table["purchases"] / table["views"].where(table["views"] > 0)
    table[by] = table[by].astype(str)
    table = table.sort_values(["revenue", "purchases", by], ascending=[False, False, True]).head(top_n)
    return table.round({"revenue": 2, "conversion": 4}).reset_index(drop=True)


def _pd_retention(raw, at, in_days):
    import numpy as np
    import pandas as pd

    keep = in_days & raw["customer_id"].notna()
    kept = at[keep]
    monthly = pd.DataFrame(
        {"customer_id": raw["customer_id"][keep], "month": kept.dt.year * 12 + kept.dt.month - 1}
    ).drop_duplicates()
    monthly["cohort"] = monthly.groupby("customer_id")["month"].transform("min")
    counts = monthly.groupby(["cohort", monthly["month"] - monthly["cohort"]]).size()
    wide = counts.unstack().astype("float64")
    cohorts = list(wide.index)
    last_month = int(max(cohort + since for cohort, since in counts.index))
    wide = wide.reindex(columns=range(last_month - cohorts[0] + 1))
    shares = wide.div(wide[0], axis=0)
    observed = np.subtract.outer(np.array(cohorts), -np.arange(shares.shape[1])) <= last_month
    shares = shares.fillna(0.0).where(observed).round(4)
    shares.index = pd.Index([f"{c // 12}-{c % 12 + 1:02d}" for c in cohorts], name="cohort")
    return shares


def _timed_tables(steps: dict) -> tuple[dict, dict]:
    outputs, seconds = {}, {}
    for name, make in steps.items():
        started = time.perf_counter()
        outputs[name] = make()
        seconds[name] = round(time.perf_counter() - started, 3)
    return outputs, seconds


def _customer_rules(accepted, rejected) -> dict:
    from cba import clean

    counts = rejected[clean.REJECTION_RULE].value_counts().to_dict()
    return {"accepted": len(accepted)} | {r: int(counts.get(r, 0)) for r in clean.CUSTOMER_RULES}


def _save(work: Path, stage: str, run: dict, outputs: dict | None) -> None:
    """A stage's timings as ``<stage>.json`` and, outside its timing, its tables as ``<stage>.pkl``."""
    if outputs is not None:
        import pandas as pd

        pd.to_pickle(outputs, work / f"{stage}.pkl")
    (work / f"{stage}.json").write_text(json.dumps(run))


CHILDREN = {
    "cba": {"ingest": cba_ingest, "eda": cba_eda, "clean": cba_clean},
    "pandas": {"ingest": pandas_ingest, "eda": pandas_eda, "clean": pandas_clean},
}


# --- the table ------------------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    runs = {"cba (DuckDB)": result["cba"], "pandas reference": result["pandas_reference"]}
    print(f"{result['data']['event_rows']:,} event rows, {result['data']['customers']:,} customers")
    print(
        f"{'run':<18}"
        + "".join(f"{s + ' s':>10}" for s in STAGES)
        + f"{'total s':>10}"
        + "".join(f"{s + ' MB':>11}" for s in STAGES)
        + f"{'peak MB':>10}"
    )
    for name, run in runs.items():
        seconds = "".join(f"{run['stages_seconds'][s]:>10.2f}" for s in STAGES)
        peaks = "".join(f"{run['stages_peak_rss_mb'][s]:>11,.0f}" for s in STAGES)
        print(f"{name:<18}{seconds}{run['seconds']:>10.2f}{peaks}{run['peak_rss_mb']:>10,.0f}")
    print(f"\n{'phase':<20}{'cba s':>10}{'pandas s':>10}")
    for phase in result["cba"]["phases_seconds"]:
        ours, theirs = result["cba"]["phases_seconds"][phase], result["pandas_reference"]
        print(f"{phase:<20}{ours:>10.2f}{theirs['phases_seconds'][phase]:>10.2f}")
    print(f"\n{'EDA table':<20}{'cba s':>10}{'pandas s':>10}")
    for table in EDA_TABLES:
        ours, theirs = result["cba"]["eda_tables_seconds"][table], result["pandas_reference"]
        print(f"{table:<20}{ours:>10.2f}{theirs['eda_tables_seconds'][table]:>10.2f}")
    met = result["met"]
    print(
        f"\nspeedup {result['speedup_vs_pandas']:.2f}x >= {TARGET_SPEEDUP:.0f}x: "
        f"{'met' if met['speedup_vs_pandas'] else 'NOT met'}"
        f"\ncba peak {result['cba']['peak_rss_mb']:,.0f} MB < {TARGET_PEAK_RSS_MB:,} MB: "
        f"{'met' if met['peak_rss_mb'] else 'NOT met'}"
        f"\noutputs agree: {result['outputs_agree']}"
        f"\nload average (1, 5, 15 min) at start {result['environment']['load_average_1_5_15_min_at_start']}"
        f", at end {result['environment']['load_average_1_5_15_min']}"
        + "".join(f"\n  {d}" for d in result["agreement"]["differences"])
    )


if __name__ == "__main__":
    main()
