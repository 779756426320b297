"""Names a person reads for the codes the product stores (statuses, roles, verdicts, lifecycle stages …).

Taxonomy facets (channels, scenes, kinds, content types) are editable data with their own zh/en names in
the store (``library.taxonomy``); the codes here are fixed by the code that acts on them, so their names
live in the message catalogs. ``label(group, code)`` reads one in the current language; an unknown code is
shown as it is (a new value must never hide a row).
"""

from __future__ import annotations

from contenthub.i18n import N_, gettext, translations

CODES: dict[str, dict[str, str]] = {
    "status": {
        "draft": N_("Draft"),
        "approved": N_("Approved"),
        "archived": N_("Archived"),
        "locked": N_("Locked"),
        "published": N_("Published"),
        "skipped": N_("Skipped"),
        "saved": N_("Saved"),
    },
    "status_action": {
        "draft": N_("Back to draft"),
        "approved": N_("Approve"),
        "skipped": N_("Skip"),
    },
    "exp_status": {
        "draft": N_("Draft"),
        "running": N_("Running"),
        "stopped": N_("Stopped"),
    },
    "exp_change": {
        "strategy": N_("Ranking strategy"),
        "cadence": N_("Cadence rules"),
        "asset": N_("Asset substitution"),
        "journey": N_("Journey variant"),
    },
    "exp_unit": {
        "user": N_("User"),
        "group": N_("Group"),
    },
    "exp_no_exposures": {
        "draft": N_("It is still a draft; start it and the recommender begins assigning units."),
        "running": N_("It is running; waiting for the first traffic."),
        "stopped": N_("It stopped without receiving any traffic."),
    },
    "exp_verdict": {
        "ship": N_("Ship"),
        "keep_running": N_("Keep running"),
        "stop_futility": N_("Stop for futility"),
        "roll_back": N_("Roll back"),
        "fix_setup": N_("Fix the setup"),
    },
    "exp_role": {
        "primary": N_("primary"),
        "secondary": N_("secondary"),
        "guardrail": N_("guardrail"),
        "diagnostic": N_("diagnostic for this kind of change (not in the decision or correction)"),
    },
    "dash_tab": {
        "retention": N_("Retention"),
        "channels": N_("Channel health"),
        "fatigue": N_("Send fatigue"),
        "ltv": N_("LTV"),
    },
    "dash_by": {
        "week": N_("First-seen week"),
        "source": N_("Source channel"),
        "journey": N_("First journey"),
        "tier": N_("Predicted value tier"),
    },
    "ocr": {
        "pending": N_("Waiting to be read"),
        "running": N_("Reading"),
        "failed": N_("Could not be read"),
    },
    "mark": {
        "statutory": N_("Official day off"),
        "workday_adjusted": N_("Adjusted working day"),
        "marketing": N_("Marketing date"),
        "festival": N_("Traditional festival"),
        "solar_term": N_("Solar term"),
    },
    "cap_rule": {
        "max_per_day": N_("Per day"),
        "max_per_week": N_("Per week"),
        "max_per_month": N_("Per month"),
    },
    "facet": {
        "scene": N_("Scene"),
        "channel": N_("Channel"),
        "kind": N_("Kind"),
        "content_type": N_("Content type"),
        "stage": N_("Lifecycle stage"),
        "tags": N_("Tags"),
        "status": N_("Status"),
    },
    # Codes that pure modules (the planner) name in their messages, with no store to read the editable
    # taxonomy names from. The msgid is the code itself (the API's field and value names, which English
    # messages keep); the Chinese catalog gives the name an operator reads.
    "rule": {
        "allowed_weekdays": N_("allowed_weekdays"),
        "windows": N_("windows"),
        "blackout_dates": N_("blackout_dates"),
        "max_per_day": N_("max_per_day"),
        "max_per_week": N_("max_per_week"),
        "max_per_month": N_("max_per_month"),
        "min_gap_minutes": N_("min_gap_minutes"),
        "min_per_week": N_("min_per_week"),
        "target_per_week": N_("target_per_week"),
        "holiday_boost": N_("holiday_boost"),
        "mix": N_("mix"),
        "past": N_("past"),
    },
    "content_type": {
        "educational": N_("educational"),
        "practical": N_("practical"),
        "entertainment": N_("entertainment"),
        "interactive": N_("interactive"),
        "promotional": N_("promotional"),
        "brand_story": N_("brand_story"),
    },
    "channel": {
        "mp_subscription": N_("mp_subscription"),
        "mp_service": N_("mp_service"),
        "wecom_1v1": N_("wecom_1v1"),
        "wecom_group": N_("wecom_group"),
        "moments": N_("moments"),
        "channels": N_("channels"),
        "xiaohongshu": N_("xiaohongshu"),
        "douyin": N_("douyin"),
        "miniprogram": N_("miniprogram"),
        "app_push": N_("app_push"),
        "sms": N_("sms"),
    },
    "scene": {
        "onboarding": N_("onboarding"),
        "first_order": N_("first_order"),
        "repurchase": N_("repurchase"),
        "reactivation": N_("reactivation"),
        "winback": N_("winback"),
        "holiday": N_("holiday"),
        "seeding": N_("seeding"),
        "education": N_("education"),
        "tutorial": N_("tutorial"),
        "membership": N_("membership"),
        "referral": N_("referral"),
        "aftersales": N_("aftersales"),
        "live_preview": N_("live_preview"),
    },
    "plan_action": {
        "plan": N_("Planned"),
        "replan": N_("Re-planned"),
        "edit": N_("Edited"),
        "approve": N_("Approved"),
    },
    "correction": {
        "none": N_("none"),
        "holm": N_("Holm"),
        "bh": N_("Benjamini–Hochberg"),
    },
    "journey_status": {
        "active": N_("Active"),
        "draft": N_("Draft"),
        "paused": N_("Paused"),
        "archived": N_("Archived"),
    },
    "trigger": {
        "user_created": N_("New user created"),
        "identity_added": N_("Identity added (e.g. added on WeCom)"),
        "stage_entered": N_("Entered a lifecycle stage"),
        "event": N_("An event happened"),
        "group_joined": N_("Joined a group"),
        "tag_weight": N_("Tag weight reached"),
        "segment": N_("Entered a segment"),
        "manual": N_("Added by hand"),
    },
    "condition": {
        "converted": N_("converted"),
        "muted": N_("muted or unsubscribed"),
        "event": N_("had an event"),
        "opened_previous": N_("opened the previous message"),
        "clicked_previous": N_("clicked the previous message"),
        "in_group": N_("is in a group"),
        "stage": N_("is in a stage"),
        "stage_left": N_("left the stage it entered with"),
        "tag_weight": N_("tag weight"),
        "segment": N_("is in a segment"),
        "paying": N_("is a paying customer"),
    },
    "group_purpose": {
        "broadcast": N_("Broadcast group"),
        "conversion": N_("Conversion group"),
        "welfare": N_("Welfare group"),
        "community": N_("Community group"),
    },
    "weekday": {
        "0": N_("Mon"),
        "1": N_("Tue"),
        "2": N_("Wed"),
        "3": N_("Thu"),
        "4": N_("Fri"),
        "5": N_("Sat"),
        "6": N_("Sun"),
    },
    "dash_column": {  # the dashboard's table columns (dashboard/tables.py; CSV keeps the codes)
        "cohort": N_("Cohort"),
        "size": N_("Size"),
        "users": N_("Users"),
        "week": N_("Week"),
        "flows": N_("Moves"),
        "channel": N_("Channel"),
        "sends": N_("Sends"),
        "deliveries": N_("Deliveries"),
        "opens": N_("Opens"),
        "clicks": N_("Clicks"),
        "conversions": N_("Conversions"),
        "mutes": N_("Mutes"),
        "unsubscribes": N_("Unsubscribes"),
        "revenue": N_("Revenue"),
        "open_rate": N_("Open rate"),
        "click_rate": N_("Click rate"),
        "conversion_rate": N_("Conversion rate"),
        "per_day": N_("Per day"),
        "per_week": N_("Per week"),
        "per_month": N_("Per month"),
        "note": N_("Note"),
        "facet": N_("Facet"),
        "value": N_("Value"),
        "rank": N_("Rank"),
        "asset_id": N_("Asset ID"),
        "title": N_("Title"),
        "sends_per_week": N_("Sends per user per week"),
        "user_weeks": N_("User-weeks"),
        "open_low": N_("Open rate, low"),
        "open_high": N_("Open rate, high"),
        "mute_rate": N_("Mute rate"),
        "mute_low": N_("Mute rate, low"),
        "mute_high": N_("Mute rate, high"),
        "observed_revenue": N_("Observed revenue"),
        "predicted_revenue": N_("Predicted revenue"),
        "observed_orders": N_("Observed orders"),
        "predicted_orders": N_("Predicted orders"),
        "new": N_("New"),
        "active": N_("Active"),
        "silent": N_("Silent"),
        "churned": N_("Churned"),
        "won_back": N_("Won back"),
    },
    "dash_rank": {"best": N_("Best"), "worst": N_("Worst")},
    "role": {
        "admin": N_("Administrator"),
        "editor": N_("Editor"),
        "viewer": N_("Viewer"),
        "bot": N_("Bot"),
    },
    "tier": {
        "loyal": N_("Loyal"),
        "quality": N_("Quality"),
        "normal": N_("Normal"),
        "low_frequency": N_("Low frequency"),
        "churned": N_("Churned"),
    },
    "event": {
        "served": N_("Served"),
        "delivered": N_("Delivered"),
        "open": N_("Opened"),
        "click": N_("Clicked"),
        "favorite": N_("Favourited"),
        "comment": N_("Commented"),
        "share": N_("Shared"),
        "add_to_cart": N_("Added to cart"),
        "convert": N_("Converted"),
        "mute": N_("Muted"),
        "unsubscribe": N_("Unsubscribed"),
        "delete": N_("Deleted"),
    },
    "identity": {
        "openid": N_("WeChat OpenID"),
        "unionid": N_("WeChat UnionID"),
        "external_userid": N_("WeCom customer ID"),
        "member_id": N_("Member ID"),
        "phone_hash": N_("Phone (hashed)"),
        "phone": N_("Phone"),
        "cookie": N_("Browser cookie"),
    },
    "suggest_signal": {  # the parts of a stored suggestion's ``why`` (library/suggester/scoring.py, in English)
        "description": N_("matches the label's description"),
        "confirmed tags": N_("like assets with this tag confirmed"),
        "label frequency": N_("a frequent label"),
        "weak evidence": N_("weak evidence"),
    },
    "search_match": {
        "text": N_("words match"),
        "similar": N_("similar"),
    },
    "yes_no": {
        "True": N_("Yes"),
        "False": N_("No"),
    },
}


