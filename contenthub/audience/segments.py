"""Segments: saved rule filters over profile tags, attributes, lifecycle stage, tier and groups.

A rule is data (JSON), validated here, so editors build segments without code and the planner and
the batch endpoint use them as audiences.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contenthub.audience import groups, users
from contenthub.audience.profiles import load_profile
from contenthub.errors import NotFoundError
from contenthub.hub import Hub
from contenthub.i18n import _
from contenthub.timeutil import utcnow

COLLECTION = "segments"
PLAIN_FIELDS = ("stage", "tier", "paying", "region", "source_channel", "member_level", "group")


class Condition(BaseModel):
    field: str = Field(
        description="stage, tier, paying, region, source_channel, member_level, group, "
        "attr.<name>, or a profile tag weight: tag:<tag>, scene:<scene>, type:<content type>"
    )
    op: Literal["eq", "ne", "in", "gte", "lte", "exists"] = "eq"
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known(cls, v: str) -> str:
        if v in PLAIN_FIELDS or v.startswith(("attr.", "tag:", "scene:", "type:")):
            return v
        raise ValueError(
            _(
                "unknown field '{v}'; use one of {PLAIN_FIELDS}, attr.<name>, tag:<tag>, scene:<scene> or type:<content type>"
            ).format(v=v, PLAIN_FIELDS=", ".join(PLAIN_FIELDS))
        )

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        # checked when the segment is saved: a rule that cannot be evaluated would otherwise fail every
        # count, listing and plan that uses the segment
        if self.op == "in" and not (isinstance(self.value, list) and all(_scalar(v) for v in self.value)):
            raise ValueError(
                _('value: op \'in\' needs a list of values, e.g. ["上海", "北京"]; got {value!r}').format(
                    value=self.value
                )
            )
        if self.op in ("gte", "lte") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float) or not _scalar(self.value)
        ):
            raise ValueError(_("value: op '{op}' needs a number; got {value!r}").format(op=self.op, value=self.value))
        if self.op in ("eq", "ne") and not _scalar(self.value):
            raise ValueError(
                _("value: op '{op}' needs a single value (text, number, true/false or null); got {value!r}").format(
                    op=self.op, value=self.value
                )
            )
        return self


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value))


class SegmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    all: list[Condition] = Field(default_factory=list, max_length=50)
    any: list[Condition] = Field(default_factory=list, max_length=50)


class Segment(SegmentIn):
    id: str


class SegmentCount(BaseModel):
    segment: Segment
    count: int
    sample: list[str] = Field(default_factory=list)


def put_segment(hub: Hub, segment_id: str, data: SegmentIn) -> Segment:
    seg = Segment(id=segment_id, **data.model_dump())
    hub.store.put_doc(COLLECTION, segment_id, seg.model_dump())
    return seg


def get_segment(hub: Hub, segment_id: str) -> Segment:
    doc = hub.store.get_doc(COLLECTION, segment_id)
    if doc is None:
        raise NotFoundError(
            _("No segment '{segment_id}'.").format(segment_id=segment_id), field="segment_id", value=segment_id
        )
    return Segment.model_validate(doc)


def _value(field: str, user: dict[str, Any], facts: dict[str, Any]) -> Any:
    if field in ("stage", "tier", "paying"):
        return facts["status"].get(field)
    if field == "group":
        return facts["groups"]
    if field.startswith("attr."):
        return (user.get("attributes") or {}).get(field[5:])
    if field.startswith(("tag:", "scene:", "type:")):
        prefix = {"tag": "t:", "scene": "s:", "type": "c:"}[field.split(":", 1)[0]]
        return facts["weights"].get(prefix + field.split(":", 1)[1], 0.0)
    return user.get(field)


def _holds(c: Condition, value: Any) -> bool:
    if c.op == "exists":
        return value not in (None, [], "", 0.0)
    if isinstance(value, list):  # group membership
        if c.op == "in":
            return any(v in (c.value or []) for v in value)
        return (c.value in value) == (c.op == "eq")
    if c.op == "eq":
        return value == c.value
    if c.op == "ne":
        return value != c.value
    if c.op == "in":
        return value in (c.value or [])
    try:
        if c.op == "gte":
            return value is not None and float(value) >= float(c.value)
        return value is not None and float(value) <= float(c.value)
    except (TypeError, ValueError):
        return False


def matches(seg: Segment, user: dict[str, Any], facts: dict[str, Any]) -> bool:
    if seg.all and not all(_holds(c, _value(c.field, user, facts)) for c in seg.all):
        return False
    if seg.any and not any(_holds(c, _value(c.field, user, facts)) for c in seg.any):
        return False
    return True


def _needs(seg: Segment) -> set[str]:
    fields = {c.field for c in [*seg.all, *seg.any]}
    need = set()
    if fields & {"stage", "tier", "paying"} or any(f.startswith(("tag:", "scene:", "type:")) for f in fields):
        need.add("profile")
    if "group" in fields:
        need.add("groups")
    return need


def members(hub: Hub, seg: Segment, *, limit: int = 1_000_000) -> Iterator[str]:
    """Users matching the segment, evaluated live (profiles are read only when a rule needs them)."""
    need = _needs(seg)
    now = utcnow()
    membership: dict[str, list[str]] = {}
    if "groups" in need:
        for g in groups.list_groups(hub, limit=100000):
            for uid in groups.current_members(g):
                membership.setdefault(uid, []).append(g.id)
    found = 0
    if limit <= 0:
        return
    for user in users.iter_users(hub):
        facts: dict[str, Any] = {"status": {}, "weights": {}, "groups": membership.get(user["id"], [])}
        if "profile" in need:
            p = load_profile(hub, user_id=user["id"], user_doc=user, now=now)
            facts["status"], facts["weights"] = p.status, p.weights
        if matches(seg, user, facts):
            found += 1
            yield user["id"]
            if found >= limit:
                return


def count(hub: Hub, seg: Segment, *, sample: int = 10) -> SegmentCount:
    ids: list[str] = []
    n = 0
    for uid in members(hub, seg):
        n += 1
        if len(ids) < sample:
            ids.append(uid)
    return SegmentCount(segment=seg, count=n, sample=ids)


def list_with_counts(hub: Hub) -> list[SegmentCount]:
    return [count(hub, Segment.model_validate(d), sample=0) for d in hub.store.list_docs(COLLECTION)]
