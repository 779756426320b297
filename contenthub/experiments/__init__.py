"""Experiments: assignment, exposure logging, metrics, statistics, reports."""
