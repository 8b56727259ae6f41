"""Evaluation: systems and baselines on held-out pairs, metrics, reports, blind grading, canaries."""
