"""The experiment report: per metric a row per variant vs control, health checks, a cumulative daily
series and a plain-language summary — everything the page, the JSON and the CSV show.

Order of trust: health first (a sample ratio mismatch makes every other number suspect), then the
primary metric, then guardrails, then secondary metrics. With ``correction`` set, p-values are adjusted
across every (metric, variant) comparison and "significant" follows the adjusted value (``p_adjusted``);
confidence intervals stay unadjusted.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from contenthub.experiments import journey_metrics, service
from contenthub.experiments.journey_metrics import VariantFunnel
from contenthub.experiments.metrics import (
    CHANGE_METRICS,
    METRICS,
    AnalysisUnits,
    Metric,
    UnitTable,
    analysis_units,
    build_table,
    cuped_variant_stats,
    variant_stats,
)
from contenthub.experiments.models import Correction, Experiment
from contenthub.experiments.progress import PlanStatus, plan_status
from contenthub.experiments.stats import (
    Comparison,
    benjamini_hochberg,
    compare,
    holm,
    plain_language,
    srm_check,
)
from contenthub.experiments.stats import formatting as fmt
from contenthub.experiments.stats.decision import (
    ArmEvidence,
    GuardrailEvidence,
    PlanFacts,
    decide,
)
from contenthub.experiments.stats.sufficient import (
    CupedStats,
    MeanStats,
    Suff,
    variance_reduction,
)
from contenthub.hub import Hub
from contenthub.timeutil import to_iso, utcnow

MIN_UNITS_PER_VARIANT = 100
"""Below this many units in any variant the report warns that there is too little data."""
MIN_EVENTS_PER_VARIANT = 10
"""... or when the primary metric has fewer successes (binomial/ratio numerators) than this in a variant."""
MULTIPLE_EXPOSURE_WARN_SHARE = 0.01
"""Units seen in two variants are always excluded; above this share of exposed units it is a warning."""

Role = Literal["primary", "secondary", "guardrail", "diagnostic"]
"""'diagnostic': a metric of the kind of change (sends per unit for cadence, journey completion for journeys)
shown beside the plan's own metrics, outside the correction family and the decision."""


def _f(x: float | None) -> float | None:
    """JSON has no NaN or infinity: undefined numbers become null."""
    return None if x is None or not math.isfinite(x) else float(x)


class VariantRow(BaseModel):
    variant: str
    is_control: bool
    units: int
    value: float | None = Field(description="Per-unit mean (share for 0/1 metrics), or Σclicks/Σdeliveries.")
    numerator: float = Field(description="Units with the event (0/1 metrics), total revenue, or total clicks.")
    denominator: float = Field(description="Units, or total deliveries for the ratio metric.")
    abs_diff: float | None = None
    abs_ci_low: float | None = None
    abs_ci_high: float | None = None
    rel_diff: float | None = None
    rel_ci_low: float | None = None
    rel_ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    chance_to_beat_control: float | None = None
    expected_loss: float | None = None
    significant: bool | None = None
    direction: Literal["good", "bad", "neutral"] | None = None
    interval_level: float | None = Field(
        default=None,
        description=(
            "Confidence level of both intervals: 1 − α, or higher under a correction so they agree with p_adjusted."
        ),
    )
    note: str | None = Field(default=None, description="Why a treatment row has no statistics.")


class MetricResult(BaseModel):
    metric: str
    role: Role
    name: str
    name_zh: str
    kind: Literal["binomial", "mean", "ratio"]
    higher_is_better: bool
    rows: list[VariantRow]
    cuped: bool = Field(default=False, description="Differences are CUPED-adjusted by the pre-period value.")
    variance_reduction: float | None = Field(default=None, description="Share of variance CUPED removed.")


class HealthFlag(BaseModel):
    code: Literal["srm", "too_little_data", "multiple_exposures"]
    level: Literal["warning", "info"]
    message: str
    message_zh: str


class SrmOut(BaseModel):
    observed: dict[str, int]
    expected: dict[str, float]
    chi_square: float | None
    p_value: float
    warn: bool


