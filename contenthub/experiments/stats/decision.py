"""The decision an analyst acts on: ship, keep running, stop for futility, roll back -- or fix the
setup when the traffic split itself is broken -- with the rule that produced it, in words.

The rule, in the order it is applied (the first that holds decides):

1. **fix the setup** -- a sample ratio mismatch: units are lost or duplicated in some arm, so no
   number in the report can be trusted, a good one least of all.
2. **ship** the best treatment whose primary metric is significantly better (after the
   multiple-comparison correction), with no guardrail significantly worse, enough data, and --
   for a fixed-horizon test -- the planned sample reached (reading it earlier is peeking, which
   inflates false positives; a sequential test may ship on any day).
3. **roll back** a treatment that made the primary metric or a guardrail significantly worse.
   Harm is acted on at once, also before the planned sample: stopping to protect users does not
   inflate the chance of a false *win*.
4. **stop for futility** when every treatment is done: the planned sample is reached without a
   significant result, or the interval already rules out the planned minimum detectable effect
   (more data would only narrow an interval that excludes the effect worth having).
5. otherwise **keep running**, with how far the plan still is.

Beside it, from the same comparison of the chosen treatment: the Bayesian chance to beat control
and the expected loss of shipping it (:mod:`contenthub.experiments.stats.bayesian`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from contenthub.experiments.stats import formatting as fmt
from contenthub.experiments.stats.summary import Comparison

Verdict = Literal["ship", "keep_running", "stop_futility", "roll_back", "fix_setup"]


@dataclass(frozen=True, slots=True)
class GuardrailEvidence:
    name_en: str
    name_zh: str
    comparison: Comparison | None


@dataclass(frozen=True, slots=True)
class ArmEvidence:
    """One treatment: its primary comparison (``None`` with ``note`` when it cannot be made) and its
    guardrails. Comparisons carry the significance after the report's correction."""

    variant: str
    primary: Comparison | None
    guardrails: Sequence[GuardrailEvidence] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PlanFacts:
    sequential: bool
    mde: float
    planned_units: int | None
    units: int
    enough_data: bool
    """No 'too little data' warning (units and events per arm above the report's floor)."""
    srm_warn: bool
    srm_p: float
    days_left: float | None = None


@dataclass(frozen=True, slots=True)
class Check:
    code: str
    passed: bool
    en: str
    zh: str


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    variant: str | None
    rule_en: str
    rule_zh: str
    checks: list[Check] = field(default_factory=list)
    chance_to_beat_control: float | None = None
    expected_loss: float | None = None
    per_arm: dict[str, Verdict] = field(default_factory=dict)


def _effect(c: Comparison, lang: str) -> str:
    """'+12% [+4.0%, +20%]' (relative, Fieller) or '+0.60 pp [+0.20 pp, +1.0 pp]'."""
    if c.rel_diff is not None and c.rel_ci is not None and c.mean_control > 0:
        return f"{fmt.pct(c.rel_diff)} {fmt.interval(fmt.pct(c.rel_ci[0]), fmt.pct(c.rel_ci[1]))}"
    kind = c.metric_kind
    return (
        f"{fmt.diff(kind, c.abs_diff, lang)} "
        f"{fmt.interval(fmt.diff(kind, c.abs_ci[0], lang), fmt.diff(kind, c.abs_ci[1], lang))}"
    )


def _harms(arm: ArmEvidence) -> list[tuple[str, str, Comparison]]:
    out = []
    if arm.primary is not None and arm.primary.direction == "bad":
        out.append(("the primary metric", "主要指标", arm.primary))
    out += [
        (g.name_en, g.name_zh, g.comparison)
        for g in arm.guardrails
        if g.comparison is not None and g.comparison.direction == "bad"
    ]
    return out


def _rules_out_mde(c: Comparison, mde: float) -> bool:
    """The interval excludes a change of the planned size in the good direction."""
    if c.rel_ci is None or c.mean_control <= 0:
        return False
    low, high = c.rel_ci
    return high < mde if c.higher_is_better else low > -mde


def _plan_reached(plan: PlanFacts) -> bool | None:
    return None if plan.planned_units is None else plan.units >= plan.planned_units


