"""Default journeys, shipped as editable templates (installed as drafts; editors change anything).

Names and descriptions are English msgids: the gallery shows them in the reader's language and an installed
journey keeps them in the language of whoever installed it (it is the editor's text from then on).

They encode what the brands' operators do by hand today (SOPs in SCRMs such as LinkWeChat): the
assets are not fixed — each send step names a channel and a scene and the recommender picks per user.
Waits count from the previous step; windows keep 1:1 messages inside office hours.
"""

from __future__ import annotations

from typing import Any

from contenthub.i18n import N_

DAYTIME = {"window_start": "10:00", "window_end": "20:00"}

NEW_CONTACT: dict[str, Any] = {
    "name": N_("New-contact 1:1 care"),
    "description": N_(
        "Day 0 welcome, day 1 care, day 2 group invitation if not in a group, day 3 return visit with a "
        "gift, day 30 interest-based push."
    ),
    "trigger": {"kind": "identity_added", "identity_type": "external_userid"},
    "exit": [{"kind": "muted"}],
    "reentry": {"mode": "once"},
    "steps": [
        {"id": "welcome", "name": N_("Welcome"), "channel": "wecom_1v1", "scene": "onboarding", "expires_hours": 6},
        {
            "id": "care",
            "name": N_("Care"),
            "wait": {"days": 1, **DAYTIME},
            "channel": "wecom_1v1",
            "scene": "education",
        },
        {
            "id": "group_invite",
            "name": N_("Group invitation"),
            "wait": {"days": 1, **DAYTIME},
            "condition": {"kind": "in_group", "negate": True},
            "channel": "wecom_1v1",
            "scene": "onboarding",
        },
        {
            "id": "return_visit",
            "name": N_("Return visit with gift"),
            "wait": {"days": 1, **DAYTIME},
            "channel": "wecom_1v1",
            "scene": "first_order",
        },
        {
            "id": "interest_push",
            "name": N_("Interest push"),
            "wait": {"days": 27, **DAYTIME},
            "channel": "wecom_1v1",
            "expires_hours": 48,
        },
    ],
}

FIRST_ORDER: dict[str, Any] = {
    "name": N_("First-order conversion"),
    "description": N_(
        "Visited (clicked) but never ordered: a first-order coupon the next day, a reminder 3 days later."
    ),
    "trigger": {"kind": "event", "event_type": "click", "only_if": [{"kind": "paying", "negate": True}]},
    "exit": [{"kind": "converted"}, {"kind": "muted"}],
    "reentry": {"mode": "every", "days": 30},
    "steps": [
        {
            "id": "coupon",
            "name": N_("First-order coupon"),
            "wait": {"days": 1, **DAYTIME},
            "channel": "wecom_1v1",
            "scene": "first_order",
            "content_type": "promotional",
        },
        {
            "id": "reminder",
            "name": N_("Reminder"),
            "wait": {"days": 3, **DAYTIME},
            "channel": "wecom_1v1",
            "scene": "first_order",
            "condition": {"kind": "opened_previous"},
        },
    ],
}

REACTIVATION: dict[str, Any] = {
    "name": N_("Reactivation"),
    "description": N_(
        "Became silent: a reactivation message; 3 days later openers get interest content, the others a comeback offer."
    ),
    "trigger": {"kind": "stage_entered", "stage": "silent"},
    "exit": [{"kind": "stage_left"}, {"kind": "muted"}],
    "reentry": {"mode": "every", "days": 60},
    "steps": [
        {"id": "hello", "name": N_("We miss you"), "wait": DAYTIME, "channel": "wecom_1v1", "scene": "reactivation"},
        {
            "id": "offer",
            "name": N_("Comeback offer"),
            "wait": {"days": 3, **DAYTIME},
            "branches": [{"when": {"kind": "opened_previous"}, "goto": "interest"}],
            "channel": "wecom_1v1",
            "scene": "reactivation",
            "content_type": "promotional",
        },
        {"id": "interest", "name": N_("Interest content"), "wait": {"days": 4, **DAYTIME}, "channel": "mp_service"},
    ],
}

WIN_BACK: dict[str, Any] = {
    "name": N_("Win-back"),
    "description": N_("Churned: an SMS win-back offer, and a week later a service-account message if still away."),
    "trigger": {"kind": "stage_entered", "stage": "churned"},
    "exit": [{"kind": "converted"}, {"kind": "stage_left"}],
    "reentry": {"mode": "every", "days": 180},
    "steps": [
        {"id": "sms_offer", "name": N_("Win-back offer"), "wait": DAYTIME, "channel": "sms", "scene": "winback"},
        {
            "id": "second_try",
            "name": N_("Second try"),
            "wait": {"days": 7, **DAYTIME},
            "channel": "mp_service",
            "scene": "winback",
        },
    ],
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "new-contact-care": NEW_CONTACT,
    "first-order": FIRST_ORDER,
    "reactivation": REACTIVATION,
    "win-back": WIN_BACK,
}