class SeriesPoint(BaseModel):
    day: date = Field(description="Last local day of the period; values are cumulative up to its end.")
    units: dict[str, int]
    values: dict[str, float | None]
    rel_diff: dict[str, float | None] = Field(default_factory=dict)
    rel_ci: dict[str, tuple[float, float] | None] = Field(default_factory=dict)


class Series(BaseModel):
    metric: str
    points: list[SeriesPoint]


class CheckOut(BaseModel):
    code: str
    passed: bool
    message: str
    message_zh: str


class DecisionOut(BaseModel):
    verdict: Literal["ship", "keep_running", "stop_futility", "roll_back", "fix_setup"]
    variant: str | None = Field(description="The variant to ship or roll back, if any.")
    rule: str = Field(description="The rule that produced the verdict, in words.")
    rule_zh: str
    checks: list[CheckOut]
    chance_to_beat_control: float | None = Field(description="Bayesian, of the chosen variant's primary metric.")
    expected_loss: float | None = Field(description="Of shipping it, as a fraction of the control value.")
    per_variant: dict[str, str]


class Report(BaseModel):
    experiment: Experiment
    generated_at: str
    has_exposures: bool
    window_start: str | None = None
    window_end: str | None = None
    alpha: float
    sequential: bool = Field(description="The analysis this report ran (the plan's, unless exploratory).")
    correction: Correction
    exploratory: bool = Field(
        default=False,
        description=(
            "A 'what if' view with another analysis than the one fixed at creation: read-only, gives no decision."
        ),
    )
    plan: PlanStatus | None = None
    decision: DecisionOut | None = Field(
        default=None,
        description=(
            "Ship / keep running / stop for futility / roll back / fix the setup, with its rule; none in an exploratory view."
        ),
    )
    decision_note: str | None = None
    decision_note_zh: str | None = None
    exposures: int
    units: dict[str, int] = Field(default_factory=dict, description="Analysed units per variant.")
    excluded_units: int = 0
    events_used: int = 0
    srm: SrmOut | None = None
    health: list[HealthFlag] = Field(default_factory=list)
    metrics: list[MetricResult] = Field(default_factory=list)
    summary: dict[str, list[str]] = Field(default_factory=dict, description="Sentences in 'en' and 'zh'.")
    timeseries: list[Series] = Field(default_factory=list)
    journey_funnels: list[VariantFunnel] = Field(
        default_factory=list,
        description=(
            "Journey experiments: per variant, the share of units that reached each step of the journey it ran."
        ),
    )

    def metric(self, metric_id: str) -> MetricResult:
        return next(m for m in self.metrics if m.metric == metric_id)


def _numerator_denominator(stats: Suff) -> tuple[float, float]:
    if isinstance(stats, MeanStats):
        return stats.sum, float(stats.n)
    if isinstance(stats, CupedStats):
        return stats.post.sum, float(stats.n)
    return stats.sum, stats.denominator_sum


def _observed(stats: Suff) -> float:
    """The value a person sees for a variant: the raw mean (CUPED changes differences, not the display)."""
    return stats.post.mean if isinstance(stats, CupedStats) else stats.estimate


def _analysed(exp: Experiment, table: UnitTable, metric: Metric, period: int = -1) -> list[Suff]:
    """The statistics a metric is compared on: CUPED-adjusted when the plan says so and the data allow."""
    raw = variant_stats(table, metric, len(exp.variants), period)
    if not exp.cuped:
        return raw
    adjusted = cuped_variant_stats(table, metric, len(exp.variants), period)
    return list(adjusted) if adjusted is not None else raw


def _compare(
    metric: Metric, control: Suff, treatment: Suff, alpha: float, sequential: bool, interval_alpha: float | None = None
) -> Comparison:
    return compare(
        control,
        treatment,
        metric.kind,
        metric.higher_is_better,
        alpha=alpha,
        sequential=sequential,
        nonnegative=metric.nonnegative,
        interval_alpha=interval_alpha,
    )