def _checks(arm: ArmEvidence | None, plan: PlanFacts) -> list[Check]:
    checks = [
        Check(
            "srm",
            not plan.srm_warn,
            f"traffic split as configured (SRM {fmt.p_text(plan.srm_p)})"
            if not plan.srm_warn
            else f"sample ratio mismatch (SRM {fmt.p_text(plan.srm_p)})",
            f"分流比例正常（SRM {fmt.p_text(plan.srm_p)}）"
            if not plan.srm_warn
            else f"样本比例失衡（SRM {fmt.p_text(plan.srm_p)}）",
        ),
        Check(
            "data",
            plan.enough_data,
            "enough data in every arm" if plan.enough_data else "too little data in some arm",
            "各组数据量充足" if plan.enough_data else "部分分组数据量不足",
        ),
    ]
    reached = _plan_reached(plan)
    if plan.sequential:
        checks.append(Check("plan", True, "sequential test: valid on any day", "序贯检验：任何一天查看都有效"))
    elif reached is None:
        checks.append(
            Check(
                "plan",
                plan.enough_data,
                "no planned sample size was fixed at creation, so the "
                "fixed-horizon result is read once there is enough data",
                "创建时未设定计划样本量，固定样本检验在数据量充足时解读",
            )
        )
    else:
        checks.append(
            Check(
                "plan",
                reached,
                f"planned sample {'reached' if reached else 'not reached'} ({plan.units:,} of {plan.planned_units:,})",
                f"{'已' if reached else '未'}达到计划样本量（{plan.units:,} / {plan.planned_units:,}）",
            )
        )
    if arm is not None and arm.primary is not None:
        p = arm.primary
        checks.append(
            Check(
                "primary",
                p.direction == "good",
                f"primary metric {'significantly better' if p.direction == 'good' else 'not significantly better'}: "
                f"{_effect(p, 'en')}, {fmt.p_text(p.p_value)}",
                f"主要指标{'显著更好' if p.direction == 'good' else '未显著更好'}：{_effect(p, 'zh')}，{fmt.p_text(p.p_value)}",
            )
        )
        harmed = [g for g in arm.guardrails if g.comparison is not None and g.comparison.direction == "bad"]
        checks.append(
            Check(
                "guardrails",
                not harmed,
                "no guardrail significantly worse"
                if not harmed
                else "guardrail significantly worse: " + ", ".join(g.name_en for g in harmed),
                "护栏指标均未显著变差" if not harmed else "护栏指标显著变差：" + "、".join(g.name_zh for g in harmed),
            )
        )
    return checks


def _days(plan: PlanFacts, lang: str) -> str:
    if plan.days_left is None:
        return ""
    n = f"{max(int(-(-plan.days_left // 1)), 1):,}"
    return f" (about {n} more days at today's traffic)" if lang == "en" else f"（按目前流量约还需 {n} 天）"


