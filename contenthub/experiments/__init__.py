"""A/B experiments: assignment, exposures, metrics, statistics and reports."""