def _row_numbers(comp: Comparison) -> dict[str, object]:
    """A treatment row's statistics from its comparison (JSON-safe: no NaN)."""
    return {
        "abs_diff": _f(comp.abs_diff),
        "abs_ci_low": _f(comp.abs_ci[0]),
        "abs_ci_high": _f(comp.abs_ci[1]),
        "rel_diff": _f(comp.rel_diff),
        "rel_ci_low": _f(comp.rel_ci[0]) if comp.rel_ci else None,
        "rel_ci_high": _f(comp.rel_ci[1]) if comp.rel_ci else None,
        "p_value": _f(comp.p_value),
        "p_adjusted": _f(comp.p_value),
        "chance_to_beat_control": _f(comp.chance_to_beat_control),
        "expected_loss": _f(comp.expected_loss),
        "significant": comp.significant,
        "direction": comp.direction,
        "interval_level": 1 - comp.alpha,
    }


def _rows(
    exp: Experiment, metric: Metric, stats: list[Suff], alpha: float, sequential: bool
) -> tuple[list[VariantRow], list[Comparison | None]]:
    rows, comps = [], []
    for i, (variant, s) in enumerate(zip(exp.variants, stats, strict=True)):
        num, den = _numerator_denominator(s)
        row = VariantRow(
            variant=variant.name, is_control=i == 0, units=s.n, value=_f(_observed(s)), numerator=num, denominator=den
        )
        comp = None
        if i > 0:
            try:
                comp = _compare(metric, stats[0], s, alpha, sequential)
            except ValueError as err:
                row.note = (
                    str(err)
                    .replace("control:", f"{exp.variants[0].name} (control):", 1)
                    .replace("treatment:", f"{variant.name}:", 1)
                )
            else:
                row = row.model_copy(update=_row_numbers(comp))
            comps.append(comp)
        rows.append(row)
    return rows, comps


def _adjust(
    results: list[tuple[MetricResult, list[Comparison | None]]],
    correction: str,
    alpha: float,
    stats: dict[str, list[Suff]],
    sequential: bool,
) -> list[tuple[MetricResult, list[Comparison | None]]]:
    """Holm or BH across every (metric, treatment) comparison; rows and comparisons follow the
    adjusted p-value so the summary never calls something significant that the table does not.

    The intervals follow it too: comparison i is redrawn at the level α·pᵢ/p̃ᵢ (p̃ the adjusted
    p-value), which excludes 0 exactly when p̃ᵢ < α -- Bonferroni's α/m when every p-value is
    scaled by m, and the step-wise equivalent for Holm and BH. So a dot drawn significant on the
    chart never sits on an interval crossing zero, whatever the correction."""
    if correction == "none":
        return results
    slots = [(mi, ri) for mi, (_, comps) in enumerate(results) for ri, c in enumerate(comps) if c is not None]
    raw = [results[mi][1][ri].p_value for mi, ri in slots]  # type: ignore[union-attr]
    adjusted = holm(raw) if correction == "holm" else benjamini_hochberg(raw)
    for (mi, ri), p, p_adj in zip(slots, raw, adjusted, strict=True):
        metric_result, comps = results[mi]
        metric = METRICS[metric_result.metric]
        level = alpha * p / p_adj if p > 0 and p_adj > 0 else alpha / max(len(slots), 1)
        arms = stats[metric.id]
        comp = _compare(metric, arms[0], arms[ri + 1], alpha, sequential, interval_alpha=min(level, alpha))
        significant = p_adj < alpha
        direction = comp.direction if significant else "neutral"
        if significant and direction == "neutral" and comp.abs_diff != 0:
            direction = "good" if (comp.abs_diff > 0) == comp.higher_is_better else "bad"
        comp = replace(comp, significant=significant, direction=direction)
        comps[ri] = comp
        row = metric_result.rows[ri + 1]
        metric_result.rows[ri + 1] = row.model_copy(update={**_row_numbers(comp), "p_adjusted": p_adj})
    return results


