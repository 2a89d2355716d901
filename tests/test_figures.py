from cba.figures import configure_figures


def test_configure_figures_embeds_plotly_offline():
    import plotly.io as pio

    previous = pio.renderers.default
    try:
        configure_figures()
        assert pio.renderers.default == "plotly_mimetype+notebook"
    finally:
        pio.renderers.default = previous
