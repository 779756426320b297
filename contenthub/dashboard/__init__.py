"""Operations dashboard: retention cohorts, lifecycle flows, channel health, send fatigue and LTV.

Data flow: a ``rollup`` reads the stored events once per calendar week of the hub's zone (``weeks``) as
store aggregations and turns them into per-user arrays (cached per process, rebuilt when stale); the
views (``retention``, ``channels``, ``fatigue``, ``ltv``) are numpy reductions of that rollup. Ingestion
writes nothing for the dashboard.
"""
