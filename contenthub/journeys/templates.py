"""Default journeys, shipped as editable templates (installed as drafts; editors change anything).

They encode what the brands' operators do by hand today (SOPs in SCRMs such as LinkWeChat): the
assets are not fixed — each send step names a channel and a scene and the recommender picks per user.
Waits count from the previous step; windows keep 1:1 messages inside office hours.
"""

from __future__ import annotations

from typing import Any

DAYTIME = {"window_start": "10:00", "window_end": "20:00"}

NEW_CONTACT: dict[str, Any] = {
    "name": "新客 1:1 关怀 New-contact 1:1 care",
    "description": "加企业微信好友后：当天欢迎，第 1 天关怀，第 2 天未入群则邀请入群，第 3 天回访送礼，第 30 天兴趣推荐。"
                   " Day 0 welcome, day 1 care, day 2 group invitation if not in a group, day 3 return visit with a "
                   "gift, day 30 interest-based push.",
    "trigger": {"kind": "identity_added", "identity_type": "external_userid"},
    "exit": [{"kind": "muted"}],
    "reentry": {"mode": "once"},
    "steps": [
        {"id": "welcome", "name": "欢迎语 Welcome", "channel": "wecom_1v1", "scene": "onboarding",
         "expires_hours": 6},
        {"id": "care", "name": "关怀 Care", "wait": {"days": 1, **DAYTIME}, "channel": "wecom_1v1",
         "scene": "education"},
        {"id": "group_invite", "name": "邀请入群 Group invitation", "wait": {"days": 1, **DAYTIME},
         "condition": {"kind": "in_group", "negate": True}, "channel": "wecom_1v1", "scene": "onboarding"},
        {"id": "return_visit", "name": "回访送礼 Return visit with gift", "wait": {"days": 1, **DAYTIME},
         "channel": "wecom_1v1", "scene": "first_order"},
        {"id": "interest_push", "name": "兴趣推荐 Interest push", "wait": {"days": 27, **DAYTIME},
         "channel": "wecom_1v1", "expires_hours": 48},
    ],
}

FIRST_ORDER: dict[str, Any] = {
    "name": "首单转化 First-order conversion",
    "description": "浏览（点击）过但还没下单：次日发首单券，三天后仍未下单再提醒一次。"
                   " Visited (clicked) but never ordered: a first-order coupon the next day, a reminder 3 days later.",
    "trigger": {"kind": "event", "event_type": "click", "only_if": [{"kind": "paying", "negate": True}]},
    "exit": [{"kind": "converted"}, {"kind": "muted"}],
    "reentry": {"mode": "every", "days": 30},
    "steps": [
        {"id": "coupon", "name": "首单券 First-order coupon", "wait": {"days": 1, **DAYTIME}, "channel": "wecom_1v1",
         "scene": "first_order", "content_type": "promotional"},
        {"id": "reminder", "name": "提醒 Reminder", "wait": {"days": 3, **DAYTIME}, "channel": "wecom_1v1",
         "scene": "first_order", "condition": {"kind": "opened_previous"}},
    ],
}

REACTIVATION: dict[str, Any] = {
    "name": "沉默唤醒 Reactivation",
    "description": "进入沉默期：先发唤醒内容；三天后打开过的推兴趣内容，没打开的发回归福利。"
                   " Became silent: a reactivation message; 3 days later openers get interest content, "
                   "the others a comeback offer.",
    "trigger": {"kind": "stage_entered", "stage": "silent"},
    "exit": [{"kind": "stage_left"}, {"kind": "muted"}],
    "reentry": {"mode": "every", "days": 60},
    "steps": [
        {"id": "hello", "name": "好久不见 We miss you", "wait": DAYTIME, "channel": "wecom_1v1",
         "scene": "reactivation"},
        {"id": "offer", "name": "回归福利 Comeback offer", "wait": {"days": 3, **DAYTIME},
         "branches": [{"when": {"kind": "opened_previous"}, "goto": "interest"}],
         "channel": "wecom_1v1", "scene": "reactivation", "content_type": "promotional"},
        {"id": "interest", "name": "兴趣内容 Interest content", "wait": {"days": 4, **DAYTIME},
         "channel": "mp_service"},
    ],
}

WIN_BACK: dict[str, Any] = {
    "name": "流失挽回 Win-back",
    "description": "进入流失期：短信挽回大礼包，一周后仍未回来再通过服务号发一次。"
                   " Churned: an SMS win-back offer, and a week later a service-account message if still away.",
    "trigger": {"kind": "stage_entered", "stage": "churned"},
    "exit": [{"kind": "converted"}, {"kind": "stage_left"}],
    "reentry": {"mode": "every", "days": 180},
    "steps": [
        {"id": "sms_offer", "name": "挽回礼包 Win-back offer", "wait": DAYTIME, "channel": "sms", "scene": "winback"},
        {"id": "second_try", "name": "再次挽回 Second try", "wait": {"days": 7, **DAYTIME}, "channel": "mp_service",
         "scene": "winback"},
    ],
}

TEMPLATES: dict[str, dict[str, Any]] = {
    "new-contact-care": NEW_CONTACT,
    "first-order": FIRST_ORDER,
    "reactivation": REACTIVATION,
    "win-back": WIN_BACK,
}