def label(group: str, code: object) -> str:
    names = CODES.get(group, {})
    key = str(code)
    return gettext(names[key]) if key in names else key


def label_in(lang: str, group: str, code: object) -> str:
    """``label`` in a given language (for code that writes both languages side by side)."""
    names = CODES.get(group, {})
    key = str(code)
    return translations(lang).gettext(names[key]) if key in names else key


def why_text(why: str) -> str:
    """A suggestion's stored reason (``"cues: 护眼/眼睛 + description"``) in the current language."""
    parts = []
    for part in why.split(" + "):
        if part.startswith("cues: "):
            parts.append(gettext("cue words: {words}").format(words=part[len("cues: ") :]))
        else:
            parts.append(label("suggest_signal", part))
    return gettext(", ").join(parts)


def match_text(matched: str) -> str:
    """Why a search result matched (library/search.py: ``text``, ``semantic 0.89``, ``similar``)."""
    if matched.startswith("semantic "):
        return gettext("similar in meaning {score}").format(score=matched[len("semantic ") :])
    return label("search_match", matched)


def rule_text(name: str) -> str:
    """A cadence rule's name (``max_per_day``, ``mix.interactive.min``) as a person reads it."""
    if name.startswith("mix.") and name.count(".") == 2:
        _mix, kind, bound = name.split(".")
        text = gettext("{type}: mix minimum") if bound == "min" else gettext("{type}: mix maximum")
        return text.format(type=label("content_type", kind))
    return label("rule", name)


def dash_column(head: str) -> str:
    """A dashboard table's column (``week_3`` is "Week 3")."""
    if head.startswith("week_") and head[5:].isdigit():
        return gettext("Week {n}").format(n=head[5:])
    return label("dash_column", head)


def dash_cell(head: str, value: object) -> str:
    """A dashboard table's cell: codes in code columns named, everything else as it is."""
    if value is None:
        return ""
    if head == "channel":
        return label("channel", value)
    if head == "rank":
        return label("dash_rank", value)
    if head == "facet":
        return label("facet", {"scenes": "scene", "content_types": "content_type"}.get(str(value), value))
    if head == "value":
        return label("content_type", value) if str(value) in CODES["content_type"] else label("scene", value)
    return str(value)
