"""Signal (c): editable keyword cues per label — the editor's own rules of thumb.

"直播/开播 → 直播预告" is knowledge an editor has on day one, before any classifier can learn it, and
can fix in a minute when the brand's wording changes. Cues are data (one store document, seeded
from the defaults below, edited over ``/v1/tagging/cues``); how much a cue hit counts against the
other signals is fitted on validation data like every other weight.

The defaults were written from the taxonomy descriptions and common private-domain wording, not from
the evaluation set.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field, field_validator

from contenthub.errors import InvalidError, unknown_value
from contenthub.i18n import _
from contenthub.library import taxonomy
from contenthub.store.base import Store

COLLECTION = "tagging"
DOC_ID = "cues"
CUE_FACETS = ("scenes", "content_types", "channels")
MAX_CUES_PER_LABEL = 100
MAX_CUE_LEN = 20

DEFAULT_CUES: dict[str, dict[str, list[str]]] = {
    "scenes": {
        "onboarding": [
            "欢迎",
            "新人",
            "新朋友",
            "初次见面",
            "见面礼",
            "入群",
            "关注",
            "自我介绍",
            "新手指南",
            "专属顾问",
            "群规",
            "入会",
        ],
        "first_order": [
            "首单",
            "新客",
            "第一单",
            "首次下单",
            "第一次下单",
            "首购",
            "新人价",
            "新人专享",
            "尝鲜",
            "体验装",
            "试用装",
        ],
        "repurchase": [
            "回购",
            "复购",
            "补货",
            "囤货",
            "快用完",
            "用完了",
            "续订",
            "续费",
            "再来一单",
            "周期购",
            "第二件半价",
            "该换了",
        ],
        "reactivation": [
            "好久不见",
            "好久没",
            "想你",
            "签到",
            "积分即将过期",
            "积分清零",
            "即将过期",
            "沉默",
            "唤醒",
            "回来看看",
            "未使用",
            "冒个泡",
            "最近还好",
        ],
        "winback": [
            "回归",
            "挽回",
            "召回",
            "流失",
            "老朋友",
            "再给我们一次机会",
            "道歉",
            "补偿",
            "离开",
            "不满意",
            "取消关注",
            "改进",
            "重新认识",
            "退订",
        ],
        "holiday": [
            "节日",
            "过节",
            "春节",
            "新年",
            "年货",
            "元宵",
            "情人节",
            "女神节",
            "妇女节",
            "母亲节",
            "父亲节",
            "儿童节",
            "端午",
            "七夕",
            "中秋",
            "国庆",
            "双11",
            "双十一",
            "双12",
            "618",
            "圣诞",
            "元旦",
            "节快乐",
        ],
        "seeding": ["新品", "上新", "上市", "首发", "测评", "种草", "开箱", "好物", "实测", "安利", "新款"],
        "education": ["科普", "知识", "原理", "误区", "常识", "干货", "冷知识", "真相", "研究", "为什么", "讲清楚"],
        "tutorial": [
            "教程",
            "步骤",
            "怎么用",
            "使用方法",
            "手把手",
            "第一步",
            "安装",
            "操作指南",
            "图解",
            "教学",
            "上手",
            "正确打开",
        ],
        "membership": [
            "会员",
            "积分",
            "等级",
            "会员日",
            "特权",
            "储值",
            "升级",
            "权益",
            "生日礼",
            "兑换",
            "黑卡",
            "金卡",
        ],
        "referral": [
            "邀请",
            "拼团",
            "助力",
            "老带新",
            "砍价",
            "推荐好友",
            "成团",
            "分享给",
            "转发",
            "好友",
            "组队",
            "邀请码",
        ],
        "aftersales": [
            "售后",
            "签收",
            "收到了吗",
            "物流",
            "退换",
            "退货",
            "换货",
            "保修",
            "保养",
            "回访",
            "使用反馈",
            "维修",
            "客服",
            "破损",
        ],
        "live_preview": ["直播", "开播", "直播间", "预约", "主播", "福袋", "上链接", "连麦", "不见不散"],
    },
    "content_types": {
        "educational": ["科普", "知识", "原理", "误区", "干货", "为什么"],
        "practical": ["教程", "步骤", "技巧", "清单", "攻略", "指南", "怎么"],
        "entertainment": ["哈哈", "段子", "趣味", "好玩", "vlog", "开箱"],
        "interactive": ["投票", "评论区", "留言", "抽奖", "打卡", "扣1", "猜", "话题", "互动"],
        "promotional": ["优惠", "券", "折", "立减", "满减", "包邮", "限时", "特价", "秒杀", "下单"],
        "brand_story": ["故事", "创始人", "幕后", "品牌", "用户案例", "口碑", "初心", "匠心"],
    },
    "channels": {
        "sms": ["回t退订", "退订", "【"],
        "xiaohongshu": ["姐妹们", "种草", "笔记", "小红书"],
        "douyin": ["抖音", "#"],
        "channels": ["视频号", "视频"],
        "wecom_group": ["群里", "群公告", "@所有人", "家人们", "各位"],
        "wecom_1v1": ["您好", "我是", "有需要随时找我"],
        "moments": ["朋友圈", "今日分享"],
        "app_push": ["点击查看"],
        "miniprogram": ["小程序"],
        "mp_subscription": ["导语", "阅读全文", "编者按"],
        "mp_service": ["服务号", "模板消息"],
    },
}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


class CuesIn(BaseModel):
    """What an editor sends: facet → label id → keywords. Facets left out keep their current cues."""

    facets: dict[str, dict[str, list[str]]] = Field(
        description="scenes / content_types / channels → label id → keywords (1–20 characters each)."
    )
    version: int | None = Field(default=None, description="Send the version you read to avoid lost updates.")

    @field_validator("facets")
    @classmethod
    def _clean(cls, v: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        for facet, labels in v.items():
            out[facet] = {}
            for label, words in labels.items():
                cleaned: list[str] = []
                for w in words:
                    w = unicodedata.normalize("NFC", w).strip()
                    if not w:
                        continue
                    if len(w) > MAX_CUE_LEN:
                        raise ValueError(
                            _("{facet}.{label}: cue '{value}…' is longer than {MAX_CUE_LEN} characters").format(
                                facet=facet, label=label, value=w[:10], MAX_CUE_LEN=MAX_CUE_LEN
                            )
                        )
                    if w not in cleaned:
                        cleaned.append(w)
                if len(cleaned) > MAX_CUES_PER_LABEL:
                    raise ValueError(
                        _("{facet}.{label}: at most {MAX_CUES_PER_LABEL} cues per label").format(
                            facet=facet, label=label, MAX_CUES_PER_LABEL=MAX_CUES_PER_LABEL
                        )
                    )
                out[facet][label] = cleaned
        return out


class CuesOut(BaseModel):
    facets: dict[str, dict[str, list[str]]]
    version: int = Field(description="0 while the defaults were never edited.")


def get_cues(store: Store) -> CuesOut:
    found = store.get_doc_version(COLLECTION, DOC_ID)
    if found is None:
        return CuesOut(facets={f: {k: list(v) for k, v in d.items()} for f, d in DEFAULT_CUES.items()}, version=0)
    doc, version = found
    return CuesOut(facets=doc["facets"], version=version)


def put_cues(store: Store, data: CuesIn) -> CuesOut:
    """Replace the cues of the facets sent (validated against the vocabulary); others stay as they were."""
    current = get_cues(store)
    if data.version is not None and data.version != current.version:
        from contenthub.errors import ConflictError

        raise ConflictError(
            _(
                "The cues were changed by someone else (version {version}, you had {version2}). Reload them and apply your change again."
            ).format(version=current.version, version2=data.version),
            field="version",
            value=data.version,
            extra={"current_version": current.version},
        )
    facets = dict(current.facets)
    for facet, labels in data.facets.items():
        if facet not in CUE_FACETS:
            raise unknown_value("facet", facet, list(CUE_FACETS))
        allowed = taxonomy.ids(store, facet)
        for label in labels:
            if label not in allowed:
                raise InvalidError(
                    _("'{label}' is not a {facet} id.").format(label=label, facet=facet),
                    field=f"facets.{facet}",
                    value=label,
                    allowed=allowed,
                )
        facets[facet] = labels
    version = store.put_doc(COLLECTION, DOC_ID, {"facets": facets}, expected_version=current.version)
    return CuesOut(facets=facets, version=version)


@dataclass
class CueMatcher:
    """Cues of one facet, ready to match against texts."""

    ids: list[str]
    words: list[list[str]]  # normalised, per label in ``ids`` order

    @classmethod
    def build(cls, ids: list[str], cues: dict[str, list[str]]) -> CueMatcher:
        return cls(ids=list(ids), words=[[_norm(w) for w in cues.get(i, [])] for i in ids])

    def matches(self, text: str) -> list[list[str]]:
        s = _norm(text)
        return [[w for w in ws if w and w in s] for ws in self.words]

    def scores(self, texts: list[str]) -> np.ndarray:
        """(n × labels): log(1 + number of distinct cues found) — the second cue adds less than the first."""
        out = np.zeros((len(texts), len(self.ids)), dtype=np.float32)
        for i, text in enumerate(texts):
            for j, found in enumerate(self.matches(text)):
                out[i, j] = np.log1p(len(found))
        return out


def matcher(store: Store, facet: str, ids: list[str]) -> CueMatcher:
    return CueMatcher.build(ids, get_cues(store).facets.get(facet, {}))
