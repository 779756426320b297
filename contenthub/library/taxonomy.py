"""The vocabulary editors tag with — scenes, channels, content types, kinds, lifecycle stages.

It is data, not code: these defaults seed the store once and are then edited over the API. Each
entry carries Chinese and English names and a description; the descriptions are what auto-tagging
compares asset text against.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from contenthub.errors import ConflictError, InvalidError, NotFoundError, unknown_value
from contenthub.i18n import _, current_language
from contenthub.store.base import Store

FACETS = ("scenes", "channels", "content_types", "kinds", "stages")
COLLECTION = "taxonomy"


class TaxonomyEntry(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    zh: str = Field(min_length=1, max_length=64)
    en: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("zh", "en", "description")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()


def _e(id: str, zh: str, en: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "zh": zh, "en": en, "description": description, "extra": extra}


DEFAULTS: dict[str, list[dict[str, Any]]] = {
    "scenes": [
        _e(
            "onboarding",
            "新人欢迎",
            "Onboarding",
            "新人欢迎：新用户刚关注或添加好友，欢迎语、自我介绍、新人礼包、入群引导、品牌介绍",
        ),
        _e(
            "first_order",
            "首单转化",
            "First order",
            "首单转化：引导还没下单的新客完成第一单，首单优惠券、新客立减、首单包邮、限时专享价",
        ),
        _e(
            "repurchase", "复购提醒", "Repurchase", "复购提醒：老客户商品快用完了，提醒回购补货、囤货、续订、第二件半价"
        ),
        _e(
            "reactivation",
            "沉默唤醒",
            "Reactivation",
            "沉默唤醒：一段时间没有互动的用户，好久不见、想你了、专属回归福利、签到唤醒",
        ),
        _e(
            "winback",
            "流失挽回",
            "Win-back",
            "流失挽回：已经流失或取消关注、长期未购买的用户，挽回大礼包、调研原因、道歉补偿、召回优惠",
        ),
        _e("holiday", "节日营销", "Holiday", "节日营销：春节、情人节、女神节、618、双11、中秋、国庆等节日促销与祝福"),
        _e("seeding", "新品种草", "Product seeding", "新品种草：新品上市、试用体验、测评、好物推荐、种草笔记"),
        _e("education", "知识科普", "Education", "知识科普：专业知识、常见误区、科学原理、健康常识、行业干货"),
        _e("tutorial", "使用教程", "Tutorial", "使用教程：产品怎么用、操作步骤、安装指南、使用技巧、视频教学"),
        _e("membership", "会员权益", "Membership", "会员权益：会员等级、积分兑换、会员日、专属特权、储值、升级"),
        _e("referral", "裂变活动", "Referral", "裂变活动：邀请好友、拼团、助力、分享得奖励、老带新、砍价"),
        _e(
            "aftersales", "售后关怀", "After-sales care", "售后关怀：收货后回访、使用反馈、退换货、保修、物流、客服关怀"
        ),
        _e(
            "live_preview",
            "直播预告",
            "Live preview",
            "直播预告：直播开播时间、直播间福利、预约直播、主播带货、直播抽奖",
        ),
    ],
    "channels": [
        _e("mp_subscription", "订阅号", "Subscription account", "公众号订阅号图文推送，每天一次群发", cap="1/day"),
        _e("mp_service", "服务号", "Service account", "公众号服务号图文推送、模板消息，每月四次群发", cap="4/month"),
        _e("wecom_1v1", "企业微信客户", "WeCom 1:1", "企业微信一对一私聊消息、话术、欢迎语", cap="days_in_month/month"),
        _e(
            "wecom_group",
            "客户群/社群",
            "WeCom group",
            "企业微信客户群、社群群发消息与群公告",
            cap="days_in_month/month",
        ),
        _e("moments", "朋友圈", "Moments", "朋友圈图文、海报与短视频"),
        _e("channels", "视频号", "Channels", "视频号短视频与直播"),
        _e("xiaohongshu", "小红书", "Xiaohongshu", "小红书种草笔记、图文与视频"),
        _e("douyin", "抖音", "Douyin", "抖音短视频与直播"),
        _e("miniprogram", "小程序", "Mini program", "小程序卡片、商城页面、优惠券领取"),
        _e("app_push", "App 推送", "App push", "App 通知栏推送，短标题短正文"),
        _e("sms", "短信", "SMS", "短信，纯文字，七十字以内，含退订提示"),
    ],
    "content_types": [
        _e("educational", "知识干货", "Educational", "知识科普、专业干货、原理讲解", cadence="2-3/week"),
        _e("practical", "实用技巧", "Practical", "实用技巧、教程、清单、攻略", cadence="2-3/week"),
        _e("entertainment", "娱乐轻松", "Entertainment", "轻松有趣、段子、话题、趣味内容", cadence="1-2/week"),
        _e("interactive", "互动参与", "Interactive", "投票、问答、抽奖、评论互动、打卡", cadence="1-2/week"),
        _e("promotional", "促销活动", "Promotional", "优惠券、折扣、限时活动、促销", cadence="configured"),
        _e("brand_story", "品牌故事", "Brand story", "品牌故事、用户案例、幕后故事、口碑见证", cadence="configured"),
    ],
    "kinds": [
        _e("article", "图文", "Article", "公众号图文文章"),
        _e("poster", "海报/图片", "Poster / image", "海报、长图、图片"),
        _e("video", "视频", "Video", "短视频、长视频"),
        _e("audio", "音频", "Audio", "音频、播客、语音"),
        _e("h5", "H5 链接", "H5 link", "H5 活动页链接"),
        _e("miniprogram_card", "小程序卡片", "Mini-program card", "小程序卡片"),
        _e("coupon", "优惠券", "Coupon", "优惠券、代金券"),
        _e("text_script", "文字话术", "Text script", "文字话术、消息模板"),
        _e("file", "文件", "File", "PDF 等文件"),
    ],
    "stages": [
        _e("new", "引入期", "New", "新用户，刚关注或添加"),
        _e("active", "成长期", "Active", "活跃互动、正在成长的用户"),
        _e("stable", "稳定期", "Stable", "稳定复购的老用户"),
        _e("silent", "沉默期", "Silent", "一段时间没有互动的衰退用户"),
        _e("churned", "流失期", "Churned", "已流失的用户"),
    ],
}


def ensure_defaults(store: Store) -> None:
    """Seed each facet once; never overwrite what editors changed."""
    for facet, entries in DEFAULTS.items():
        if store.get_doc(COLLECTION, facet) is None:
            try:
                store.put_doc(COLLECTION, facet, {"facet": facet, "entries": entries}, expected_version=0)
            except ConflictError:
                pass  # another process seeded it between our read and our write: theirs stands


def _check_facet(facet: str) -> None:
    if facet not in FACETS:
        raise unknown_value("facet", facet, list(FACETS))


def entries(store: Store, facet: str) -> list[TaxonomyEntry]:
    _check_facet(facet)
    doc = store.get_doc(COLLECTION, facet)
    if doc is None:
        ensure_defaults(store)
        doc = store.get_doc(COLLECTION, facet) or {"entries": []}
    return [TaxonomyEntry.model_validate(e) for e in doc["entries"]]


def ids(store: Store, facet: str) -> list[str]:
    return [e.id for e in entries(store, facet)]


def all_taxonomy(store: Store) -> dict[str, list[TaxonomyEntry]]:
    return {f: entries(store, f) for f in FACETS}


def upsert_entry(store: Store, facet: str, entry: TaxonomyEntry) -> TaxonomyEntry:
    _check_facet(facet)
    found = store.get_doc_version(COLLECTION, facet)
    stored: list[dict[str, Any]] = found[0]["entries"] if found else []
    version = found[1] if found else 0
    items = [e for e in stored if e["id"] != entry.id]
    replaced = len(items) != len(stored)
    if replaced:
        items = [entry.model_dump() if e["id"] == entry.id else e for e in stored]
    else:
        items.append(entry.model_dump())
    store.put_doc(COLLECTION, facet, {"facet": facet, "entries": items}, expected_version=version)
    return entry


def delete_entry(store: Store, facet: str, entry_id: str) -> None:
    _check_facet(facet)
    found = store.get_doc_version(COLLECTION, facet)
    if not found or not any(e["id"] == entry_id for e in found[0]["entries"]):
        raise NotFoundError(
            _("No {facet} entry '{entry_id}'.").format(facet=facet, entry_id=entry_id), field="id", value=entry_id
        )
    doc, version = found
    if len(doc["entries"]) == 1:
        raise InvalidError(_("Cannot delete the last {facet} entry.").format(facet=facet), field="id", value=entry_id)
    doc["entries"] = [e for e in doc["entries"] if e["id"] != entry_id]
    store.put_doc(COLLECTION, facet, doc, expected_version=version)


def validate_values(store: Store, field: str, facet: str, values: list[str]) -> list[str]:
    """Reject a value the vocabulary does not know, naming it and the allowed ones (422)."""
    allowed = ids(store, facet)
    allowed_set = set(allowed)
    for v in values:
        if v not in allowed_set:
            raise unknown_value(field, v, allowed)
    return list(dict.fromkeys(values))


def label(entry: TaxonomyEntry, lang: str) -> str:
    return entry.zh if lang == "zh" else entry.en


def names(store: Store, facet: str, lang: str | None = None) -> dict[str, str]:
    """id → the name a person reads, in ``lang`` (default: the current request's language)."""
    lang = lang or current_language()
    return {e.id: label(e, lang) for e in entries(store, facet)}
