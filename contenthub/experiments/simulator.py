"""A synthetic experiment through the real pipeline, with a true effect we chose: does the report find it?

Pipeline, in the order production runs it: an experiment is created and started (``service``); users
arrive over several days and ask for content (``recommend.service.next_for_user``), which assigns them
through ``runtime.strategy_override`` and logs their exposure; their behaviour is drawn from known
probabilities — the treatment multiplies the click probability by ``1 + lift`` — and sent back as
delivered/open/click/convert/unsubscribe events through ``recommend.events.ingest``; the report is
then built from the store like any other (``report.build_report``).

Truth, for comparing with the report: per delivery a unit opens with ``p_open`` and clicks with
``p_click_given_open`` (× (1 + lift) in treatment), so clicks per delivery has exactly the relative
lift ``lift``; each unit receives ``sends`` deliveries, so per-unit click-through is
``1 − (1 − p_open · p_click)^sends`` and its true lift follows from that (:meth:`SimConfig.true_lifts`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from contenthub.audience import users
from contenthub.experiments import service
from contenthub.experiments.models import ExperimentCreate, Variant
from contenthub.experiments.report import Report, build_report
from contenthub.hub import Hub
from contenthub.library.models import Asset
from contenthub.library.service import save_built_assets
from contenthub.recommend import events
from contenthub.recommend.service import next_for_user
from contenthub.timeutil import to_iso, utcnow

INGEST_BATCH = 5000


@dataclass(frozen=True)
class SimConfig:
    key: str = "sim"
    users: int = 4000
    days: int = 5
    sends: int = 2
    """Deliveries per user, on consecutive days."""
    p_open: float = 0.4
    p_click_given_open: float = 0.25
    lift: float = 0.10
    """True relative lift of the click probability in the treatment."""
    p_convert_given_click: float = 0.2
    mean_order_value: float = 120.0
    p_unsubscribe: float = 0.004
    control_strategy: str = "default"
    treatment_strategy: str = "popular"
    channel: str = "app_push"
    assets: int = 40
    seed: int = 7
    sequential: bool = False
    secondary_metrics: tuple[str, ...] = ("clicks_per_delivery", "conversion_rate", "revenue_per_unit")

    def unit_ctr(self, lift: float) -> float:
        q = self.p_open * self.p_click_given_open * (1 + lift)
        return 1 - (1 - q) ** self.sends

    def true_lifts(self) -> dict[str, float]:
        """True relative lifts of the report's metrics (treatment over control)."""
        return {"ctr": self.unit_ctr(self.lift) / self.unit_ctr(0.0) - 1, "clicks_per_delivery": self.lift}


@dataclass
class SimResult:
    config: SimConfig
    true_lift: dict[str, float]
    units: dict[str, int]
    estimated_lift: float | None
    ci: tuple[float | None, float | None]
    p_value: float | None
    detected: bool
    ci_covers_truth: bool
    srm_p_value: float | None
    events: int
    seconds: float
    report: Report

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("report")
        out["summary"] = self.report.summary.get("en", [])
        return out


def _ensure_assets(hub: Hub, cfg: SimConfig, now: datetime) -> None:
    """Synthetic approved assets on the simulated channel, so every user gets picks for every send."""
    stamp = to_iso(now - timedelta(days=cfg.days + 30))
    docs = []
    for i in range(cfg.assets):
        aid = f"sim-asset-{i:03d}"
        if hub.store.get_asset(aid) is None:
            docs.append(
                Asset(
                    id=aid,
                    title=f"模拟素材 {i:03d}",
                    body="simulated",
                    kind="article",
                    content_type=("educational", "practical", "promotional")[i % 3],
                    scenes=["education"],
                    channels=[cfg.channel],
                    tags=[f"sim{i % 5}"],
                    status="approved",
                    created_at=stamp,
                    updated_at=stamp,
                ).model_dump(mode="json")
            )
    save_built_assets(hub, docs)


