"""The dashboard's chart and table wording, by the keys its chart builders (charts.py) ask for.

Charts are built in a worker thread for one language at a time (``pages._tr``); the keys stay short names
for the builders and each maps to its English msgid in the message catalogs."""

from __future__ import annotations

from contenthub.i18n import N_

WORDS: dict[str, str] = {
    "dash_mutes_rise_at": N_("Mutes rise from this many sends per user per week:"),
    "dash_mutes_rise": N_("mutes rise"),
    "dash_users": N_("Users"),
    "dash_revenue": N_("Revenue"),
    "dash_no_data": N_("No data yet: no user activity to count."),
    "dash_no_sends": N_("No data: nothing was sent or delivered in this period."),
    "dash_no_revenue": N_("No revenue yet: no convert events with a value."),
    "dash_no_moves": N_("No moves between states in the last week to draw."),
    "dash_triangle": N_("Cohort triangle"),
    "dash_curves": N_("Retention curves"),
    "dash_lifecycle": N_("Lifecycle states per week"),
    "dash_flows_last": N_("Moves between states, last week"),
    "dash_deliveries": N_("Deliveries"),
    "dash_open_rate": N_("Open rate"),
    "dash_click_rate": N_("Click rate"),
    "dash_conversion_rate": N_("Conversion rate"),
    "dash_mutes": N_("Mutes"),
    "dash_revenue_chart": N_("Revenue"),
    "dash_assets_scene": N_("Best and worst assets per scene (click rate)"),
    "dash_assets_content_type": N_("Best and worst assets per content type (click rate)"),
    "dash_best": N_("Best"),
    "dash_worst": N_("Worst"),
    "dash_fatigue": N_("Send fatigue curve"),
    "dash_ltv_observed": N_("Cumulative revenue per user (observed)"),
    "dash_ltv_holdout": N_("Predicted vs observed revenue (held-out weeks)"),
    "dash_cohort": N_("Cohort"),
    "dash_week_k": N_("Weeks after first seen"),
    "dash_share_engaging": N_("Share engaging"),
    "dash_week": N_("Week"),
    "dash_heldout_week": N_("Held-out week"),
    "dash_state_new": N_("New"),
    "dash_state_active": N_("Active"),
    "dash_state_silent": N_("Silent"),
    "dash_state_churned": N_("Churned"),
    "dash_state_won_back": N_("Won back"),
    "dash_first_seen": N_("First seen"),
    "dash_mute_rate": N_("Mute/unsubscribe rate"),
    "dash_user_weeks": N_("User-weeks"),
    "dash_sends_per_week": N_("Sends per user per week"),
    "dash_cum_revenue": N_("Cumulative revenue per user"),
    "dash_observed": N_("Observed"),
    "dash_predicted": N_("Predicted"),
    "scene": N_("Scene"),
    "content_type": N_("Content type"),
}
