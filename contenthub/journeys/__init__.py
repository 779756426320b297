"""Journeys (SOP workflows): an entry trigger, exit conditions and ordered steps per user, where each
send step's asset is picked for that user by the recommender at send time and channel caps always apply.

Data flow: triggers.py (who enters) → engine.py (per-user state, advanced by the scheduler) →
outbox.py (due sends that bots fetch and confirm with delivered events) → funnel.py (what happened).
"""