def _srm(exp: Experiment, counts: list[int]) -> SrmOut:
    res = srm_check(counts, [v.weight for v in exp.variants])
    return SrmOut(
        observed={v.name: c for v, c in zip(exp.variants, counts, strict=True)},
        expected={v.name: e for v, e in zip(exp.variants, res.expected, strict=True)},
        chi_square=_f(res.chi_square),
        p_value=res.p_value,
        warn=res.warn,
    )


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _health(
    exp: Experiment, units: AnalysisUnits, counts: list[int], srm: SrmOut, primary: MetricResult
) -> list[HealthFlag]:
    flags: list[HealthFlag] = []
    if srm.warn:
        split = " / ".join(f"{name} {n}" for name, n in srm.observed.items())
        want = " / ".join(f"{v.weight:g}" for v in exp.variants)
        flags.append(
            HealthFlag(
                code="srm",
                level="warning",
                message=f"Sample ratio mismatch: units split {split}, configured {want} (chi-square p = {srm.p_value:.2g}). "
                "Something drops or duplicates units in one arm; do not trust the results until it is fixed.",
                message_zh=f"样本比例失衡：实际分流 {split}，配置为 {want}（卡方检验 p = {srm.p_value:.2g}）。"
                "某个分组在丢失或重复计入单位，修复前请勿采信结果。",
            )
        )
    low_units = [f"{v.name} ({n})" for v, n in zip(exp.variants, counts, strict=True) if n < MIN_UNITS_PER_VARIANT]
    low_events = [
        f"{r.variant} ({r.numerator:g})"
        for r in primary.rows
        if primary.kind != "mean" and r.numerator < MIN_EVENTS_PER_VARIANT
    ]
    if low_units or low_events:
        parts_en, parts_zh = [], []
        if low_units:
            parts_en.append(f"fewer than {MIN_UNITS_PER_VARIANT} units in {', '.join(low_units)}")
            parts_zh.append(f"{', '.join(low_units)} 的单位少于 {MIN_UNITS_PER_VARIANT} 个")
        if low_events:
            parts_en.append(f"fewer than {MIN_EVENTS_PER_VARIANT} events of {primary.name} in {', '.join(low_events)}")
            parts_zh.append(f"{', '.join(low_events)} 的{primary.name_zh}事件少于 {MIN_EVENTS_PER_VARIANT} 个")
        flags.append(
            HealthFlag(
                code="too_little_data",
                level="warning",
                message="Too little data to read yet: " + "; ".join(parts_en) + ".",
                message_zh="数据量还不足以下结论：" + "；".join(parts_zh) + "。",
            )
        )
    if units.multiple:
        share = len(units.multiple) / max(units.exposures, 1)
        flags.append(
            HealthFlag(
                code="multiple_exposures",
                level="warning" if share > MULTIPLE_EXPOSURE_WARN_SHARE else "info",
                message=f"{len(units.multiple)} units ({_pct(share)}) were exposed to more than one variant and are "
                "left out of every metric.",
                message_zh=f"{len(units.multiple)} 个单位（{_pct(share)}）接触过多个版本，已从所有指标中排除。",
            )
        )
    return flags


def _guardrail_clause(metric: Metric, comp: Comparison, lang: str) -> str:
    """'guardrail unsubscribe rate worsened by 30% (95% CI [+8.0%, +52%])' for a significant harm;
    the same numbers, in the same form, as the table and the chart."""
    level = f"{(1 - comp.alpha) * 100:g}%"
    if comp.rel_diff is not None and comp.rel_ci is not None and comp.mean_control > 0:
        size = fmt.pct(abs(comp.rel_diff), signed=False)
        ci = fmt.interval(fmt.pct(comp.rel_ci[0]), fmt.pct(comp.rel_ci[1]))
    else:
        size = fmt.diff(metric.kind, abs(comp.abs_diff), lang, signed=False)
        ci = fmt.interval(fmt.diff(metric.kind, comp.abs_ci[0], lang), fmt.diff(metric.kind, comp.abs_ci[1], lang))
    if lang == "zh":
        return f"护栏指标{metric.zh}变差 {size}（{level} 置信区间 {ci}）"
    return f"guardrail {metric.en} worsened by {size} ({level} CI {ci})"


