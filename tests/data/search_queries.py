"""The search relevance set's queries, written for the demo library (`contenthub demo`, 400 assets, seed 7).

Each query names what an editor typing it wants: ``best`` — terms whose presence in an asset's tags or title
makes it a full match (grade 2); ``related`` — terms whose presence in its tags (or a ``best`` term only in its
body) makes it a partial match (grade 1). ``filters`` narrow as the search does (AND across facets). Poster
queries (kind "poster") are the code words printed only on the demo posters (see ``poster_rows``).
`python tests/data/search_queries.py` turns these rules into explicit graded asset ids in
tests/data/search_relevance.jsonl, which the test and bench/search.py read; review that file, not the rules.
Nonsense queries (kind "nonsense") must match nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (query, kind, best terms, related terms, filters)
Q = tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, list[str]]]
NONE: dict[str, list[str]] = {}

EYE = ("护眼", "视疲劳", "用眼健康", "青少年近视防控")
PET = ("宠物", "猫粮", "狗粮")
HOME = ("家电", "智能家居", "清洁电器", "厨房电器")
EDU = ("读书学习", "在线课程", "终身学习")
BABY = ("母婴", "新手爸妈", "科学喂养", "宝宝护理")
SKIN = ("护肤", "保湿", "敏感肌")
FIT = ("健身", "运动营养", "减脂", "增肌")
COF = ("咖啡", "精品咖啡", "手冲", "冷萃")

QUERIES: list[Q] = [
    # --- Chinese: products, 2-character words, topics ---------------------------------------------------
    ("护眼", "zh", ("护眼",), EYE, NONE),
    ("护眼台灯", "zh", ("护眼台灯",), ("学习灯", "护眼"), NONE),
    ("台灯", "zh", ("护眼台灯", "学习灯"), ("护眼",), NONE),
    ("叶黄素", "zh", ("叶黄素", "叶黄素酯软糖"), EYE, NONE),
    ("眼罩", "zh", ("蒸汽眼罩",), EYE, NONE),
    ("近视", "zh", ("青少年近视防控", "儿童防蓝光眼镜"), EYE, NONE),
    ("眼睛累", "zh", ("视疲劳", "蒸汽眼罩", "眼部按摩仪"), EYE, NONE),
    ("防蓝光眼镜", "zh", ("儿童防蓝光眼镜",), EYE, NONE),
    ("润眼液", "zh", ("玻尿酸润眼液",), EYE, NONE),
    ("猫粮", "zh", ("猫粮", "冻干双拼猫粮"), PET, NONE),
    ("狗粮", "zh", ("狗粮", "幼犬粮"), PET, NONE),
    ("宠物零食", "zh", ("宠物零食", "营养猫条", "洁齿棒"), PET, NONE),
    ("猫条", "zh", ("营养猫条",), PET, NONE),
    ("益生菌", "zh", ("宠物益生菌",), ("肠胃护理",) + PET, NONE),
    ("主食罐", "zh", ("鲜肉主食罐",), PET, NONE),
    ("破壁机", "zh", ("静音破壁机",), HOME, NONE),
    ("空气炸锅", "zh", ("空气炸锅",), HOME, NONE),
    ("扫地机器人", "zh", ("扫地机器人",), ("清洁电器",) + HOME, NONE),
    ("洗地机", "zh", ("洗地机",), ("清洁电器",) + HOME, NONE),
    ("净化器", "zh", ("空气净化器", "净化器替换滤网", "空气净化"), HOME, NONE),
    ("滤网", "zh", ("净化器替换滤网",), ("空气净化",) + HOME, NONE),
    ("家电", "zh", ("家电",), HOME, NONE),
    ("阅读会员", "zh", ("年度阅读会员",), EDU, NONE),
    ("名著", "zh", ("经典名著套书",), EDU, NONE),
    ("编程", "zh", ("编程入门", "Python入门课"), EDU, NONE),
    ("英语启蒙", "zh", ("英语启蒙", "少儿英语启蒙课"), EDU, NONE),
    ("写作课", "zh", ("职场写作课",), ("职场成长",) + EDU, NONE),
    ("时间管理", "zh", ("时间管理训练营",), ("职场成长",) + EDU, NONE),
    ("纸尿裤", "zh", ("纸尿裤",), BABY, NONE),
    ("奶粉", "zh", ("婴儿配方奶粉",), BABY, NONE),
    ("米粉", "zh", ("高铁米粉",), ("辅食",) + BABY, NONE),
    ("辅食", "zh", ("辅食", "高铁米粉"), BABY, NONE),
    ("吸奶器", "zh", ("电动吸奶器",), BABY, NONE),
    ("绘本", "zh", ("儿童绘本套装", "亲子阅读"), BABY, NONE),
    ("润肤霜", "zh", ("宝宝润肤霜",), BABY, NONE),
    ("防晒", "zh", ("防晒", "清透防晒乳"), SKIN, NONE),
    ("面膜", "zh", ("玻尿酸面膜",), SKIN, NONE),
    ("洁面", "zh", ("氨基酸洁面",), SKIN, NONE),
    ("美白精华", "zh", ("维C精华", "美白"), ("修护精华",) + SKIN, NONE),
    ("面霜", "zh", ("保湿面霜",), SKIN, NONE),
    ("敏感肌", "zh", ("敏感肌", "屏障修护"), SKIN, NONE),
    ("蛋白粉", "zh", ("乳清蛋白粉",), ("运动营养", "增肌") + FIT, NONE),
    ("瑜伽垫", "zh", ("加厚瑜伽垫",), FIT, NONE),
    ("筋膜枪", "zh", ("筋膜枪",), FIT, NONE),
    ("跳绳", "zh", ("智能跳绳",), FIT, NONE),
    ("减脂营", "zh", ("21天减脂营",), ("减脂",) + FIT, NONE),
    ("私教", "zh", ("私教课",), FIT, NONE),
    ("体态", "zh", ("体态矫正",), FIT, NONE),
    ("咖啡豆", "zh", ("中深烘咖啡豆",), COF, NONE),
    ("挂耳", "zh", ("挂耳咖啡",), COF, NONE),
    ("冷萃", "zh", ("冷萃", "冷萃咖啡液"), COF, NONE),
    ("拿铁", "zh", ("燕麦拿铁",), COF, NONE),
    ("手冲", "zh", ("手冲", "手冲咖啡套装"), COF, NONE),
    ("冻干咖啡", "zh", ("冻干咖啡粉",), COF, NONE),
    ("咖啡", "zh", ("咖啡",), COF, NONE),
    ("健身", "zh", ("健身",), FIT, NONE),
    ("宠物", "zh", ("宠物",), PET, NONE),
    ("护肤", "zh", ("护肤",), SKIN, NONE),
    ("母婴", "zh", ("母婴",), BABY, NONE),
    ("提神", "zh", ("提神",), COF, NONE),
    ("增肌", "zh", ("增肌", "乳清蛋白粉"), FIT, NONE),
    ("减肥", "zh", ("减脂", "21天减脂营"), FIT, NONE),
    ("宝宝 辅食", "zh", ("辅食", "高铁米粉"), BABY, NONE),
    ("猫粮 换粮", "zh", ("猫粮", "冻干双拼猫粮"), PET, NONE),
    ("咖啡 办公室", "zh", ("办公室好物",), COF, NONE),
    # --- English: reach the Chinese library through the multilingual model --------------------------------
    ("lamp", "en", ("护眼台灯", "学习灯"), ("护眼",), NONE),
    ("desk lamp for kids", "en", ("护眼台灯", "学习灯"), ("护眼",), NONE),
    ("eye care", "en", ("护眼",), EYE, NONE),
    ("eye strain", "en", ("视疲劳", "蒸汽眼罩", "眼部按摩仪"), EYE, NONE),
    ("myopia", "en", ("青少年近视防控", "儿童防蓝光眼镜"), EYE, NONE),
    ("lutein", "en", ("叶黄素", "叶黄素酯软糖"), EYE, NONE),
    ("cat food", "en", ("猫粮", "冻干双拼猫粮"), PET, NONE),
    ("dog food", "en", ("狗粮", "幼犬粮"), PET, NONE),
    ("pet snacks", "en", ("宠物零食", "营养猫条", "洁齿棒"), PET, NONE),
    ("blender", "en", ("静音破壁机",), HOME, NONE),
    ("air fryer", "en", ("空气炸锅",), HOME, NONE),
    ("robot vacuum", "en", ("扫地机器人",), HOME, NONE),
    ("air purifier", "en", ("空气净化器", "净化器替换滤网", "空气净化"), HOME, NONE),
    ("reading membership", "en", ("年度阅读会员",), EDU, NONE),
    ("programming course", "en", ("编程入门", "Python入门课"), EDU, NONE),
    ("python", "en", ("Python入门课", "编程入门"), EDU, NONE),
    ("english for kids", "en", ("英语启蒙", "少儿英语启蒙课"), EDU, NONE),
    ("diapers", "en", ("纸尿裤",), BABY, NONE),
    ("baby formula", "en", ("婴儿配方奶粉",), BABY, NONE),
    ("breast pump", "en", ("电动吸奶器",), BABY, NONE),
    ("picture books", "en", ("儿童绘本套装", "亲子阅读"), BABY, NONE),
    ("sunscreen", "en", ("防晒", "清透防晒乳"), SKIN, NONE),
    ("face mask", "en", ("玻尿酸面膜",), SKIN, NONE),
    ("vitamin c serum", "en", ("维C精华",), SKIN, NONE),
    ("sensitive skin", "en", ("敏感肌", "屏障修护"), SKIN, NONE),
    ("protein powder", "en", ("乳清蛋白粉",), FIT, NONE),
    ("yoga mat", "en", ("加厚瑜伽垫",), FIT, NONE),
    ("massage gun", "en", ("筋膜枪",), FIT, NONE),
    ("jump rope", "en", ("智能跳绳",), FIT, NONE),
    ("fat loss", "en", ("减脂", "21天减脂营"), FIT, NONE),
    ("coffee beans", "en", ("中深烘咖啡豆",), COF, NONE),
    ("cold brew", "en", ("冷萃", "冷萃咖啡液"), COF, NONE),
    ("oat latte", "en", ("燕麦拿铁",), COF, NONE),
    ("coffee", "en", ("咖啡",), COF, NONE),
    # --- pinyin: full, with spaces, initials ------------------------------------------------------------
    ("huyan", "pinyin", ("护眼",), EYE, NONE),
    ("huyantaideng", "pinyin", ("护眼台灯",), ("学习灯", "护眼"), NONE),
    ("hu yan tai deng", "pinyin", ("护眼台灯",), ("学习灯", "护眼"), NONE),
    ("hytd", "pinyin", ("护眼台灯",), ("学习灯", "护眼"), NONE),
    ("maoliang", "pinyin", ("猫粮", "冻干双拼猫粮"), PET, NONE),
    ("gouliang", "pinyin", ("狗粮", "幼犬粮"), PET, NONE),
    ("niaobuku", "pinyin", ("纸尿裤",), BABY, NONE),
    ("zhiniaoku", "pinyin", ("纸尿裤",), BABY, NONE),
    ("fangshai", "pinyin", ("防晒", "清透防晒乳"), SKIN, NONE),
    ("mianmo", "pinyin", ("玻尿酸面膜",), SKIN, NONE),
    ("jianzhi", "pinyin", ("减脂", "21天减脂营"), FIT, NONE),
    ("jinmoqiang", "pinyin", ("筋膜枪",), FIT, NONE),
    ("yujiadian", "pinyin", ("加厚瑜伽垫",), FIT, NONE),
    ("lengcui", "pinyin", ("冷萃", "冷萃咖啡液"), COF, NONE),
    ("kafeidou", "pinyin", ("中深烘咖啡豆",), COF, NONE),
    ("guaer", "pinyin", ("挂耳咖啡",), COF, NONE),
    ("kqzg", "pinyin", ("空气炸锅",), HOME, NONE),
    ("xidiji", "pinyin", ("洗地机",), HOME, NONE),
    ("pobiji", "pinyin", ("静音破壁机",), HOME, NONE),
    ("yehuangsu", "pinyin", ("叶黄素", "叶黄素酯软糖"), EYE, NONE),
    ("zqyz", "pinyin", ("蒸汽眼罩",), EYE, NONE),
    ("huiben", "pinyin", ("儿童绘本套装", "亲子阅读"), BABY, NONE),
    ("biancheng", "pinyin", ("编程入门", "Python入门课"), EDU, NONE),
    ("mingzhu", "pinyin", ("经典名著套书",), EDU, NONE),
    # --- typos: homophones and a wrong character ----------------------------------------------------------
    ("护颜台灯", "typo", ("护眼台灯",), ("学习灯", "护眼"), NONE),
    ("猫良", "typo", ("猫粮", "冻干双拼猫粮"), PET, NONE),
    ("防嗮", "typo", ("防晒", "清透防晒乳"), SKIN, NONE),
    ("瑜珈垫", "typo", ("加厚瑜伽垫",), FIT, NONE),
    ("咖啡逗", "typo", ("中深烘咖啡豆",), COF, NONE),
    ("纸尿布", "typo", ("纸尿裤",), BABY, NONE),
    ("叶黄速", "typo", ("叶黄素", "叶黄素酯软糖"), EYE, NONE),
    ("空气炸国", "typo", ("空气炸锅",), HOME, NONE),
    ("筋膜抢", "typo", ("筋膜枪",), FIT, NONE),
    ("编成入门", "typo", ("编程入门",), EDU, NONE),
    ("lamps", "typo", ("护眼台灯", "学习灯"), ("护眼",), NONE),
    ("coffe", "typo", ("咖啡",), COF, NONE),
    # --- filters: a query and facets together -------------------------------------------------------------
    ("护眼", "filter", ("护眼",), EYE, {"scenes": ["education"]}),
    ("护眼", "filter", ("护眼",), EYE, {"channels": ["moments"]}),
    ("猫粮", "filter", ("猫粮", "冻干双拼猫粮"), PET, {"kinds": ["coupon"]}),
    ("咖啡", "filter", ("咖啡",), COF, {"scenes": ["first_order"]}),
    ("咖啡", "filter", ("咖啡",), COF, {"channels": ["wecom_group"], "kinds": ["text_script"]}),
    ("健身", "filter", ("健身",), FIT, {"scenes": ["live_preview"]}),
    ("纸尿裤", "filter", ("纸尿裤",), BABY, {"statuses": ["approved"]}),
    ("防晒", "filter", ("防晒", "清透防晒乳"), SKIN, {"scenes": ["seeding"]}),
    ("lamp", "filter", ("护眼台灯", "学习灯"), ("护眼",), {"statuses": ["approved"]}),
    ("家电", "filter", ("家电",), HOME, {"scenes": ["holiday"]}),
    ("阅读会员", "filter", ("年度阅读会员",), EDU, {"scenes": ["membership"]}),
    ("直播", "filter", ("直播",), (), {"kinds": ["poster"]}),
    ("直播", "filter", ("直播",), (), {"channels": ["channels"]}),
    ("宠物", "filter", ("宠物",), PET, {"scenes": ["aftersales"]}),
    ("huyan", "filter", ("护眼",), EYE, {"kinds": ["video"]}),
    ("coffee", "filter", ("咖啡",), COF, {"scenes": ["repurchase"]}),
    # --- holidays and campaigns ---------------------------------------------------------------------------
    ("双11", "zh", ("双11",), (), NONE),
    ("双12", "zh", ("双12",), (), NONE),
    ("父亲节", "zh", ("父亲节",), (), NONE),
    ("母亲节", "zh", ("母亲节",), (), NONE),
    ("国庆", "zh", ("国庆",), (), NONE),
    ("元宵节", "zh", ("元宵节",), (), NONE),
    ("直播", "zh", ("直播",), (), NONE),
    ("zhibo", "pinyin", ("直播",), (), NONE),
]

NONSENSE: list[str] = [
    "qwertyzzz",
    "asdfghjkl",
    "zxcvbnm",
    "xyzzy plugh",
    "lorem ipsum dolor",
    "qqqqqq",
    "jjjjjjjj",
    "kkdkdkdk",
    "bbbzzz",
    "wxyzwxyz",
    "火山喷发",
    "量子纠缠",
    "航空母舰",
    "区块链挖矿",
    "核聚变反应堆",
    "拖拉机维修",
    "恐龙化石",
    "volcano eruption",
    "quantum physics",
    "aircraft carrier",
    "tractor repair",
    "nuclear fusion",
    "dinosaur fossils",
    "cryptocurrency mining",
    "😀😀😀",
    "%%%%",
    "12345678901234",
    "ﾎﾟﾎﾟﾎﾟ",
    "Ωμέγα",
    "фывапролд",
]


MEDIA_KINDS = ("poster", "audio", "file")


def _filters_pass(a: dict[str, Any], status: str, flt: dict[str, list[str]]) -> bool:
    for facet, values in flt.items():
        if facet == "statuses":
            if status not in values:
                return False
        elif facet == "kinds":
            if a["kind"] not in values:
                return False
        elif not set(a[facet]) & set(values):
            return False
    return True


def judge(
    docs: list[dict[str, Any]], best: tuple[str, ...], related: tuple[str, ...], flt: dict[str, list[str]]
) -> dict[str, int]:
    """Grades by the rules in the module doc. As `contenthub demo` does, asset i has status draft/archived/
    approved by its number, and the first 60 of the kinds that get a media file have a copy ``demo-m{i}``
    (approved, the same text) carrying it — graded as the original."""
    out: dict[str, int] = {}
    for i, a in enumerate(docs):
        status = "draft" if i % 17 == 5 else "archived" if i % 29 == 7 else "approved"
        tags = set(a["tags"])
        grade = (
            2
            if tags & set(best) or any(t in a["title"] for t in best)
            else 1
            if tags & set(related) or any(t in a["body"] for t in best)
            else 0
        )
        if grade and _filters_pass(a, status, flt):
            out[f"demo-{i:05d}"] = grade
        if grade and i < 60 and a["kind"] in MEDIA_KINDS and _filters_pass(a, "approved", flt):
            out[f"demo-m{i:03d}"] = grade
    return out


def poster_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queries for the code words printed only on the demo's posters (demo_corpus.POSTER_CODE_WORDS): the
    posters carrying the word are the full matches; found through OCR or not at all."""
    from contenthub.library.demo_corpus import POSTER_CODE_WORDS, poster_text

    on: dict[str, list[str]] = {}
    for i, a in enumerate(docs[:60]):
        if a["kind"] == "poster":
            for line in poster_text(i):
                for word in POSTER_CODE_WORDS:
                    if word in line:
                        on.setdefault(word, []).append(f"demo-m{i:03d}")
    rows = []
    for word, ids in sorted(on.items()):
        rows.append({"q": word, "kind": "poster", "filters": {}, "relevant": dict.fromkeys(ids, 2)})
        rows.append({"q": f"暗号 {word}", "kind": "poster", "filters": {}, "relevant": dict.fromkeys(ids, 2)})
    return rows


def build() -> list[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from contenthub.library.demo_corpus import generate_assets

    docs = generate_assets(400)
    rows = [
        {"q": q, "kind": kind, "filters": flt, "relevant": judge(docs, best, related, flt)}
        for q, kind, best, related, flt in QUERIES
    ]
    rows += poster_rows(docs)
    rows += [{"q": q, "kind": "nonsense", "filters": {}, "relevant": {}} for q in NONSENSE]
    return rows


if __name__ == "__main__":
    out = Path(__file__).with_name("search_relevance.jsonl")
    rows = build()
    out.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    print(f"{len(rows)} queries ({sum(r['kind'] != 'nonsense' for r in rows)} graded) -> {out}")
