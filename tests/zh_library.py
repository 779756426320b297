"""A small Chinese library with known topics and formats, for the recommender's learning tests.

Every asset is one topic (eye care, coffee, fitness, pets, baby food, skin care) in one format (a
tutorial, a promotion, a story). Titles and bodies mix a topic's words with a format's words, so a
vector space that separates format rather than topic shows at once. Half the assets carry the topic
as an editor's tag; the rest say it only in their text.
"""

from __future__ import annotations

import random
from typing import Any

TOPICS: dict[str, list[str]] = {
    "护眼": ["眼睛干涩", "护眼台灯", "蓝光", "近视防控", "眼保健操", "屏幕时间", "视力", "眼药水"],
    "咖啡": ["手冲咖啡", "咖啡豆", "冷萃", "拿铁", "烘焙度", "意式浓缩", "磨豆机", "咖啡因"],
    "健身": ["深蹲", "有氧运动", "增肌", "体脂率", "跑步", "拉伸", "蛋白粉", "核心训练"],
    "宠物": ["猫粮", "狗狗", "猫砂", "驱虫", "宠物医院", "铲屎官", "猫咪", "遛狗"],
    "辅食": ["宝宝辅食", "米粉", "过敏", "月龄", "蔬菜泥", "喂养", "宝宝", "蛋黄"],
    "护肤": ["防晒霜", "保湿", "面膜", "敏感肌", "精华", "洁面", "美白", "皮肤屏障"],
}
FORMATS: dict[str, tuple[str, list[str]]] = {
    "tutorial": ("practical", ["三个步骤教你", "新手入门指南", "一文讲清楚", "详细教程", "常见误区", "手把手"]),
    "promo": ("promotional", ["限时优惠", "新人专享立减", "买一送一", "会员价", "今晚直播间秒杀", "领券下单"]),
    "story": ("brand_story", ["用户故事", "我们的初心", "一位妈妈的分享", "创始人说", "十年坚持", "真实经历"]),
}


def zh_library(per_cell: int = 5, seed: int = 7) -> list[dict[str, Any]]:
    """Asset bodies (``tests.helpers.asset`` fields plus ``_topic``/``_format`` truths) for every topic × format."""
    rng = random.Random(seed)
    out = []
    for t_i, (topic, words) in enumerate(TOPICS.items()):
        for fmt, (ctype, phrases) in FORMATS.items():
            for k in range(per_cell):
                a, b, c = rng.sample(words, 3)
                p, q = rng.sample(phrases, 2)
                title = f"{p}：{a}和{b}" if k % 2 else f"{a}{p}"
                body = f"{q}。关于{a}、{b}与{c}，{p}，看完就懂。{rng.choice(phrases)}。"
                tags = [topic] if (t_i + k) % 2 == 0 else []
                out.append(
                    {
                        "id": f"{fmt}-{t_i}-{k}",
                        "title": title,
                        "body": body,
                        "tags": tags,
                        "content_type": ctype,
                        "channels": ["wecom_1v1", "moments"],
                        "_topic": topic,
                        "_format": fmt,
                    }
                )
    return out