def _events_for(
    rng: np.random.Generator,
    cfg: SimConfig,
    uid: str,
    asset_id: str,
    rec_id: str,
    at: datetime,
    treated: bool,
    tag: str,
) -> list[dict[str, Any]]:
    base = {"user_id": uid, "asset_id": asset_id, "channel": cfg.channel, "recommendation_id": rec_id}
    out: list[dict[str, Any]] = [
        {**base, "id": f"{tag}-d", "type": "delivered", "ts": to_iso(at + timedelta(minutes=1))}
    ]
    if rng.random() < cfg.p_unsubscribe:
        out.append(
            {
                "id": f"{tag}-u",
                "type": "unsubscribe",
                "user_id": uid,
                "channel": cfg.channel,
                "ts": to_iso(at + timedelta(minutes=2)),
            }
        )
    if rng.random() >= cfg.p_open:
        return out
    out.append({**base, "id": f"{tag}-o", "type": "open", "ts": to_iso(at + timedelta(minutes=5))})
    if rng.random() >= cfg.p_click_given_open * ((1 + cfg.lift) if treated else 1.0):
        return out
    out.append({**base, "id": f"{tag}-c", "type": "click", "ts": to_iso(at + timedelta(minutes=6))})
    if rng.random() < cfg.p_convert_given_click:
        value = round(float(rng.exponential(cfg.mean_order_value)), 2)
        out.append(
            {**base, "id": f"{tag}-v", "type": "convert", "value": value, "ts": to_iso(at + timedelta(minutes=30))}
        )
    return out


def run_simulation(hub: Hub, cfg: SimConfig, *, now: datetime | None = None) -> SimResult:
    """Create, start and feed one experiment, then report on it (see the module docstring)."""
    t0 = time.perf_counter()
    now = now or utcnow()
    rng = np.random.default_rng(cfg.seed)
    start = (now - timedelta(days=cfg.days)).replace(minute=0, second=0, microsecond=0)
    _ensure_assets(hub, cfg, now)
    service.create_experiment(
        hub,
        ExperimentCreate(
            key=cfg.key,
            name="Simulated ranking experiment",
            unit="user",
            change="strategy",
            hypothesis=f"'{cfg.treatment_strategy}' ranking raises click-through (simulated true lift {cfg.lift:+.0%}).",
            variants=[
                Variant(name="control", weight=0.5, strategy=cfg.control_strategy),
                Variant(name="treatment", weight=0.5, strategy=cfg.treatment_strategy),
            ],
            primary_metric="ctr",
            secondary_metrics=list(cfg.secondary_metrics),
            guardrail_metrics=["unsubscribe_rate"],
            sequential=cfg.sequential,
        ),
        actor="simulator",
    )
    service.start_experiment(hub, cfg.key, now=start)

    arrival_days = max(cfg.days - cfg.sends + 1, 1)
    ids = [f"{cfg.key}-u{i:06d}" for i in range(cfg.users)]
    for uid in ids:
        users.ensure_user(hub, uid, at=to_iso(start))
    schedule: dict[int, list[tuple[str, int]]] = {}
    for i, uid in enumerate(ids):
        first = i % arrival_days
        for k in range(cfg.sends):
            if first + k < cfg.days:
                schedule.setdefault(first + k, []).append((uid, k))
    total_events = 0
    for day in sorted(schedule):
        batch: list[dict[str, Any]] = []
        for uid, k in schedule[day]:
            at = start + timedelta(days=day, hours=float(rng.uniform(8, 20)))
            rec = next_for_user(hub, uid, cfg.channel, n=1, now=at, seed=int(rng.integers(2**31)))
            if not rec.picks:
                continue
            treated = bool(rec.variant and rec.variant.endswith(":treatment"))
            pick = rec.picks[0]
            batch.extend(
                _events_for(rng, cfg, uid, pick.asset_id, pick.recommendation_id, at, treated, f"{cfg.key}-{uid}-{k}")
            )
        for i in range(0, len(batch), INGEST_BATCH):
            result = events.ingest(hub, batch[i : i + INGEST_BATCH])
            total_events += result.accepted
    report = build_report(hub, cfg.key, now=now)
    truth = cfg.true_lifts()
    row = report.metric("ctr").rows[1] if report.has_exposures else None
    low = row.rel_ci_low if row else None
    high = row.rel_ci_high if row else None
    return SimResult(
        config=cfg,
        true_lift=truth,
        units=report.units,
        estimated_lift=row.rel_diff if row else None,
        ci=(low, high),
        p_value=row.p_value if row else None,
        detected=bool(row and row.significant and row.direction == "good"),
        ci_covers_truth=bool(low is not None and high is not None and low <= truth["ctr"] <= high),
        srm_p_value=report.srm.p_value if report.srm else None,
        events=total_events,
        seconds=round(time.perf_counter() - t0, 2),
        report=report,
    )