def _summary(
    exp: Experiment, results: list[tuple[MetricResult, list[Comparison | None]]], flags: list[HealthFlag]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"en": [], "zh": []}
    for flag in flags:
        if flag.level == "warning":
            out["en"].append(flag.message)
            out["zh"].append(flag.message_zh)
    primary_result, primary_comps = results[0]
    primary = METRICS[primary_result.metric]
    guardrails = [(METRICS[m.metric], comps) for m, comps in results if m.role == "guardrail"]
    for ti, variant in enumerate(exp.variants[1:]):
        comp = primary_comps[ti]
        for lang in ("en", "zh"):
            if comp is None:
                note = primary_result.rows[ti + 1].note
                sentence = (
                    f"{variant.name}: not enough data for {primary.en} yet" + (f" ({note})" if note else "")
                    if lang == "en"
                    else f"{variant.name}：{primary.zh}数据不足，暂无法比较"
                )
            else:
                sentence = plain_language(primary.name(lang), variant.name, comp, lang)
            if guardrails:
                harmed = [
                    _guardrail_clause(m, g, lang)
                    for m, g in ((m, c[ti]) for m, c in guardrails)
                    if g is not None and g.direction == "bad"
                ]
                if harmed:
                    sentence += ("; " if lang == "en" else "；") + ("; " if lang == "en" else "；").join(harmed)
                else:
                    sentence += "; guardrails unchanged" if lang == "en" else "；护栏指标无显著变化"
            out[lang].append(sentence + ("." if lang == "en" else "。"))
    return out


def _series(exp: Experiment, table: UnitTable, metric: Metric, alpha: float, sequential: bool) -> Series:
    points = []
    names = [v.name for v in exp.variants]
    for p, day in enumerate(table.period_ends):
        stats = _analysed(exp, table, metric, p)
        point = SeriesPoint(
            day=day,
            units={n: s.n for n, s in zip(names, stats, strict=True)},
            values={n: _f(_observed(s)) for n, s in zip(names, stats, strict=True)},
        )
        for name, s in zip(names[1:], stats[1:], strict=True):
            try:
                comp = _compare(metric, stats[0], s, alpha, sequential)
            except ValueError:
                point.rel_diff[name], point.rel_ci[name] = None, None
                continue
            point.rel_diff[name] = _f(comp.rel_diff)
            ci = comp.rel_ci
            point.rel_ci[name] = (ci[0], ci[1]) if ci and all(math.isfinite(x) for x in ci) else None
        points.append(point)
    return Series(metric=metric.id, points=points)


def _decision(
    exp: Experiment,
    results: list[tuple[MetricResult, list[Comparison | None]]],
    flags: list[HealthFlag],
    srm: SrmOut,
    plan: PlanStatus,
    exploratory: bool,
) -> tuple[DecisionOut | None, str | None, str | None]:
    """The decision by the rule of :mod:`contenthub.experiments.stats.decision`, or why there is none."""
    if exploratory:
        return (
            None,
            "No decision in an exploratory view: decisions use only the analysis fixed at creation.",
            "探索性视图不给出决策：决策只使用创建时确定的分析方法。",
        )
    primary_result, primary_comps = results[0]
    guardrails = [(METRICS[m.metric], comps) for m, comps in results if m.role == "guardrail"]
    arms = []
    for ti, variant in enumerate(exp.variants[1:]):
        arms.append(
            ArmEvidence(
                variant=variant.name,
                primary=primary_comps[ti],
                note=primary_result.rows[ti + 1].note,
                guardrails=[GuardrailEvidence(m.en, m.zh, comps[ti]) for m, comps in guardrails],
            )
        )
    facts = PlanFacts(
        sequential=exp.sequential,
        mde=exp.mde,
        planned_units=plan.planned_units,
        units=plan.units_so_far,
        enough_data=not any(f.code == "too_little_data" for f in flags),
        srm_warn=srm.warn,
        srm_p=srm.p_value,
        days_left=plan.days_left,
    )
    d = decide(arms, facts)
    return (
        DecisionOut(
            verdict=d.verdict,
            variant=d.variant,
            rule=d.rule_en,
            rule_zh=d.rule_zh,
            checks=[CheckOut(code=c.code, passed=c.passed, message=c.en, message_zh=c.zh) for c in d.checks],
            chance_to_beat_control=_f(d.chance_to_beat_control),
            expected_loss=_f(d.expected_loss),
            per_variant=dict(d.per_arm),
        ),
        None,
        None,
    )