def decide(arms: Sequence[ArmEvidence], plan: PlanFacts) -> Decision:
    """Apply the rule of the module docstring to every treatment and say which one decided."""
    if plan.srm_warn:
        return Decision(
            "fix_setup",
            None,
            f"Fix the setup: the traffic split does not match the configured weights (SRM {fmt.p_text(plan.srm_p)}), "
            "so units are lost or duplicated in some arm and no result can be trusted. Find the cause, then restart.",
            f"先修复实验配置：实际分流与配置不符（SRM {fmt.p_text(plan.srm_p)}），某个分组在丢失或重复计入单位，"
            "任何结果都不可信。查明原因后重新开始。",
            _checks(arms[0] if arms else None, plan),
            per_arm={a.variant: "fix_setup" for a in arms},
        )
    reached = _plan_reached(plan)
    may_read = plan.enough_data and (plan.sequential or reached is not False)
    per_arm: dict[str, Verdict] = {}
    winners, harmed, futile = [], [], []
    for arm in arms:
        harms = _harms(arm)
        p = arm.primary
        if harms:
            per_arm[arm.variant] = "roll_back"
            harmed.append((arm, harms))
        elif p is not None and p.direction == "good" and may_read:
            per_arm[arm.variant] = "ship"
            winners.append(arm)
        elif p is not None and plan.enough_data and (reached or _rules_out_mde(p, plan.mde)):
            per_arm[arm.variant] = "stop_futility"
            futile.append(arm)
        else:
            per_arm[arm.variant] = "keep_running"
    if winners:
        best = max(
            winners,
            key=lambda a: (
                (
                    a.primary.rel_diff
                    if a.primary and a.primary.rel_diff is not None
                    else a.primary.abs_diff
                    if a.primary
                    else 0.0
                )
                * (1 if a.primary and a.primary.higher_is_better else -1)
            ),
        )
        c = best.primary
        assert c is not None
        when_en = (
            "the test is sequential (valid any day)"
            if plan.sequential
            else (
                "the planned sample is reached" if reached else "no planned sample was fixed, and there is enough data"
            )
        )
        when_zh = (
            "序贯检验任何一天都有效"
            if plan.sequential
            else ("已达到计划样本量" if reached else "未设定计划样本量且数据量充足")
        )
        return Decision(
            "ship",
            best.variant,
            f"Ship {best.variant}: the primary metric is significantly better ({_effect(c, 'en')}, "
            f"{fmt.p_text(c.p_value)}), no guardrail is significantly worse, the traffic split is healthy and {when_en}.",
            f"上线 {best.variant}：主要指标显著更好（{_effect(c, 'zh')}，{fmt.p_text(c.p_value)}），护栏指标均未显著变差，"
            f"分流正常，且{when_zh}。",
            _checks(best, plan),
            c.chance_to_beat_control,
            c.expected_loss,
            per_arm,
        )
    if harmed:
        arm, harms = harmed[0]
        what_en = "; ".join(f"{name} {_effect(c, 'en')}" for name, _, c in harms)
        what_zh = "；".join(f"{name}{_effect(c, 'zh')}" for _, name, c in harms)
        names = ", ".join(a.variant for a, _ in harmed)
        c = arm.primary
        return Decision(
            "roll_back",
            names,
            f"Roll back {names}: it made things significantly worse ({what_en}). Harm is acted on at once; "
            "stopping early to protect users does not make a false win more likely.",
            f"回滚 {names}：指标显著变差（{what_zh}）。出现伤害应立即处理；为保护用户提前停止不会增加误判上线的风险。",
            _checks(arm, plan),
            c.chance_to_beat_control if c else None,
            c.expected_loss if c else None,
            per_arm,
        )
    if arms and len(futile) == len(arms):
        arm = futile[0]
        c = arm.primary
        assert c is not None
        if reached:
            why_en = (
                f"the planned sample is reached and the primary metric shows no significant change "
                f"({_effect(c, 'en')}, {fmt.p_text(c.p_value)})"
            )
            why_zh = f"已达到计划样本量，主要指标无显著变化（{_effect(c, 'zh')}，{fmt.p_text(c.p_value)}）"
        else:
            why_en = (
                f"the interval {_effect(c, 'en')} already rules out the {fmt.pct(plan.mde, signed=False)} "
                "change the experiment was planned to find; more data would only narrow it"
            )
            why_zh = f"区间 {_effect(c, 'zh')} 已排除计划检出的 {fmt.pct(plan.mde, signed=False)} 变化，更多数据只会让区间更窄"
        return Decision(
            "stop_futility",
            None,
            f"Stop for futility and keep control: {why_en}.",
            f"因无效而停止，保留对照组：{why_zh}。",
            _checks(arm, plan),
            c.chance_to_beat_control,
            c.expected_loss,
            per_arm,
        )
    lead = next((a for a in arms if per_arm[a.variant] == "keep_running"), arms[0] if arms else None)
    c = lead.primary if lead else None
    if c is None:
        reason_en = (
            f"the primary metric cannot be compared yet ({lead.note})"
            if lead and lead.note
            else "the primary metric cannot be compared yet"
        )
        reason_zh = f"主要指标暂时无法比较（{lead.note}）" if lead and lead.note else "主要指标暂时无法比较"
    elif not plan.enough_data:
        reason_en, reason_zh = "there is too little data to read yet", "数据量还不足以下结论"
    elif c.direction == "good" and not may_read:
        reason_en = (
            f"{lead.variant if lead else ''} looks better ({_effect(c, 'en')}, {fmt.p_text(c.p_value)}) but a "
            "fixed-horizon test is valid only at its planned sample; reading it earlier inflates false positives"
        )
        reason_zh = (
            f"{lead.variant if lead else ''} 看起来更好（{_effect(c, 'zh')}，{fmt.p_text(c.p_value)}），"
            "但固定样本检验只在达到计划样本量时有效，提前下结论会增加误判"
        )
    else:
        reason_en = f"no significant change yet ({_effect(c, 'en')}, {fmt.p_text(c.p_value)})"
        reason_zh = f"暂无显著变化（{_effect(c, 'zh')}，{fmt.p_text(c.p_value)}）"
    return Decision(
        "keep_running",
        None,
        f"Keep running: {reason_en}{_days(plan, 'en')}.",
        f"继续运行：{reason_zh}{_days(plan, 'zh')}。",
        _checks(lead, plan),
        c.chance_to_beat_control if c else None,
        c.expected_loss if c else None,
        per_arm,
    )
