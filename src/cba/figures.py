"""The plotting setup every stage notebook shares, so its figures draw offline in the book."""

from __future__ import annotations

__all__ = ["PLOTLY_RENDERER", "configure_figures"]

PLOTLY_RENDERER = "plotly_mimetype+notebook"
"""Figure JSON for Plotly-aware front ends, plus HTML that draws offline (plotly.js embedded once)."""


def configure_figures() -> None:
    """Make Plotly figures display in executed notebooks and draw offline in every rendered book.

    Called in the first cell of every stage notebook. The ``plotly_mimetype`` part keeps the figure
    JSON for Jupyter front ends; the ``notebook`` part adds an HTML output that draws with plotly.js,
    which it embeds once per notebook (no CDN), so the nbconvert fallback and Quarto both show the
    figures without network access.
    """
    import plotly.io as pio

    pio.renderers.default = PLOTLY_RENDERER