def build_report(
    hub: Hub,
    key: str,
    *,
    sequential: bool | None = None,
    correction: Correction | None = None,
    now: datetime | None = None,
) -> Report:
    """Everything about one experiment's results, analysed as fixed at its creation. ``sequential`` or
    ``correction`` other than the experiment's own make an exploratory "what if" view: labelled so,
    and without a decision. An experiment without exposures gets a report saying so, not an error."""
    exp = service.get_experiment(hub, key)
    now = now or utcnow()
    seq = exp.sequential if sequential is None else sequential
    corr = correction or exp.correction
    exploratory = seq != exp.sequential or corr != exp.correction
    base = Report(
        experiment=exp,
        generated_at=to_iso(now),
        has_exposures=False,
        alpha=exp.alpha,
        sequential=seq,
        correction=corr,
        exploratory=exploratory,
        exposures=0,
        plan=plan_status(exp, 0, None, None, None),
    )
    exposures = service.iter_exposures(hub, key)
    if not exposures:
        return base
    units = analysis_units(hub, exp, exposures)
    states = journey_metrics.unit_states(hub, exp, units) if exp.change == "journey" else {}
    table = build_table(hub, exp, units, now, facts=journey_metrics.journey_facts(states))
    counts = [int((table.variant == i).sum()) for i in range(len(exp.variants))]
    results: list[tuple[MetricResult, list[Comparison | None]]] = []
    analysed: dict[str, list[Suff]] = {}
    own = {m for m, _ in exp.metrics}
    diagnostics = [(m, "diagnostic") for m in CHANGE_METRICS.get(exp.change, ()) if m not in own]
    for metric_id, role in [*exp.metrics, *diagnostics]:
        metric = METRICS[metric_id]
        stats = _analysed(exp, table, metric)
        analysed[metric.id] = stats
        rows, comps = _rows(exp, metric, stats, exp.alpha, seq)
        cuped = [s for s in stats if isinstance(s, CupedStats)]
        results.append(
            (
                MetricResult(
                    metric=metric.id,
                    role=role,
                    name=metric.en,
                    name_zh=metric.zh,
                    kind=metric.kind,
                    higher_is_better=metric.higher_is_better,
                    rows=rows,
                    cuped=bool(cuped),
                    variance_reduction=_f(variance_reduction(cuped)) if cuped else None,
                ),
                comps,
            )
        )
    planned = [r for r in results if r[0].role != "diagnostic"]
    results = _adjust(planned, corr, exp.alpha, analysed, seq) + [r for r in results if r[0].role == "diagnostic"]
    srm = _srm(exp, counts)
    flags = _health(exp, units, counts, srm, results[0][0])
    primary_stats = variant_stats(table, METRICS[exp.primary_metric], len(exp.variants))
    plan = plan_status(exp, sum(counts), primary_stats[0], table.window[0], table.window[1])
    decision, note_en, note_zh = _decision(exp, results, flags, srm, plan, exploratory)
    return base.model_copy(
        update={
            "plan": plan,
            "decision": decision,
            "decision_note": note_en,
            "decision_note_zh": note_zh,
            "has_exposures": True,
            "window_start": table.window[0],
            "window_end": table.window[1],
            "exposures": units.exposures,
            "units": dict(zip((v.name for v in exp.variants), counts, strict=True)),
            "excluded_units": len(units.multiple),
            "events_used": table.events_used,
            "srm": srm,
            "health": flags,
            "metrics": [m for m, _ in results],
            "summary": _summary(exp, results, flags),
            "timeseries": [_series(exp, table, METRICS[m], exp.alpha, seq) for m, _ in exp.metrics],
            "journey_funnels": journey_metrics.funnels(hub, exp, units, states) if exp.change == "journey" else [],
        }
    )


CSV_COLUMNS = (
    "metric",
    "role",
    "variant",
    "is_control",
    "units",
    "value",
    "numerator",
    "denominator",
    "abs_diff",
    "abs_ci_low",
    "abs_ci_high",
    "rel_diff",
    "rel_ci_low",
    "rel_ci_high",
    "p_value",
    "p_adjusted",
    "chance_to_beat_control",
    "expected_loss",
    "significant",
    "direction",
    "interval_level",
    "note",
)


def report_csv(report: Report) -> str:
    """One line per (metric, variant): the table of the report page, for spreadsheets."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in report.metrics:
        for r in m.rows:
            values = r.model_dump()
            writer.writerow([m.metric, m.role, *("" if values[c] is None else values[c] for c in CSV_COLUMNS[2:])])
    return buf.getvalue()
