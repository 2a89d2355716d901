"""The book: the chapters computed from the pipeline's outputs, and the renderer.

The stage notebooks are executed by papermill into ``report/chapters/``; this package writes the
Markdown the Quarto sources include (``report/_generated/*.md``: the executive summary, data quality,
dashboards, recommendations, what changed, methodology, technology choices, model card and datasheet, data
dictionary and params, and the version stamp), every number computed from ``metrics/``, ``plots/``, the
churn model's metadata and ``benchmarks/results/``. It then renders the book: with Quarto on ``PATH``
``quarto render`` (HTML and a Typst PDF, as ``_quarto.yml`` says); without it, a built-in renderer writes
the same chapters in the same order to an HTML book that works offline, and headless Chromium, when
installed, prints it to PDF.

The modules follow the book: `inputs` and `provenance` (what a build is made of), one module per
generated chapter (`summary`, `data_quality`, `dashboards`, `recommendations`, `changes`, `methodology`,
`technology` with `cost_curve`, `model_card`, `data_dictionary`, `params_appendix`), `generated` (writes
them) and `render`.
"""

from cba.report.changes import changes_markdown
from cba.report.dashboards import dashboards_markdown
from cba.report.data_dictionary import data_dictionary_markdown
from cba.report.data_quality import data_quality_markdown
from cba.report.generated import generated_chapters, write_generated
from cba.report.inputs import METRICS_FILES, PLOT_TABLES, BookInputs, Missing, lookup, read_inputs
from cba.report.methodology import limitations, methodology_markdown
from cba.report.model_card import model_card_markdown
from cba.report.params_appendix import params_markdown
from cba.report.provenance import Change, Comparison, version_markdown, version_stamp, what_changed
from cba.report.recommendations import recommendations_markdown
from cba.report.render import (
    CHROMIUM_CANDIDATES,
    CHROMIUM_FLAGS,
    CHROMIUM_OFFLINE_FLAGS,
    BookEntry,
    book_entries,
    print_pdf,
    render_book,
)
from cba.report.summary import KeyNumber, key_numbers, summary_markdown, summary_sentences
from cba.report.technology import (
    BENCHMARKS,
    extrapolate,
    growth_exponents,
    read_benchmark_results,
    technology_markdown,
)

__all__ = [
    "BENCHMARKS",
    "CHROMIUM_CANDIDATES",
    "CHROMIUM_FLAGS",
    "CHROMIUM_OFFLINE_FLAGS",
    "METRICS_FILES",
    "PLOT_TABLES",
    "BookEntry",
    "BookInputs",
    "Change",
    "Comparison",
    "KeyNumber",
    "Missing",
    "book_entries",
    "changes_markdown",
    "dashboards_markdown",
    "extrapolate",
    "data_dictionary_markdown",
    "data_quality_markdown",
    "generated_chapters",
    "growth_exponents",
    "key_numbers",
    "limitations",
    "lookup",
    "methodology_markdown",
    "model_card_markdown",
    "params_markdown",
    "print_pdf",
    "read_benchmark_results",
    "read_inputs",
    "recommendations_markdown",
    "render_book",
    "summary_markdown",
    "summary_sentences",
    "technology_markdown",
    "version_markdown",
    "version_stamp",
    "what_changed",
    "write_generated",
]
