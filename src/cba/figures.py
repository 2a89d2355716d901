"""The Plotly theme of every figure the stage notebooks and the book show: one place for colours and type.

The qualitative colours are the Okabe-Ito palette, which readers with any common colour-vision
deficiency tell apart; continuous scales use ``Blues``, which reads in greyscale too. Figures keep a
title and axis titles from the function that draws them; the theme sets type, margins and colours.
"""

from __future__ import annotations

__all__ = [
    "FIGURE_CONFIG",
    "PALETTE",
    "PLOTLY_RENDERER",
    "PRINT_FIGURE_HEIGHT",
    "SEQUENTIAL_SCALE",
    "TEMPLATE",
    "configure_figures",
]

PLOTLY_RENDERER = "plotly_mimetype+notebook"
"""Figure JSON for Plotly-aware front ends, plus HTML that draws offline (plotly.js embedded once)."""

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe-Ito colours, in the order traces take them."""

SEQUENTIAL_SCALE = "Blues"
"""The continuous colour scale (heatmaps such as cohort retention)."""

TEMPLATE = "plotly_white+cba"
"""The Plotly template every figure is drawn with: Plotly's white theme, then the book's colours and type."""

FIGURE_CONFIG = {"displaylogo": False, "responsive": True}
"""Plotly's display options: no Plotly logo in the toolbar, figures follow the width of the page."""

PRINT_FIGURE_HEIGHT = 240
"""Height in pixels of a figure in the printed book (Plotly's 450 on screen)."""


def _book_template() -> object:
    import plotly.graph_objects as go

    return go.layout.Template(
        layout={
            "colorway": list(PALETTE),
            "colorscale": {"sequential": SEQUENTIAL_SCALE, "sequentialminus": SEQUENTIAL_SCALE},
            "font": {
                "family": "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif",
                "size": 13,
            },
            "title": {"font": {"size": 16}, "x": 0, "xanchor": "left"},
            "margin": {"t": 56, "l": 56, "r": 24, "b": 48},
            "legend": {"title": {"font": {"size": 12}}},
        }
    )


def configure_figures() -> None:
    """Set the book's theme and make Plotly figures display in executed notebooks and draw offline.

    Called in the first cell of every stage notebook and before the book draws its own figures. The
    ``plotly_mimetype`` part keeps the figure JSON for Jupyter front ends; the ``notebook`` part adds an
    HTML output that draws with plotly.js, which it embeds once per notebook (no CDN), so the nbconvert
    fallback and Quarto both show the figures without network access.
    """
    import plotly.io as pio

    pio.templates["cba"] = _book_template()
    pio.templates.default = TEMPLATE
    pio.renderers.default = PLOTLY_RENDERER
    for name in PLOTLY_RENDERER.split("+"):
        pio.renderers[name].config = dict(FIGURE_CONFIG)
