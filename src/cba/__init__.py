"""Customer behaviour analysis: synthetic data, cleaning, features, churn and survival models, the report."""

__version__ = "0.1.0"
