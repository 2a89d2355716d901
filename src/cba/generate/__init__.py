"""Synthetic customers, sessions, events and orders that look like the Kaggle "E Commerce Dataset".

Customers carry the Kaggle attributes, drawn from the real file's marginal distributions. A latent churn
process driven by those attributes (complaints, satisfaction, distance, cashback, tenure, engagement)
decides who churns and when; each customer's sessions arrive at a rate that decays with time, fades out
before churn, and follows weekly and daily rhythms in local time. Sessions hold view, add-to-cart,
remove-from-cart and purchase events whose conversion differs by device and category; purchases make
orders. Faults (duplicates, blanks, bad timestamps, alias labels, local-time offsets) are injected at the
rates in ``params.yaml`` so cleaning has real work.

Everything is vectorised with NumPy and Arrow, in blocks of a fixed size run on every core; the same
params and seed give the same bytes on any machine.
"""

from cba.generate.marginals import churn_risk
from cba.generate.synthetic import SyntheticData, generate
from cba.generate.writing import write

__all__ = ["SyntheticData", "churn_risk", "generate", "write"]
