"""The world `bench/simulate.py` plays in: a Chinese library, users with hidden tastes, and how they react.

Everything here is drawn from one seed and is pure (no I/O, no hub): the simulator serves the library
to a real hub and asks it what to send, while the same code answers how each user reacted.

The generative model (documented so that claims can be checked on other worlds; nothing in it favours a
particular ranking trick):

- Library: ``n_assets`` assets on ``len(TOPICS)`` topics with a skewed topic share, each with a content
  type from the hub's taxonomy, a kind fitting that type, scenes fitting the type, channels (most carry
  ``wecom_1v1``, some do not) and a hidden appeal ``q_a ~ N(0, 0.4)``. Titles and bodies are written from
  per-type templates filled with per-topic vocabulary; about half of the assets carry their topic as a tag,
  the rest name it only in their text (and a few carry generic tags such as 干货/福利).
- Users: a primary topic (drawn from a topic popularity that differs from the library's topic share), a
  secondary topic with probability 0.6, topic affinities ``a_u,k`` (primary +1.5, secondary +0.5, others
  −0.5, each plus N(0, 0.35)), content-type tastes ``b_u,c = m_c + N(0, 0.6)`` with population means
  ``m_c ~ N(0, 0.3)``, and a hidden lifecycle stage (new / active / stable / silent).
- A send of asset a to user u on day d:
  ``p_open = σ(o_stage + 0.3·a_u,t(a) + 0.2·q_a − 0.2·fatigue)``,
  ``p_click | open = σ(−1.2 + a_u,t(a) + b_u,c(a) + q_a)``,
  ``p_convert | click = σ(−2.5 + 0.6·[promotional] + 0.3·a_u,t(a))``,
  and a send the user did not click makes them unsubscribe with probability ``0.001·(1 + fatigue)``.
  ``fatigue`` is the sum over earlier sends of ``0.8^(days since)``, a clicked send counting 0.4 (wanted
  content tires less). Stages move: new → active after 7 days; a click brings silent back to active;
  5 days with a click make active stable; 7 days without an open make anyone silent.
- Common random numbers: the uniforms that decide open / click / convert / unsubscribe are drawn per
  (seed, day) for every user × asset, so two policies that send the same asset to the same user on the
  same day see the same reaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHANNEL = "wecom_1v1"
OTHER_CHANNELS = ("mp_subscription", "wecom_group", "moments", "xiaohongshu", "channels", "app_push")
STAGES = ("new", "active", "stable", "silent")
STAGE_OPEN_LOGIT = {"new": 0.5, "active": 0.2, "stable": 0.0, "silent": -1.2}
STAGE_SHARE = (0.25, 0.35, 0.2, 0.2)

# topic id, tag editors would use, vocabulary (nouns / phrases the texts are written from)
TOPICS: list[tuple[str, str, list[str]]] = [
    (
        "eye",
        "护眼",
        [
            "眼睛干涩",
            "蒸汽眼罩",
            "眼部按摩仪",
            "蓝光",
            "视力",
            "用眼疲劳",
            "热敷眼睛",
            "眼药水",
            "近视防控",
            "屏幕时间",
            "黑眼圈",
            "眼保健操",
        ],
    ),
    (
        "pet",
        "宠物",
        [
            "猫粮",
            "猫砂",
            "铲屎官",
            "驱虫",
            "狗狗",
            "逗猫棒",
            "换毛季",
            "宠物疫苗",
            "猫主子",
            "猫抓板",
            "宠物洗澡",
            "冻干零食",
        ],
    ),
    (
        "coffee",
        "咖啡",
        [
            "手冲咖啡",
            "咖啡豆",
            "拿铁",
            "挂耳咖啡",
            "烘焙度",
            "意式浓缩",
            "冷萃",
            "磨豆机",
            "拉花",
            "咖啡因",
            "美式",
            "咖啡风味",
        ],
    ),
    (
        "skin",
        "护肤",
        ["保湿", "防晒", "精华液", "面膜", "敏感肌", "烟酰胺", "卸妆", "早C晚A", "屏障修护", "毛孔", "痘痘肌", "水乳"],
    ),
    (
        "baby",
        "母婴",
        [
            "宝宝",
            "奶粉",
            "辅食",
            "纸尿裤",
            "孕期",
            "母乳喂养",
            "早教",
            "湿疹",
            "睡眠训练",
            "坐月子",
            "婴儿车",
            "宝宝发烧",
        ],
    ),
    (
        "fitness",
        "健身",
        ["减脂", "增肌", "跑步", "瑜伽", "蛋白粉", "深蹲", "体脂率", "拉伸", "燃脂", "HIIT", "健身房", "马甲线"],
    ),
    (
        "reading",
        "读书",
        [
            "书单",
            "阅读习惯",
            "长篇小说",
            "读书笔记",
            "作家",
            "电子书",
            "经典名著",
            "共读",
            "散文",
            "文学奖",
            "历史书",
            "睡前阅读",
        ],
    ),
    (
        "home",
        "家居",
        ["收纳", "装修", "清洁", "香薰", "床品", "小户型", "绿植", "厨房", "断舍离", "软装", "沙发", "除螨"],
    ),
]

# content type → (kinds, scenes, title templates, body sentences); {a}/{b} are topic words, {n}/{m} numbers
TYPES: dict[str, dict[str, Any]] = {
    "educational": {
        "kinds": ["article", "video", "audio"],
        "scenes": ["education"],
        "titles": [
            "关于{a}的{n}个常见误区",
            "科普：{a}到底是怎么回事",
            "{a}和{b}，专家这样说",
            "一文讲清{a}的原理",
            "{a}冷门知识：很多人都理解错了",
        ],
        "body": [
            "很多人对{a}有误解，今天把背后的原理讲清楚。",
            "研究发现，{a}和{b}之间的关系比想象中更密切。",
            "这篇整理了关于{b}最常被问到的{n}个问题。",
            "看懂这些知识，再也不会被{a}的说法带偏。",
        ],
    },
    "practical": {
        "kinds": ["article", "video", "poster", "file"],
        "scenes": ["tutorial"],
        "titles": [
            "{a}实用技巧：{n}步搞定{b}",
            "{a}新手攻略，收藏这一篇就够了",
            "{b}怎么选？一张清单说明白",
            "手把手教你{a}",
            "{n}个{b}小妙招，亲测有效",
        ],
        "body": [
            "按照下面{n}个步骤操作，{a}其实很简单。",
            "第一步先准备好{b}，第二步注意细节，最后坚持。",
            "附上一份{a}清单，照着做就不会出错。",
            "这些{b}技巧适合新手，也适合想省时间的你。",
        ],
    },
    "entertainment": {
        "kinds": ["video", "poster"],
        "scenes": ["seeding"],
        "titles": [
            "笑死，{a}的日常",
            "{a}趣事合集，第{n}个太真实了",
            "当{a}遇上{b}",
            "{a}冷笑话，你听过几个",
            "关于{b}的那些好笑瞬间",
        ],
        "body": [
            "今天轻松一下，看看{a}的搞笑瞬间。",
            "网友分享的{b}趣事，每一个都很真实。",
            "{a}的世界总有意想不到的快乐。",
            "看完记得分享给同样喜欢{b}的朋友。",
        ],
    },
    "interactive": {
        "kinds": ["h5", "poster", "text_script"],
        "scenes": ["referral", "membership"],
        "titles": [
            "投票：你更喜欢{a}还是{b}？",
            "打卡挑战：{n}天{a}",
            "评论区说说你的{a}故事",
            "有奖问答：{b}知多少",
            "来晒晒你的{a}",
        ],
        "body": [
            "参与投票说出你的选择，抽{n}位送出{b}。",
            "每天打卡记录你的{a}，坚持{n}天有惊喜。",
            "在评论区留言分享你和{b}的故事。",
            "答对{n}道题即可参与抽奖。",
        ],
    },
    "promotional": {
        "kinds": ["coupon", "miniprogram_card", "poster", "text_script"],
        "scenes": ["first_order", "repurchase", "holiday"],
        "titles": [
            "{a}限时{n}折",
            "{b}新品首发，领券立减{m}元",
            "会员专享：{a}第二件半价",
            "{b}爆款秒杀，仅限今天",
            "{a}囤货季，满{m}减{n}",
        ],
        "body": [
            "限时优惠，{a}直降{m}元，数量有限先到先得。",
            "点击领取{b}专属优惠券，下单立减。",
            "老客户回购{a}享受额外折扣。",
            "活动截止本周日，{b}好价不等人。",
        ],
    },
    "brand_story": {
        "kinds": ["article", "video"],
        "scenes": ["seeding", "onboarding"],
        "titles": [
            "我们为什么坚持做{a}",
            "用户故事：{a}改变了我的生活",
            "幕后：一件{b}的诞生",
            "{n}年只做好{a}这件事",
            "创始人聊{b}",
        ],
        "body": [
            "这是一个关于{a}的真实故事。",
            "从第一件{b}开始，我们坚持了{n}年。",
            "一位老用户讲述她和{a}的故事。",
            "走进工厂，看看{b}是怎样做出来的。",
        ],
    },
}
TYPE_IDS = list(TYPES)
GENERIC_TAGS = {
    "educational": "干货",
    "practical": "教程",
    "entertainment": "有趣",
    "interactive": "互动",
    "promotional": "福利",
    "brand_story": "品牌",
}


@dataclass
class World:
    seed: int
    assets: list[dict[str, Any]]  # hub import lines (with "id")
    topic: np.ndarray  # (A,) topic index of each asset
    ctype: np.ndarray  # (A,) content type index
    appeal: np.ndarray  # (A,) hidden q_a
    on_channel: np.ndarray  # (A,) bool: tagged for CHANNEL
    user_ids: list[str]
    users: list[dict[str, Any]]  # hub PUT /v1/users bodies
    affinity: np.ndarray  # (U, K) a_u,k
    type_taste: np.ndarray  # (U, C) b_u,c
    primary: np.ndarray  # (U,)
    secondary: np.ndarray  # (U,) −1 when none
    stage0: list[str]  # hidden starting stage per user

    def liked(self, u: int, a: int) -> bool:
        """The asset's topic is one of the user's own (primary or secondary)."""
        return bool(self.topic[a] == self.primary[u] or self.topic[a] == self.secondary[u])


def _fill(rng: np.random.Generator, template: str, words: list[str]) -> str:
    a, b = rng.choice(words, 2, replace=False)
    return template.format(a=a, b=b, n=int(rng.integers(3, 10)), m=int(rng.integers(2, 10)) * 10)


def make_world(seed: int, n_assets: int, n_users: int) -> World:
    rng = np.random.default_rng([seed, 18])
    k, c = len(TOPICS), len(TYPE_IDS)
    topic_share = rng.dirichlet(np.full(k, 4.0))  # how much of the library each topic has
    type_share = rng.dirichlet(np.full(c, 4.0))
    topic = rng.choice(k, n_assets, p=topic_share)
    ctype = rng.choice(c, n_assets, p=type_share)
    appeal = rng.normal(0, 0.4, n_assets)
    on_channel = rng.random(n_assets) < 0.85
    assets: list[dict[str, Any]] = []
    titles: set[str] = set()
    for i in range(n_assets):
        _, tag, words = TOPICS[topic[i]]
        type_id = TYPE_IDS[ctype[i]]
        spec = TYPES[type_id]
        for _ in range(20):  # distinct titles (an editor would not upload the same title twice)
            title = _fill(rng, str(rng.choice(spec["titles"])), words)
            if title not in titles:
                break
        titles.add(title)
        sentences = [_fill(rng, str(s), words) for s in rng.choice(spec["body"], 3, replace=False)]
        tags = [tag] if rng.random() < 0.5 else []
        if rng.random() < 0.3:
            tags.append(GENERIC_TAGS[type_id])
        channels = [CHANNEL] if on_channel[i] else []
        channels += [str(x) for x in rng.choice(OTHER_CHANNELS, int(rng.integers(1, 3)), replace=False)]
        scenes = [str(rng.choice(spec["scenes"]))]
        assets.append(
            {
                "id": f"sim{i:04d}",
                "title": title,
                "body": "".join(sentences),
                "kind": str(rng.choice(spec["kinds"])),
                "content_type": type_id,
                "scenes": scenes,
                "channels": channels,
                "tags": tags,
                "status": "approved",
            }
        )
    taste_pop = rng.dirichlet(np.full(k, 2.0))  # how many users like each topic (not the library's share)
    primary = rng.choice(k, n_users, p=taste_pop)
    secondary = np.full(n_users, -1)
    affinity = rng.normal(-0.5, 0.35, (n_users, k))
    for u in range(n_users):
        affinity[u, primary[u]] += 2.0
        if rng.random() < 0.6:
            p = taste_pop.copy()
            p[primary[u]] = 0
            secondary[u] = rng.choice(k, p=p / p.sum())
            affinity[u, secondary[u]] += 1.0
    type_mean = rng.normal(0, 0.3, c)
    type_taste = type_mean + rng.normal(0, 0.6, (n_users, c))
    stage0 = [str(s) for s in rng.choice(STAGES, n_users, p=STAGE_SHARE)]
    regions = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京"]
    user_ids = [f"simu{u:04d}" for u in range(n_users)]
    users = [
        {
            "id": uid,
            "region": str(rng.choice(regions)),
            "source_channel": CHANNEL,
            "member_level": "member" if stage0[u] == "stable" and rng.random() < 0.7 else None,
        }
        for u, uid in enumerate(user_ids)
    ]
    return World(
        seed,
        assets,
        topic,
        ctype,
        appeal,
        on_channel,
        user_ids,
        users,
        affinity,
        type_taste,
        primary,
        secondary,
        stage0,
    )


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@dataclass
class UserState:
    """One policy's copy of every user's hidden state (policies change users differently)."""

    stage: list[str]
    fatigue: np.ndarray  # (U,)
    sent: list[dict[int, int]]  # per user: asset index → day sent
    days_since_open: np.ndarray  # (U,)
    click_days: np.ndarray  # (U,)
    unsubscribed: np.ndarray  # (U,) bool
    joined_day: int = 1
    sends_by_day: list[dict[int, int]] = field(default_factory=list)  # per user: day → sends (rule check)

    @classmethod
    def start(cls, world: World) -> UserState:
        n = len(world.user_ids)
        return cls(
            list(world.stage0),
            np.zeros(n),
            [{} for _ in range(n)],
            np.zeros(n),
            np.zeros(n),
            np.zeros(n, dtype=bool),
            1,
            [{} for _ in range(n)],
        )


def click_probs(world: World, state: UserState, u: int) -> tuple[np.ndarray, np.ndarray]:
    """(p_open, p_click | open) of every asset for user u today."""
    t = world.topic
    aff = world.affinity[u, t]
    p_open = sigmoid(STAGE_OPEN_LOGIT[state.stage[u]] + 0.3 * aff + 0.2 * world.appeal - 0.2 * state.fatigue[u])
    p_click = sigmoid(-1.2 + aff + world.type_taste[u, world.ctype] + world.appeal)
    return p_open, p_click


def day_uniforms(seed: int, day: int, n_users: int, n_assets: int) -> np.ndarray:
    """(U, A, 4) uniforms for open, click, convert, unsubscribe: the common random numbers of one day."""
    return np.random.default_rng([seed, 18, day]).random((n_users, n_assets, 4), dtype=np.float32)


@dataclass
class Reaction:
    opened: bool
    clicked: bool
    converted: bool
    unsubscribed: bool
    value: float


def react(world: World, state: UserState, u: int, a: int, day: int, uni: np.ndarray) -> Reaction:
    """How user u reacts to asset a sent on ``day``; updates the state (fatigue, stage, history)."""
    p_open, p_click = click_probs(world, state, u)
    r = uni[u, a]
    opened = bool(r[0] < p_open[a])
    clicked = opened and bool(r[1] < p_click[a])
    promo = TYPE_IDS[world.ctype[a]] == "promotional"
    p_conv = float(sigmoid(-2.5 + 0.6 * promo + 0.3 * world.affinity[u, world.topic[a]]))
    converted = clicked and bool(r[2] < p_conv)
    unsub = (not clicked) and bool(r[3] < 0.001 * (1 + state.fatigue[u]))
    value = round(float(30 + 170 * r[2] / max(p_conv, 1e-9)), 2) if converted else 0.0
    state.sent[u][a] = day
    state.sends_by_day[u][day] = state.sends_by_day[u].get(day, 0) + 1
    state.fatigue[u] += 0.4 if clicked else 1.0
    state.days_since_open[u] = 0 if opened else state.days_since_open[u]
    if clicked:
        state.click_days[u] += 1
        if state.stage[u] == "silent":
            state.stage[u] = "active"
    if unsub:
        state.unsubscribed[u] = True
    return Reaction(opened, clicked, converted, unsub, value)


def end_of_day(world: World, state: UserState, day: int, opened_today: set[int]) -> None:
    """Fatigue decays, stages move (see the module docstring)."""
    state.fatigue *= 0.8
    for u in range(len(world.user_ids)):
        if u not in opened_today:
            state.days_since_open[u] += 1
        s = state.stage[u]
        if s == "new" and day - state.joined_day + 1 >= 7:
            state.stage[u] = "active"
        if state.stage[u] == "active" and state.click_days[u] >= 5:
            state.stage[u] = "stable"
        if state.days_since_open[u] >= 7:
            state.stage[u] = "silent"


def eligible(world: World, state: UserState, u: int, day: int, window: int) -> np.ndarray:
    """Assets a send to user u may carry today: tagged for the channel, not sent within the window."""
    ok = world.on_channel.copy()
    for a, d in state.sent[u].items():
        if day - d < window:
            ok[a] = False
    return ok
