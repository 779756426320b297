"""Property tests of the planner (issue 21): for random rule sets, libraries with random campaign windows and
channel tags, random "now" instants and time zones, no slot is ever in the past, out of its asset's window,
on a channel its asset is not tagged for, or over a cap.

Hypothesis drives the seed of the rule-set generator shared with test_planner_rules (whose independent cap
checker is reused), the library and the "now"; examples run are counted and printed (bench/RESULTS.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from contenthub.occasions import dates_in_week
from contenthub.publish.planner import Pick, PickRequest, check_slot_move, plan_week
from contenthub.publish.rules import CHANNELS, CONTENT_TYPES
from tests.test_planner_rules import ZONES, assert_plan_obeys_rules, random_case

COUNTS = {"plans": 0, "slots": 0, "moves": 0, "moves_refused_past": 0}


@dataclass(frozen=True)
class LibAsset:
    id: str
    content_type: str
    channels: frozenset[str]
    valid_from: datetime | None
    valid_until: datetime | None

    def eligible(self, request: PickRequest) -> bool:
        """What the production picker asks of an asset (recommend.ranking.candidate_mask): channel, window."""
        start = request.start
        return (
            request.channel in self.channels
            and self.content_type == request.content_type
            and (self.valid_from is None or self.valid_from <= start)
            and (self.valid_until is None or start < self.valid_until)
            and self.id not in request.exclude_asset_ids
        )


def random_library(rng: random.Random, week_start: datetime) -> list[LibAsset]:
    assets = []
    for i in range(rng.randint(0, 80)):
        vf = vu = None
        if rng.random() < 0.6:
            vf = week_start + timedelta(hours=rng.randint(-72, 24 * 8))
            vu = vf + timedelta(hours=rng.randint(1, 24 * 5))
        elif rng.random() < 0.3:
            vf = week_start + timedelta(hours=rng.randint(-24, 24 * 7))
        assets.append(
            LibAsset(f"x{i}", rng.choice(CONTENT_TYPES), frozenset(rng.sample(CHANNELS, rng.randint(1, 4))), vf, vu)
        )
    return assets


def library_picker(assets: list[LibAsset]):  # type: ignore[no-untyped-def]
    requests: list[PickRequest] = []

    def pick(request: PickRequest) -> Pick | None:
        requests.append(request)
        found = next((a for a in assets if a.eligible(request)), None)
        return None if found is None else Pick(asset_id=found.id, title=found.id)

    pick.requests = requests  # type: ignore[attr-defined]
    return pick


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    now_offset_hours=st.integers(-48, 24 * 9),
    now_zone=st.sampled_from(ZONES),
    minute=st.integers(0, 59),
)
def test_no_slot_in_the_past_out_of_window_off_channel_or_over_a_cap(
    seed: int, now_offset_hours: int, now_zone: str, minute: int
) -> None:
    rng = random.Random(seed)
    case = random_case(rng)
    case["refuse"] = set()
    week = case["week"]
    zone = ZoneInfo(now_zone)
    now = datetime(week.year, week.month, week.day, tzinfo=zone) + timedelta(hours=now_offset_hours, minutes=minute)
    assets = random_library(rng, datetime(week.year, week.month, week.day, tzinfo=UTC))
    by_id = {a.id: a for a in assets}
    holidays = dates_in_week(week)
    picker = library_picker(assets)
    result = plan_week(
        week, case["rules"], case["audiences"], None, holidays, case["locked"], picker, case["sent"], not_before=now
    )
    COUNTS["plans"] += 1
    new = [s for s in result.slots if not s.locked]
    COUNTS["slots"] += len(new)
    for slot in new:
        assert slot.start >= now, ("past", slot.start, now)
        asset = by_id[slot.asset_id]
        assert slot.channel in asset.channels, ("off channel", slot)
        assert asset.valid_from is None or asset.valid_from <= slot.start, ("before window", slot)
        assert asset.valid_until is None or slot.start < asset.valid_until, ("after window", slot)
    assert_plan_obeys_rules(case, result, holidays, picker)  # every cap, with its own counting code
    # a random move is refused when it lands in the past
    if new:
        slot = rng.choice(new)
        target = now + timedelta(hours=rng.randint(-72, 72))
        found = check_slot_move(result.slots, slot.id, target, case["rules"], case["sent"], holidays, not_before=now)
        COUNTS["moves"] += 1
        assert (target < now) == any(v.rule == "past" for v in found)
        COUNTS["moves_refused_past"] += int(target < now)


def test_zz_report_counts() -> None:
    """Prints the examples run (read by the bench notes); runs after the property test in file order."""
    print(f"planner properties: {COUNTS}")
    assert COUNTS["plans"] == 0 or COUNTS["slots"] > 0
