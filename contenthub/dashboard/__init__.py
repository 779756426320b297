"""Operations dashboard: retention cohorts, lifecycle flows, channel health, send fatigue and LTV.

Data flow: ingestion adds weekly counters (``activity``) in the same transaction as the events; a
``rollup`` turns them into per-user arrays once (cached per process, rebuilt when stale); the views
(``retention``, ``channels``, ``fatigue``, ``ltv``) are numpy reductions of that rollup.
"""
