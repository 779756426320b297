"""The users list's filters (stage, tier, tag, group, source) and the console's segment builder rows,
both expressed as segment rules so a filter counts exactly the users a saved segment would hold.

Why through ``segments``: the same ``members`` evaluation serves the list, its count and saved segments,
so the number above the table can never disagree with the segment built from the same choices.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from contenthub.audience import segments
from contenthub.audience.segments import Condition, Segment, SegmentIn
from contenthub.errors import InvalidError
from contenthub.hub import Hub
from contenthub.i18n import N_, _, gettext

TIERS = ("loyal", "quality", "normal", "low_frequency", "churned")
"""Value tiers, as ``audience.lifecycle`` assigns them."""
BUILDER_FIELDS = ("stage", "tier", "paying", "region", "source_channel", "member_level", "group", "tag", "scene")
"""What a builder row may test; ``tag``/``scene`` become the profile weight conditions ``tag:<x>``/``scene:<x>``."""
BUILDER_OPS = ("eq", "ne", "in", "exists")
FIELD_NAMES = {
    "stage": N_("Lifecycle stage"),
    "tier": N_("Value tier"),
    "paying": N_("Paying"),
    "region": N_("Region"),
    "source_channel": N_("Source"),
    "member_level": N_("Member level"),
    "group": N_("Group"),
    "tag": N_("Tag"),
    "scene": N_("Scene"),
    "type": N_("Content type"),
    "attr": N_("Attribute"),
}
OP_NAMES = {
    "eq": N_("is"),
    "ne": N_("is not"),
    "in": N_("is one of"),
    "exists": N_("has"),
    "gte": N_("at least"),
    "lte": N_("at most"),
}


def field_label(field: str) -> str:
    return gettext(FIELD_NAMES[field]) if field in FIELD_NAMES else field


def op_label(op: str) -> str:
    return gettext(OP_NAMES[op]) if op in OP_NAMES else op


def condition_text(c: Condition) -> str:
    """A stored condition as a person reads it (``tag:护眼 exists`` → 标签 有 护眼)."""
    field, _sep, arg = c.field.replace(".", ":", 1).partition(":")
    value = (
        arg
        if arg
        else ("" if c.value is None else ", ".join(map(str, c.value)) if isinstance(c.value, list) else str(c.value))
    )
    return " ".join(x for x in (field_label(field), op_label(c.op), value) if x)


class UserFilter(BaseModel):
    stage: str = Field(default="", max_length=40)
    tier: str = Field(default="", max_length=40)
    tag: str = Field(default="", max_length=80)
    group: str = Field(default="", max_length=128)
    source: str = Field(default="", max_length=64)

    def active(self) -> bool:
        return any((self.stage, self.tier, self.tag.strip(), self.group, self.source))

    def segment(self) -> Segment:
        conds: list[Condition] = []
        if self.stage:
            conds.append(Condition(field="stage", op="eq", value=self.stage))
        if self.tier:
            conds.append(Condition(field="tier", op="eq", value=self.tier))
        if self.tag.strip():
            conds.append(Condition(field="tag:" + self.tag.strip(), op="exists"))
        if self.group:
            conds.append(Condition(field="group", op="eq", value=self.group))
        if self.source:
            conds.append(Condition(field="source_channel", op="eq", value=self.source))
        return Segment(id="_filter", name="filter", all=conds)


def filtered_users(hub: Hub, f: UserFilter, *, offset: int = 0, limit: int = 50) -> tuple[list[str], int]:
    """One page of matching user ids and the number of all matches (read live, like a segment count)."""
    page: list[str] = []
    total = 0
    for uid in segments.members(hub, f.segment()):
        if offset <= total < offset + limit:
            page.append(uid)
        total += 1
    return page, total


class BuilderRow(BaseModel):
    """One row of the segment builder form, as typed (kept on an error so nothing is retyped)."""

    field: str = ""
    op: str = "eq"
    value: str = ""


def _typed(field: str, op: str, raw: str) -> Any:
    raw = raw.strip()
    if op == "exists":
        return None
    if op == "in":
        parts = [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]
        return [_typed(field, "eq", p) for p in parts]
    if field == "paying":
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no", "是", "否"):
            raise ValueError(_("Paying is yes or no."))
        return raw.lower() in ("true", "1", "yes", "是")
    return raw


def rows_to_segment(name: str, description: str, match: str, rows: list[BuilderRow]) -> SegmentIn:
    """The builder's rows as a segment rule; an error names its row (``row-<n>``) so the page shows it there."""
    conds: list[Condition] = []
    for i, row in enumerate(rows):
        if not row.field and not row.value.strip():
            continue  # an empty row of the form
        where = f"row-{i}"
        if row.field not in BUILDER_FIELDS:
            raise InvalidError(
                _("Choose what this condition tests."), field=where, value=row.field, allowed=list(BUILDER_FIELDS)
            )
        if row.op not in BUILDER_OPS:
            raise InvalidError(_("Choose how to compare."), field=where, value=row.op, allowed=list(BUILDER_OPS))
        if row.op != "exists" and not row.value.strip():
            raise InvalidError(_("Enter a value to compare with."), field=where)
        if row.field in ("tag", "scene"):
            if not row.value.strip() or row.op not in ("exists", "eq"):
                raise InvalidError(
                    _("A tag or scene condition reads 'has' with the tag or scene as its value."), field=where
                )
            conds.append(Condition(field=f"{row.field}:{row.value.strip()}", op="exists"))
            continue
        try:
            value = _typed(row.field, row.op, row.value)
        except ValueError as exc:
            raise InvalidError(str(exc), field=where) from None
        try:
            conds.append(Condition(field=row.field, op=row.op, value=value))
        except ValidationError:
            raise InvalidError(_("This value is not valid."), field=where) from None
    if not conds:
        raise InvalidError(_("Add at least one condition."), field="row-0")
    name = name.strip()
    if not name:
        raise InvalidError(_("Give the segment a name."), field="name")
    if len(name) > 100:
        raise InvalidError(_("At most %(n)s characters.") % {"n": 100}, field="name")
    if len(description) > 1000:
        raise InvalidError(_("At most %(n)s characters.") % {"n": 1000}, field="description")
    return SegmentIn(
        name=name, description=description.strip(), **({"any": conds} if match == "any" else {"all": conds})
    )


def new_segment_id() -> str:
    return "seg-" + secrets.token_hex(4)
