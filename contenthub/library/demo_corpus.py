"""Demo content: a deterministic, realistic-looking private-domain asset library.

Why it exists: the demo, the tests and the benchmarks all need a content library that looks like
what a brand's 内容运营 actually keeps — 1:1 WeCom scripts, group posts, article titles and leads,
poster copy, video captions, SMS — across several verticals, tagged with the DESIGN.md vocabulary.
The same generator feeds a 400-asset demo and 2,000/10,000-asset benchmarks, so titles are composed
from independent parts (scene phrasing × product × numbers × style) and stay distinct at 10k.

Scene labels are meant to be *learnable*: each scene has its own phrasing pool, while the kind-
and channel-specific wrappers (greetings, calls to action, hashtags) are shared noise. Some scenes
overlap on purpose (reactivation vs. winback, first_order vs. promotional coupons) because real
copy does. The hand-written evaluation set in tests/data/scene_eval.jsonl is kept apart from these
templates so a classifier trained here is judged on text it has never seen.

Everything is generated from the seed; no external data, no network.
"""

from __future__ import annotations

import io
import math
import random
import struct
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# --- vocabulary (ids as in DESIGN.md / library.taxonomy defaults) ---------------------------------

CHANNELS: tuple[str, ...] = (
    "mp_subscription",
    "mp_service",
    "wecom_1v1",
    "wecom_group",
    "moments",
    "channels",
    "xiaohongshu",
    "douyin",
    "miniprogram",
    "app_push",
    "sms",
)
SCENES: tuple[str, ...] = (
    "onboarding",
    "first_order",
    "repurchase",
    "reactivation",
    "winback",
    "holiday",
    "seeding",
    "education",
    "tutorial",
    "membership",
    "referral",
    "aftersales",
    "live_preview",
)
CONTENT_TYPES: tuple[str, ...] = (
    "educational",
    "practical",
    "entertainment",
    "interactive",
    "promotional",
    "brand_story",
)
KINDS: tuple[str, ...] = (
    "article",
    "poster",
    "video",
    "audio",
    "h5",
    "miniprogram_card",
    "coupon",
    "text_script",
    "file",
)
STAGES: tuple[str, ...] = ("new", "active", "stable", "silent", "churned")

# Where each kind can plausibly be published. SMS carries only plain text scripts; coupons live
# where they can be claimed (mini program, WeCom, app); videos go to the short-video platforms.
CHANNELS_BY_KIND: dict[str, tuple[str, ...]] = {
    "article": ("mp_subscription", "mp_service", "wecom_group", "moments"),
    "poster": ("moments", "wecom_group", "wecom_1v1", "xiaohongshu"),
    "video": ("channels", "douyin", "xiaohongshu", "moments", "wecom_group"),
    "audio": ("mp_subscription", "wecom_group", "wecom_1v1", "miniprogram"),
    "h5": ("wecom_1v1", "wecom_group", "moments", "mp_service", "app_push"),
    "miniprogram_card": ("wecom_1v1", "wecom_group", "miniprogram", "mp_service"),
    "coupon": ("miniprogram", "wecom_1v1", "wecom_group", "app_push"),
    "text_script": ("wecom_1v1", "wecom_group", "sms", "app_push", "moments"),
    "file": ("wecom_1v1", "wecom_group"),
}
_CHANNEL_WEIGHTS: dict[str, tuple[int, ...]] = {
    "article": (5, 4, 2, 1),
    "poster": (4, 3, 2, 2),
    "video": (4, 3, 3, 1, 1),
    "audio": (3, 2, 1, 2),
    "h5": (3, 3, 2, 1, 1),
    "miniprogram_card": (4, 3, 2, 1),
    "coupon": (3, 3, 2, 2),
    "text_script": (6, 4, 2, 1, 1),
    "file": (3, 2),
}


# --- verticals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    name: str
    feature: str  # what a seeding post brags about
    steps: tuple[str, str, str]  # tutorial steps
    care: str  # after-sales tip
    cycle: int | None  # typical days until a refill; None for durables (no repurchase copy)


@dataclass(frozen=True)
class Vertical:
    key: str
    line: str  # short Chinese name of the product line, also the first tag
    brand: str
    products: tuple[Product, ...]
    tags: tuple[str, ...]
    crowds: tuple[str, ...]
    pains: tuple[str, ...]
    benefits: tuple[str, ...]
    topics: tuple[str, ...]
    facts: tuple[str, ...]
    experts: tuple[str, ...]
    gifts: tuple[str, ...]


P = Product
VERTICALS: tuple[Vertical, ...] = (
    Vertical(
        key="eye_care",
        line="护眼",
        brand="明眸视界",
        products=(
            P(
                "护眼台灯",
                "全光谱无频闪，照度达到国AA级",
                ("把台灯放在写字手的对侧", "灯头调到离桌面40厘米左右", "开启自动调光，让亮度跟着环境变"),
                "灯罩用干的软布擦，不要用酒精",
                None,
            ),
            P(
                "叶黄素酯软糖",
                "每粒含叶黄素酯20mg，还加了玉米黄质",
                ("每天1粒，随餐吃吸收更好", "开封后放在阴凉干燥处", "坚持吃满3个月再看效果"),
                "开封后拧紧瓶盖，避免受潮粘连",
                30,
            ),
            P(
                "蒸汽眼罩",
                "40℃恒温持续20分钟，淡淡的薰衣草香",
                ("撕开包装后等10秒左右开始发热", "挂好耳带让发热面贴合眼周", "敷完再轻轻按摩一下眼周"),
                "没拆封的放在阴凉处，别和暖宝宝挤在一起存放",
                20,
            ),
            P(
                "儿童防蓝光眼镜",
                "TR90镜框只有12克，带防蓝光膜层",
                ("先用眼镜布把镜片擦干净", "双手摘戴，避免镜腿变形", "上网课和看平板时戴上"),
                "镜片不要用纸巾干擦，清水冲一下再擦",
                None,
            ),
            P(
                "眼部按摩仪",
                "气压加热敷双模式，可折叠收纳",
                ("充满电后长按开机键3秒", "先选低档热敷，适应后再调高", "每次用15分钟，睡前用效果更好"),
                "用完用湿巾擦净贴肤面，每月至少充一次电保护电池",
                None,
            ),
            P(
                "玻尿酸润眼液",
                "不含防腐剂，单支独立包装",
                ("洗净双手后拧开单支", "头稍微后仰，每只眼滴1到2滴", "闭眼转动眼球让液体分布均匀"),
                "开封后的单支当天用完，不要留着第二天用",
                30,
            ),
        ),
        tags=("护眼", "视疲劳", "青少年近视防控", "叶黄素", "用眼健康", "学习灯"),
        crowds=("学生党", "上班族", "宝妈", "考研党", "程序员"),
        pains=("盯屏幕久了眼睛干涩", "孩子写作业总是趴着看", "熬夜后眼睛又酸又胀", "晚上看书眼睛容易累"),
        benefits=("眼睛明显没那么干了", "孩子写作业坐姿也端正了", "长时间看书也不觉得累", "光线柔和不刺眼"),
        topics=(
            "蓝光到底伤不伤眼",
            "近视和散光有什么区别",
            "叶黄素要不要补",
            "20-20-20用眼法则",
            "孩子的远视储备是什么",
            "干眼症为什么越来越年轻化",
        ),
        facts=(
            "近距离用眼20分钟就看20英尺外20秒，能放松睫状肌",
            "每天户外活动2小时是预防近视最经济的办法",
            "叶黄素人体不能自己合成，只能从饮食里获取",
            "开台灯时房间主灯也要开，明暗反差太大更容易累",
        ),
        experts=("眼视光医生", "资深验光师"),
        gifts=("蒸汽眼罩体验装", "护眼手册", "眼镜布", "叶黄素软糖试吃装"),
    ),
    Vertical(
        key="skincare",
        line="护肤",
        brand="水漾肌研",
        products=(
            P(
                "修护精华",
                "添加5%神经酰胺，专门针对屏障受损",
                ("洁面后先用爽肤水打底", "取2到3滴在掌心温热", "轻按全脸，避开眼周"),
                "放在避光阴凉处，开封后6个月内用完",
                45,
            ),
            P(
                "氨基酸洁面",
                "pH5.5弱酸性，洗完不紧绷",
                ("先用温水打湿脸", "取黄豆大小揉出泡沫", "在T区多停留几秒再冲净"),
                "用后拧紧盖子，别让瓶里进水",
                60,
            ),
            P(
                "清透防晒乳",
                "SPF50+ PA++++，轻薄不泛白",
                ("护肤最后一步取一元硬币大小", "分点涂抹后推开", "户外每2到3小时补涂一次"),
                "不要放在车里暴晒，高温会影响防晒效果",
                45,
            ),
            P(
                "保湿面霜",
                "三重玻尿酸，24小时锁水",
                ("等精华吸收后再用", "取豌豆大小点涂在五个位置", "由内向外轻轻推开"),
                "用挖棒取用，避免手指直接接触膏体",
                60,
            ),
            P(
                "玻尿酸面膜",
                "天丝膜布，一片精华液有25ml",
                ("洁面后展开面膜贴合脸部", "敷15分钟，不要超过20分钟", "揭下后把剩余精华拍开"),
                "常温保存，冬天可以先泡温水再敷",
                30,
            ),
            P(
                "维C精华",
                "15%原型VC，搭配阿魏酸稳定配方",
                ("建议晚上使用", "先在耳后试用确认不刺痛", "用完第二天一定做好防晒"),
                "开封后放冰箱冷藏，颜色变深就别用了",
                45,
            ),
        ),
        tags=("护肤", "敏感肌", "防晒", "保湿", "屏障修护", "美白"),
        crowds=("敏感肌姐妹", "油皮女孩", "熬夜党", "学生党", "职场女性"),
        pains=("换季脸上泛红起皮", "T区出油下午就花妆", "熬夜后脸色暗沉", "一到秋冬就干到起皮"),
        benefits=("泛红明显少了", "上妆更服帖", "皮肤摸起来软软的", "整个人气色好了很多"),
        topics=(
            "敏感肌到底能不能刷酸",
            "防晒霜的SPF和PA怎么看",
            "早C晚A适合谁",
            "皮肤屏障受损有哪些信号",
            "面膜是不是敷得越久越好",
        ),
        facts=(
            "面膜敷超过20分钟反而会带走皮肤里的水分",
            "阴天的UVA依然有晴天的八成左右",
            "洁面时间控制在1分钟以内更温和",
            "屏障受损时应该先停用去角质产品",
        ),
        experts=("皮肤科医生", "配方师"),
        gifts=("洁面小样", "面膜2片", "化妆棉", "旅行装套盒"),
    ),
    Vertical(
        key="mother_baby",
        line="母婴",
        brand="贝贝成长",
        products=(
            P(
                "婴儿配方奶粉",
                "含OPO结构脂和乳铁蛋白，更接近母乳",
                ("先放温水再放奶粉", "水温控制在40到50度", "平着摇匀，不要上下猛晃"),
                "开罐后一个月内吃完，勺子放回卡槽别埋在粉里",
                20,
            ),
            P(
                "纸尿裤",
                "3D立体护围，夜里12小时不侧漏",
                ("按宝宝体重选尺码", "穿好后把腿口的防漏边拉出来", "腰贴左右对称贴牢"),
                "放在干燥通风处，别放在潮湿的浴室",
                15,
            ),
            P(
                "高铁米粉",
                "添加铁锌钙，不加糖不加盐",
                ("满6个月后开始添加", "先从一勺调成稀糊开始", "连续观察3天不过敏再加量"),
                "开封后夹紧封口，一个月内吃完",
                30,
            ),
            P(
                "宝宝润肤霜",
                "不含香精和酒精，新生儿也能用",
                ("洗澡后3分钟内涂抹", "取适量在手心化开", "重点涂脸颊和手肘内侧"),
                "瓶口用后擦干净，避免细菌滋生",
                45,
            ),
            P(
                "电动吸奶器",
                "双边同步吸，9档吸力可调",
                ("先用按摩模式刺激泌乳", "再切到吸乳模式，吸力从低档开始", "单次吸奶不超过20分钟"),
                "接触乳汁的配件每次用完都要清洗消毒",
                None,
            ),
            P(
                "儿童绘本套装",
                "24册情绪管理主题，硬壳撕不烂",
                ("每天固定一个亲子阅读时间", "边读边指图片让孩子跟着说", "读完问孩子一个小问题"),
                "把绘本放在孩子够得着的矮书架上",
                None,
            ),
        ),
        tags=("母婴", "新手爸妈", "科学喂养", "辅食", "宝宝护理", "亲子阅读"),
        crowds=("新手妈妈", "二胎宝妈", "准妈妈", "新手奶爸"),
        pains=("宝宝夜里频繁醒", "红屁屁反反复复", "转奶后宝宝便秘", "辅食不知道怎么加"),
        benefits=("宝宝能睡整觉了", "小屁屁一直干干爽爽", "宝宝吃得香长得好", "带娃省心了不少"),
        topics=(
            "宝宝辅食添加顺序",
            "奶粉怎么转才不闹肚子",
            "湿疹和痱子怎么区分",
            "宝宝什么时候需要补铁",
            "纸尿裤尺码怎么选",
        ),
        facts=(
            "6个月左右宝宝体内储存的铁基本耗尽，要从辅食里补",
            "转奶要新旧奶粉按比例逐步替换，大约7到10天",
            "1岁以内的辅食不需要加盐",
            "湿疹宝宝洗澡水温不宜超过37度",
        ),
        experts=("儿科医生", "高级育婴师", "儿童营养师"),
        gifts=("纸尿裤试用装", "宝宝口水巾", "辅食勺", "成长记录册"),
    ),
    Vertical(
        key="coffee",
        line="咖啡",
        brand="山岚咖啡",
        products=(
            P(
                "挂耳咖啡",
                "当季埃塞俄比亚豆，烘焙后48小时内发货",
                ("撕开挂耳挂在杯沿上", "先注入少量90度热水闷蒸30秒", "分三次注水到200毫升"),
                "放在阴凉处，开封后一周内喝完",
                20,
            ),
            P(
                "冷萃咖啡液",
                "12小时低温慢萃，0糖0脂",
                ("一颗咖啡液倒进杯子", "加200毫升冰牛奶或冰水", "喜欢甜口可以加一点糖浆"),
                "常温避光保存，不要冷冻",
                15,
            ),
            P(
                "中深烘咖啡豆",
                "巧克力坚果风味，做奶咖特别合适",
                ("按1比15的粉水比称豆", "现磨成砂糖粗细", "用92度左右的水冲煮"),
                "开袋后挤出空气封好，两周内风味最好",
                25,
            ),
            P(
                "手冲咖啡套装",
                "细口壶、滤杯、分享壶一套配齐",
                ("先用热水润湿滤纸", "倒入咖啡粉轻拍平整", "画圈注水，总时长控制在2分钟左右"),
                "滤杯用完马上冲洗，别让咖啡油残留",
                None,
            ),
            P(
                "冻干咖啡粉",
                "3秒冷水速溶，还原现萃风味",
                ("一颗冻干倒进杯子", "冷水热水牛奶都可以", "搅拌几下就完全溶解"),
                "开盖后尽快喝完，避免受潮结块",
                20,
            ),
            P(
                "燕麦拿铁",
                "燕麦奶基底，零乳糖也有绵密口感",
                ("开盖前上下摇匀", "冰镇后风味最好", "也可以隔水加热到60度"),
                "开封后冷藏，24小时内喝完",
                15,
            ),
        ),
        tags=("咖啡", "精品咖啡", "手冲", "冷萃", "提神", "办公室好物"),
        crowds=("打工人", "咖啡新手", "熬夜赶稿的你", "宝妈", "学生党"),
        pains=("早上起不来没精神", "速溶咖啡喝着太甜", "下午三点开始犯困", "出差在外喝不到好咖啡"),
        benefits=("一杯下去整个人都醒了", "香气足还一点不苦", "在办公室三秒就能喝上", "喝起来干净有果香"),
        topics=(
            "浅烘和深烘有什么区别",
            "一天喝多少咖啡因合适",
            "手冲为什么要闷蒸",
            "冷萃和冰美式不是一回事",
            "咖啡豆的最佳赏味期",
        ),
        facts=(
            "健康成年人每天咖啡因建议不超过400毫克",
            "咖啡豆烘焙后7到30天风味最好",
            "闷蒸是为了让咖啡粉排出二氧化碳，萃取更均匀",
            "浅烘豆酸质明亮，深烘豆更苦更醇厚",
        ),
        experts=("咖啡师", "烘焙师"),
        gifts=("挂耳3包", "定制马克杯", "咖啡滤纸", "冷萃体验装"),
    ),
    Vertical(
        key="education",
        line="读书学习",
        brand="知行书院",
        products=(
            P(
                "年度阅读会员",
                "一万本电子书畅读，每周两本精讲",
                ("下载APP用手机号登录", "在书架里添加想读的书", "打开听书模式通勤也能读"),
                "会员到期前7天会提醒你，也可以随时关闭自动续费",
                365,
            ),
            P(
                "少儿英语启蒙课",
                "外教真人互动，每节课15分钟",
                ("先做一个3分钟的入门测评", "按推荐级别选课", "每天固定时间上课打卡"),
                "课程有效期一年，请假可以顺延",
                180,
            ),
            P(
                "Python入门课",
                "30节小课，零基础也能跟上",
                ("先安装课程配套的编程环境", "每节课跟着敲一遍代码", "课后作业提交给助教批改"),
                "遇到报错截图发到学习群，助教24小时内回复",
                None,
            ),
            P(
                "经典名著套书",
                "全12册精装，附导读手册",
                ("先读导读手册了解背景", "每天读一章做简单摘抄", "读完到群里参加共读讨论"),
                "精装书放在通风处，避免阳光直射发黄",
                None,
            ),
            P(
                "时间管理训练营",
                "21天实战打卡，教练一对一点评",
                ("第一天填写时间记录表", "按四象限给任务排序", "每晚花5分钟复盘"),
                "训练营结束后课程资料永久可看",
                None,
            ),
            P(
                "职场写作课",
                "20个真实案例拆解，附写作模板",
                ("先完成课前写作小测", "看完视频后用模板写一篇", "在作业区和同学互评"),
                "课程支持倍速播放和离线缓存",
                None,
            ),
        ),
        tags=("读书", "在线课程", "英语启蒙", "职场成长", "编程入门", "终身学习"),
        crowds=("职场新人", "宝妈", "大学生", "想转行的你", "家长"),
        pains=("买了很多书却读不完", "孩子对英语不感兴趣", "工作总是做不完", "写周报憋半天写不出来"),
        benefits=("一年读完了30本书", "孩子主动要求上课", "每天多出一小时自己的时间", "写报告思路清楚多了"),
        topics=(
            "怎么做读书笔记才有用",
            "孩子几岁开始学英语合适",
            "番茄工作法真的有用吗",
            "零基础学编程从哪开始",
            "费曼学习法怎么用",
        ),
        facts=(
            "专注25分钟再休息5分钟，更容易进入心流",
            "0到6岁是语言敏感期，磨耳朵越早越好",
            "输出是最好的输入，读完一本书试着讲给别人听",
            "碎片时间更适合复习，而不是学新知识",
        ),
        experts=("资深讲师", "阅读推广人", "学习规划师"),
        gifts=("7天会员体验卡", "电子书单", "学习手账", "体验课1节"),
    ),
    Vertical(
        key="fitness",
        line="健身",
        brand="燃动健身",
        products=(
            P(
                "私教课",
                "一对一定制计划，体测后出方案",
                ("第一次课先做体态评估", "教练根据目标制定12周计划", "每周至少练3次"),
                "课前2小时别吃太饱，记得带毛巾和水",
                90,
            ),
            P(
                "加厚瑜伽垫",
                "8毫米TPE材质，双面防滑",
                ("第一次用之前铺平晾一晾", "纹理面朝上", "练完卷起来收纳"),
                "用清水加少量中性洗剂擦拭，放阴凉处晾干",
                None,
            ),
            P(
                "乳清蛋白粉",
                "每勺含24克蛋白质，巧克力口味",
                ("训练后30分钟内喝", "一勺配250毫升水或牛奶", "摇匀后马上喝"),
                "开封后密封保存，勺子擦干再放回",
                30,
            ),
            P(
                "智能跳绳",
                "自动计数蓝牙同步，无绳模式室内也能跳",
                ("下载APP连上蓝牙", "按身高调节绳长", "从每组100个开始"),
                "别在粗糙的水泥地上长期使用",
                None,
            ),
            P(
                "21天减脂营",
                "饮食加训练双打卡，营养师每天点评",
                ("入营后先提交体重和围度", "每天拍三餐照片打卡", "跟练每天20分钟燃脂课"),
                "有膝伤的学员请提前告诉教练调整动作",
                None,
            ),
            P(
                "筋膜枪",
                "6档力度，静音设计",
                ("选一个合适的按摩头", "从低档开始，沿着肌肉走向移动", "每个部位不超过2分钟"),
                "避开颈椎和骨头突出的地方，用完及时充电",
                None,
            ),
        ),
        tags=("健身", "减脂", "增肌", "居家运动", "运动营养", "体态矫正"),
        crowds=("健身小白", "上班族", "产后妈妈", "想减脂的你", "跑步爱好者"),
        pains=("久坐腰酸背痛", "减肥总是反弹", "跑完步膝盖疼", "练了半年没什么变化"),
        benefits=("体脂率降了3个点", "腰不酸了精神也好了", "衣服小了一码", "练完恢复快了很多"),
        topics=(
            "空腹有氧到底燃不燃脂",
            "一天该吃多少蛋白质",
            "平台期怎么突破",
            "练后拉伸有多重要",
            "跳绳到底伤不伤膝盖",
        ),
        facts=(
            "减脂期每公斤体重建议吃1.6到2克蛋白质",
            "每周150分钟中等强度运动是基础建议量",
            "力量训练后同一肌群建议休息48小时",
            "减脂第4到6周最容易遇到平台期",
        ),
        experts=("认证教练", "运动康复师", "运动营养师"),
        gifts=("体测1次", "运动毛巾", "摇摇杯", "体验课1节"),
    ),
    Vertical(
        key="pet_food",
        line="宠物",
        brand="毛孩子鲜粮",
        products=(
            P(
                "冻干双拼猫粮",
                "鲜肉含量70%，添加冻干鸡肉粒",
                ("按猫咪体重查每日喂食量", "换粮时新旧混合7天过渡", "每天分2到3次喂"),
                "开袋后用密封夹夹紧，放在阴凉处",
                30,
            ),
            P(
                "幼犬粮",
                "小颗粒好咀嚼，添加DHA和钙",
                ("2月龄开始就可以喂", "前两周可以用温水泡软", "每天分3到4顿"),
                "别把狗粮倒进没洗干净的储粮桶",
                30,
            ),
            P(
                "营养猫条",
                "金枪鱼加鸡肉，含水量85%",
                ("直接挤出来喂或拌在主粮里", "每天不超过2支", "可以当训练奖励"),
                "开封没吃完的放冰箱，当天喂完",
                20,
            ),
            P(
                "鲜肉主食罐",
                "单一肉源，无谷配方",
                ("室温回温后再喂", "按体重算好替代干粮的比例", "吃不完的盖上保鲜膜冷藏"),
                "开罐后冷藏不超过24小时",
                20,
            ),
            P(
                "宠物益生菌",
                "每包含100亿活菌，调理肠胃",
                ("每天一包拌在粮里", "拌的水温不要超过40度", "连续吃7天观察便便状态"),
                "常温避光保存，不需要冷藏",
                30,
            ),
            P(
                "洁齿棒",
                "X型凹槽设计，能清洁牙缝",
                ("按狗狗体型选尺寸", "每天一根，饭后给", "第一次给的时候在旁边看着"),
                "热量要和主粮一起算，避免长胖",
                30,
            ),
        ),
        tags=("宠物", "猫粮", "狗粮", "科学养宠", "宠物零食", "肠胃护理"),
        crowds=("新手铲屎官", "多猫家庭", "幼犬主人", "挑食猫的主人"),
        pains=("猫咪挑食只吃零食", "换粮后软便", "狗狗有口臭", "毛发干枯没有光泽"),
        benefits=("毛色越来越亮", "便便成型了", "再也不挑食了", "口气清新多了"),
        topics=(
            "猫咪每天要喝多少水",
            "换粮为什么要7天过渡",
            "狗狗能不能吃水果",
            "幼猫几个月打疫苗",
            "宠物为什么会软便",
        ),
        facts=(
            "猫每公斤体重每天大约需要40到60毫升水",
            "突然换粮容易引起肠胃不适，要逐步过渡",
            "葡萄和巧克力对狗狗有毒，千万别喂",
            "定期刷牙能明显减少宠物牙结石",
        ),
        experts=("宠物医生", "宠物营养师"),
        gifts=("猫条试吃装", "宠物梳子", "试吃小包", "逗猫棒"),
    ),
    Vertical(
        key="home_appliance",
        line="家电",
        brand="家立方电器",
        products=(
            P(
                "扫地机器人",
                "激光导航加自动集尘，4000Pa大吸力",
                ("第一次使用先让它完整建图", "在APP里设置禁区", "设成每天上班后定时清扫"),
                "每周清理一次滚刷上的头发，边刷3个月换新",
                None,
            ),
            P(
                "空气净化器",
                "CADR值500，除甲醛也除过敏原",
                ("撕掉滤网外面的塑封袋", "放在离墙20厘米以上的位置", "开启自动模式"),
                "滤网建议6个月更换一次",
                None,
            ),
            P(
                "净化器替换滤网",
                "H13级HEPA加活性炭复合滤层",
                ("关机拔掉电源", "打开后盖取出旧滤网", "装好新滤网后在APP里重置寿命"),
                "旧滤网不要水洗，直接更换",
                180,
            ),
            P(
                "静音破壁机",
                "降噪罩设计，可以预约热豆浆",
                ("食材不要超过最高水位线", "选择对应的功能键", "程序结束后再开盖"),
                "用完加清水启动自清洁，刀组别直接用手洗",
                None,
            ),
            P(
                "洗地机",
                "吸拖洗一体，热风烘干滚刷",
                ("清水箱加水到刻度线", "推着走就能同时吸尘拖地", "用完放回底座一键自清洁"),
                "污水箱每次用完倒掉冲洗，防止异味",
                None,
            ),
            P(
                "空气炸锅",
                "5.5升大容量，带可视窗口",
                ("第一次使用先空烧10分钟去味", "食材不要叠放太多", "中途拉出来翻一次面"),
                "炸篮用软海绵清洗，不要用钢丝球",
                None,
            ),
        ),
        tags=("家电", "智能家居", "清洁电器", "厨房电器", "空气净化", "懒人神器"),
        crowds=("租房党", "有娃家庭", "养宠家庭", "上班族", "新婚小家"),
        pains=("地上总有掉毛和头发", "新房装修完担心甲醛", "早上没时间做早餐", "拖地累得腰疼"),
        benefits=("下班回家地面干干净净", "空气数值一直是优", "十分钟搞定一顿早餐", "家务时间省了一大半"),
        topics=(
            "扫地机器人怎么选",
            "新房装修完多久能入住",
            "空气炸锅真的健康吗",
            "净化器滤网多久换一次",
            "洗地机和扫地机怎么选",
        ),
        facts=(
            "甲醛释放周期可达3到15年，通风和净化要长期坚持",
            "净化器的CADR值最好是房间面积的10倍以上",
            "空气炸锅比油炸少用八成左右的油",
            "扫地机的边刷和滤网都是耗材，要定期更换",
        ),
        experts=("家电测评师", "售后工程师"),
        gifts=("替换边刷2只", "延保1年", "清洁套装", "滤网优惠券"),
    ),
)
del P


# --- scene phrasing ---------------------------------------------------------------------------------
# Titles and body sentences per scene. Slots are filled from _context(); every template may use any
# slot. Sentences are short (<70 chars filled) so bodies can be assembled under 200 characters.


@dataclass(frozen=True)
class ScenePhrasing:
    titles: tuple[str, ...]
    sentences: tuple[str, ...]


SCENE_PHRASING: dict[str, ScenePhrasing] = {
    "onboarding": ScenePhrasing(
        titles=(
            "欢迎加入{brand}，新人见面礼已备好",
            "你好呀，我是你的专属顾问{staff}",
            "新朋友必看｜{n}分钟了解{brand}",
            "初次见面，送你一份{gift}",
            "欢迎来到{brand}大家庭",
            "{brand}新人福利清单第{n}弹",
            "关注后第一件事：领取新人礼包",
            "刚认识的{crowd}，这份{line}入门指南收好",
            "新人报到｜{brand}能为你做什么",
            "{staff}的自我介绍：以后{line}问题找我",
        ),
        sentences=(
            "欢迎关注{brand}！我是你的专属顾问{staff}，以后关于{line}的问题都可以直接问我。",
            "感谢添加，新人见面礼{gift}已经放进你的账户，{days}天内有效。",
            "先简单介绍一下：我们专注{line}{years}年，服务过{k}万位{crowd}。",
            "回复数字1查看新手指南，回复2领取新人礼包。",
            "很高兴认识你，之后会不定期分享{line}干货，不会频繁打扰。",
            "新朋友第一次来，可以先看看这份入门清单，{n}分钟就能了解我们。",
            "你已经成功入群啦，群公告里有新人必读和群规，记得看一下哦。",
            "初次见面，送你一份小小见面礼，点开就能领。",
            "欢迎新朋友！先告诉我你最关心的是{pain}还是别的，我好给你推荐合适的内容。",
        ),
    ),
    "first_order": ScenePhrasing(
        titles=(
            "首单立减{off}元，{product}新人价{price}元",
            "第一次下单？这张无门槛券请收好",
            "新客首单包邮，再送{gift}",
            "{product}首单体验装，{price}元先试试",
            "还在犹豫？{product}首单不满意包退",
            "新人专享价仅剩{hours}小时｜{product}",
            "首单福利：{product}第一件{discount}折",
            "第一单就选它：{crowd}都在买的{product}",
            "下单前看这里：首单{off}元券已到账",
            "0门槛尝鲜，{product}首单{price}元",
        ),
        sentences=(
            "你还没有下过单，新客专享{product}首单价{price}元，比日常价省{off}元。",
            "首单无门槛立减{off}元的券已经到账，{hours}小时后失效。",
            "第一次买可以先从体验装开始，{price}元就能试，不合适7天无理由退。",
            "很多新朋友第一单都选了{product}，{benefit}。",
            "加购后结算时会自动抵扣新人券，首单还送{gift}。",
            "新客首单全场包邮，下单后{hours}小时内发货。",
            "看到你把{product}加进购物车了，首单价只到本周日，别错过。",
            "犹豫的话先买小份尝鲜，新客第一单{discount}折。",
        ),
    ),
    "repurchase": ScenePhrasing(
        titles=(
            "{product}快用完了吧？回购提醒",
            "算算日子，你的{product}该补货了",
            "老客回购价：{product}第二件半价",
            "囤货攻略｜{product}{n}件装更划算",
            "上次买的{product}还够用吗",
            "{product}周期购上线，每{cycle}天自动送到家",
            "补货不断档：{product}回购立减{off}元",
            "回购率最高的{product}，再来一单",
            "你常买的{product}降价了",
            "提前囤好{product}，这周回购有礼",
        ),
        sentences=(
            "距离你上次买{product}已经{cycle}天了，按正常用量差不多该补货了。",
            "老客回购{product}享第二件半价，囤一份就不会断档。",
            "你常买的{product}这周有回购价，一键再来一单，收货地址沿用上次的。",
            "记得提前补货，别等用完再买，坚持用下去效果才稳定。",
            "开通周期购，每{cycle}天自动送到家，每次还能再省{off}元。",
            "上次那份{product}应该快见底了吧？需要的话我帮你下单。",
            "老客户再次购买{product}，额外赠送{gift}。",
            "{n}件装囤货价比单买便宜{off}元，适合用得快的家庭。",
        ),
    ),
    "reactivation": ScenePhrasing(
        titles=(
            "好久不见，{brand}想你了",
            "最近还好吗？给你留了一份小惊喜",
            "你的{points}积分即将过期",
            "{nick}，你有一份待领取的福利",
            "签到{n}天领{gift}，今天重新开始吧",
            "好久没来逛了，这些{line}新变化你错过了",
            "你收藏的{product}降价了",
            "叮！你的账户还有未使用的权益",
            "有段时间没见，送你{off}元见面红包",
            "想你了｜本周{line}热门内容合集",
        ),
        sentences=(
            "好久没在群里看到你冒泡了，最近是不是太忙了？",
            "你账户里还有{points}积分，月底就要清零了，可以兑换{gift}。",
            "有阵子没联系了，这段时间我们上新了不少{line}好物，给你挑了几样。",
            "回来看看吧，今天签到就送{gift}，连续{n}天还有惊喜。",
            "不多打扰，只是提醒一下：你之前收藏的{product}降价了。",
            "最近群里在聊{topic}，你之前也问过，可以回来看看。",
            "给你留了一个{off}元的见面红包，这周内有效，点开就能用。",
            "好久不见，最近还好吗？如果{pain}又出现了，随时来找我。",
        ),
    ),
    "winback": ScenePhrasing(
        titles=(
            "老朋友专属回归礼，{off}元券等你来用",
            "我们改进了，想请你再试一次",
            "离开的这段时间，{brand}变了这些",
            "给老朋友的一封信",
            "回归礼包：{product}免费试用装",
            "是哪里让你失望了？说给我们听",
            "欢迎回来｜老客回归专享{discount}折",
            "{n}个改进，想让你重新认识{brand}",
            "再给我们一次机会：{product}全新升级",
            "老朋友回归计划，限时{days}天",
        ),
        sentences=(
            "看到你已经很久没有下单了，是不是之前的体验让你不满意？欢迎直接告诉我。",
            "为老朋友准备了一份回归礼：{off}元无门槛券加{gift}，仅限本周。",
            "根据大家的反馈，{product}已经全面升级，{feature}。",
            "如果之前有不愉快的地方，真的很抱歉，这次我们包邮包退，请你再试一次。",
            "你曾经是我们的老顾客，重新回来的老朋友本月下单额外享{discount}折。",
            "花1分钟填个小问卷告诉我们你离开的原因，填完送{gift}。",
            "这一年我们换了新的供应链和客服团队，{feature}，想请你重新认识我们。",
            "老朋友回归专享：之前的会员等级帮你恢复，积分也一并找回。",
        ),
    ),
    "holiday": ScenePhrasing(
        titles=(
            "{festival}限定礼盒上线，{product}限量{n2}份",
            "{festival}快乐！全场满{threshold}减{off}",
            "{festival}送礼指南：送{crowd}的{product}",
            "过节不打烊，{festival}期间下单照常发货",
            "{festival}特别企划｜和{brand}一起过节",
            "{festival}福利倒计时{n}天",
            "这个{festival}，给自己也准备一份礼物",
            "{festival}狂欢价：{product}{discount}折起",
            "{date}{festival}大促，提前加购不踩坑",
            "{festival}祝福+一份专属好礼",
        ),
        sentences=(
            "{festival}快到了，{brand}准备了限定礼盒，{product}搭配{gift}，送人自用都体面。",
            "{festival}活动{date}开始，全场满{threshold}减{off}，只有{n}天。",
            "祝你{festival}快乐！节日期间下单全场包邮，{date}前下单都能按时到。",
            "{festival}送礼不知道选什么？{product}很适合送给{crowd}。",
            "{festival}当天前{n2}名下单的朋友加送{gift}。",
            "节日氛围拉满：{festival}限定包装只做了{n2}份，卖完就没了。",
            "{festival}这几天物流会慢一些，想要准时收到的话建议{date}前下单。",
            "过节啦，评论区说说你的{festival}计划，抽{n}位送{gift}。",
        ),
    ),
    "seeding": ScenePhrasing(
        titles=(
            "新品上市｜{product}，{feature}",
            "实测{n}天，{product}到底值不值得买",
            "被问爆的{product}终于上新了",
            "这款{product}，我愿称之为今年最爱",
            "{crowd}闭眼入的{product}",
            "{brand}新品首发：{product}",
            "{product}开箱｜{feature}",
            "真实测评：用了{n}周的{product}",
            "上新预告｜{product}来了",
            "私藏好物分享：{product}",
        ),
        sentences=(
            "全新{product}正式上市，{feature}，{benefit}。",
            "自己用了{n}周说说真实感受：{feature}，最惊喜的是{benefit}。",
            "研发团队打磨了{n}个月，这次升级的重点是{feature}。",
            "内测阶段收到{n2}条好评，很多{crowd}说{benefit}。",
            "开箱第一眼就很惊艳，{feature}，颜值和实力都在线。",
            "{pain}的朋友可以试试这款新品，{benefit}。",
            "这次新品我们只做了首批{n2}份，先到先得。",
        ),
    ),
    "education": ScenePhrasing(
        titles=(
            "{topic}？一文讲清楚",
            "关于{topic}，九成人都理解错了",
            "科普｜{topic}",
            "{crowd}必看：{topic}",
            "{expert}聊聊：{topic}",
            "{line}冷知识第{n}期：{topic}",
            "别再被误导了，{topic}",
            "{n}个问答带你搞懂{topic}",
            "干货收藏｜{topic}",
            "为什么{pain}？原因找到了",
        ),
        sentences=(
            "很多人问{topic}，今天用{n}分钟把原理讲清楚。",
            "{pain}，其实和日常习惯关系很大，先弄清背后的原因。",
            "一个容易被忽略的常识：{fact}。",
            "本期知识卡片：{fact}，建议收藏。",
            "我们请{expert}整理了{n}个常见误区，看看你中了几个。",
            "科学依据比经验更靠谱，{fact}。",
            "关于{topic}，网上说法很多，这篇只讲有依据的结论。",
        ),
    ),
    "tutorial": ScenePhrasing(
        titles=(
            "{product}使用教程：{n}步上手",
            "手把手教你用{product}",
            "{product}的{n}个隐藏用法",
            "新手常见问题｜{product}怎么用才对",
            "{n}分钟学会{product}",
            "{product}操作指南（图解版）",
            "用了还没效果？可能是{product}用错了",
            "{product}正确打开方式",
            "跟着{staff}一步步设置{product}",
            "{product}新手避坑教程",
        ),
        sentences=(
            "第一步，{step1}；第二步，{step2}；最后，{step3}。",
            "很多人用{product}时漏了一步：{step2}。",
            "刚到手的{product}先别急着用，{step1}。",
            "用对方法效果翻倍：{step1}，然后{step3}。",
            "视频里演示了完整操作，{step2}这一步建议慢放看。",
            "常见问题汇总：{step3}，这样就不会出错了。",
            "按照这个顺序操作，{n}分钟就能上手{product}。",
        ),
    ),
    "membership": ScenePhrasing(
        titles=(
            "{level}会员专享：本月权益已到账",
            "会员日｜积分翻倍，全场{discount}折",
            "升级{level}会员，只差{price}元",
            "你的会员权益清单，别浪费了",
            "{points}积分能换什么？兑换指南来了",
            "每月{day}号会员日，记得来",
            "{level}会员生日礼已发放",
            "开通{brand}会员，一年省下{n2}元",
            "会员专属价｜{product}",
            "积分商城上新，{gift}等你兑换",
        ),
        sentences=(
            "你已经是{brand}{level}会员，本月的{gift}和{n}张免邮券已经发到账户。",
            "每月{day}号是会员日，积分翻倍，{product}会员价再享{discount}折。",
            "再消费{price}元就能升级{level}，解锁生日礼和专属客服。",
            "会员积分可以抵现，当前{points}积分最多能抵{off}元。",
            "会员专属客服通道已开通，有问题优先处理。",
            "积分商城本周上新{gift}，{points}积分就能兑换。",
            "储值{threshold}元送{off}元，会员价和储值优惠可以叠加。",
        ),
    ),
    "referral": ScenePhrasing(
        titles=(
            "邀请{n}位好友，免费领{gift}",
            "拼团｜{n}人成团，{product}仅{price}元",
            "老带新：你和好友各得{off}元",
            "分享海报助力，{gift}免费拿",
            "好友助力砍价，{product}最低0元",
            "推荐1位好友，奖励{off}元无门槛券",
            "组队挑战赛：{n}人一队瓜分{n2}份好礼",
            "邀请榜单TOP{n}送{product}",
            "叫上闺蜜一起拼，{product}立省{off}元",
            "分享赚积分，邀请越多奖励越多",
        ),
        sentences=(
            "把专属海报分享给好友，{n}位好友扫码关注，你就能免费领{gift}。",
            "邀请好友下首单，你得{off}元奖励金，好友也能领新人券。",
            "{n}人拼团价{price}元，还差1人成团，快拉上同事一起。",
            "助力排行榜前{n}名额外送{product}一份。",
            "每成功邀请一位好友得{points}积分，积分可以直接抵现。",
            "转发到朋友圈或群里，好友点击帮你助力，满{n}次就能领奖。",
            "好东西要分享，推荐给身边的{crowd}，你们各得一张{off}元券。",
        ),
    ),
    "aftersales": ScenePhrasing(
        titles=(
            "{product}收到了吗？使用有问题随时找我",
            "售后小贴士｜{product}这样保养更耐用",
            "订单已签收，附上使用注意事项",
            "{product}用了{days}天，感觉怎么样？",
            "关于{product}售后，你需要知道的{n}件事",
            "物流到了吗？{product}开箱检查清单",
            "您的反馈我们收到了",
            "{product}常见售后问题解答",
            "使用回访｜{staff}想听听你的感受",
            "换货退货流程说明（{product}）",
        ),
        sentences=(
            "看到你的{product}已经签收了，使用中有任何问题直接回复我就好。",
            "温馨提醒：{care}，这样能用得更久。",
            "收到后如果发现破损或少件，拍照发我，24小时内给你处理。",
            "售后不用留包装和小票，凭订单号就能处理。",
            "用了一段时间感觉怎么样？方便的话给我们打个分，每条反馈都会认真看。",
            "之前你反馈的问题已经处理好了，补发的包裹今天寄出。",
            "如果不满意，7天内可以申请退换，运费由我们承担。",
            "保养小贴士：{care}。",
        ),
    ),
    "live_preview": ScenePhrasing(
        titles=(
            "今晚{time}直播｜{product}直播间专属价",
            "{date}直播预告：{topic}",
            "预约直播抽{gift}",
            "{staff}带你逛{brand}工厂，{date}开播",
            "直播间见！{product}限时{discount}折",
            "{expert}做客直播间，在线答疑",
            "周{weekday}晚{time}，不见不散",
            "直播福利剧透：前{n2}名下单送{gift}",
            "锁定直播间｜{festival}专场提前看",
            "开播提醒：{time}准时上链接",
        ),
        sentences=(
            "{date}晚{time}，我们在视频号开播，{product}直播间专享{discount}折，点击预约不错过。",
            "本场直播聊{topic}，请到{expert}在线答疑。",
            "预约直播就有机会抽{gift}，开播后每{n}分钟一轮福袋。",
            "直播间专属福利：前{n2}名下单送{gift}。",
            "今晚{time}准时开播，主播会现场演示{product}，有问题可以在直播间问。",
            "直播间价格比平时低{off}元，只在直播当晚有效。",
            "点击预约按钮，开播前会收到提醒。",
        ),
    ),
}

# Copy that several scenes share, as in real libraries: a "come back" line is used for silent and for
# churned users alike, a coupon line for first orders, holidays and member days. Drawn now and then so
# that scenes overlap in text the way they do in practice instead of being separable by one phrase.
OVERLAP_GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (scenes, titles, sentences)
    "come_back": (
        ("reactivation", "winback"),
        ("好久不见，送你一张{off}元券", "{nick}，我们一直都在", "专属福利等你回来领"),
        (
            "好久不见，{nick}最近还好吗？",
            "给你准备了一张{off}元无门槛券，{days}天内有效。",
            "很久没收到你的消息了，我们一直都在。",
            "这段时间{brand}上新了不少东西，回来逛逛吧。",
        ),
    ),
    "coupon": (
        ("first_order", "holiday", "membership", "repurchase", "winback"),
        ("{off}元券已到账，{product}立减", "限时福利：满{threshold}减{off}"),
        (
            "满{threshold}减{off}的券已经放进你的账户。",
            "下单立减{off}元，{hours}小时内有效。",
            "{product}今天下单{discount}折，库存不多。",
        ),
    ),
    "product": (
        ("seeding", "education", "tutorial", "live_preview"),
        ("{product}到底好在哪", "一次讲透{product}"),
        ("{product}最大的特点是{feature}。", "{pain}的话，{product}值得了解一下。"),
    ),
    "service": (
        ("aftersales", "tutorial", "onboarding"),
        ("{product}问题随时问{staff}",),
        ("有任何使用问题都可以随时问我，看到就回。", "我们的顾问工作日9点到21点在线。"),
    ),
    "sharing": (
        ("referral", "onboarding", "holiday"),
        ("好东西和朋友一起分享",),
        ("拉上朋友进群一起交流，人多更热闹。", "觉得有用的话，转发给身边需要的朋友吧。"),
    ),
}
OVERLAP_RATE = 0.3  # share of bodies that take one line from an overlap group
OVERLAP_TITLE_RATE = 0.08
_OVERLAPS_BY_SCENE: dict[str, tuple[str, ...]] = {
    scene: tuple(g for g, (scenes, _, _) in OVERLAP_GROUPS.items() if scene in scenes) for scene in SCENES
}

# Which kinds each scene is usually made as, and what content type it usually is.
SCENE_KINDS: dict[str, dict[str, int]] = {
    "onboarding": {"text_script": 5, "poster": 2, "h5": 1, "miniprogram_card": 1, "coupon": 1, "article": 1, "file": 1},
    "first_order": {"coupon": 4, "miniprogram_card": 3, "poster": 2, "text_script": 2, "h5": 1},
    "repurchase": {"text_script": 3, "miniprogram_card": 3, "coupon": 2, "poster": 1},
    "reactivation": {"text_script": 4, "coupon": 2, "h5": 1, "poster": 1, "miniprogram_card": 1},
    "winback": {"text_script": 4, "coupon": 3, "article": 1, "h5": 1},
    "holiday": {"poster": 3, "h5": 2, "article": 2, "video": 2, "coupon": 2, "text_script": 2},
    "seeding": {"video": 4, "article": 3, "poster": 2, "text_script": 1},
    "education": {"article": 4, "video": 2, "audio": 2, "poster": 1, "file": 1},
    "tutorial": {"video": 4, "article": 2, "file": 2, "text_script": 1, "h5": 1, "audio": 1},
    "membership": {"miniprogram_card": 2, "article": 2, "poster": 2, "coupon": 1, "text_script": 2, "h5": 1},
    "referral": {"poster": 4, "h5": 3, "miniprogram_card": 2, "text_script": 1},
    "aftersales": {"text_script": 5, "file": 2, "video": 1, "article": 1},
    "live_preview": {"poster": 3, "video": 2, "text_script": 3, "article": 1, "miniprogram_card": 1, "audio": 1},
}
SCENE_CONTENT_TYPES: dict[str, dict[str, int]] = {
    "onboarding": {"brand_story": 3, "practical": 2, "promotional": 2, "interactive": 1},
    "first_order": {"promotional": 6, "practical": 1},
    "repurchase": {"promotional": 4, "practical": 2},
    "reactivation": {"interactive": 3, "promotional": 3, "entertainment": 1},
    "winback": {"promotional": 4, "brand_story": 2},
    "holiday": {"promotional": 4, "entertainment": 2, "interactive": 2, "brand_story": 1},
    "seeding": {"brand_story": 2, "entertainment": 2, "educational": 1, "promotional": 1},
    "education": {"educational": 6, "entertainment": 1},
    "tutorial": {"practical": 5, "educational": 2},
    "membership": {"promotional": 3, "practical": 2},
    "referral": {"interactive": 4, "promotional": 3},
    "aftersales": {"practical": 4, "brand_story": 1},
    "live_preview": {"entertainment": 3, "promotional": 3, "interactive": 2},
}
# Target lifecycle stages: the first is always included, the rest sometimes.
SCENE_STAGES: dict[str, tuple[str, ...]] = {
    "onboarding": ("new",),
    "first_order": ("new", "active"),
    "repurchase": ("stable", "active"),
    "reactivation": ("silent", "stable"),
    "winback": ("churned", "silent"),
    "holiday": ("active", "stable", "silent"),
    "seeding": ("active", "stable", "new"),
    "education": ("active", "new", "stable"),
    "tutorial": ("new", "active"),
    "membership": ("stable", "active"),
    "referral": ("active", "stable"),
    "aftersales": ("active", "new"),
    "live_preview": ("active", "stable", "silent"),
}
# Realistic second scenes (an asset tagged with both).
SECONDARY_SCENES: dict[str, tuple[str, ...]] = {
    "onboarding": ("first_order", "membership"),
    "first_order": ("onboarding", "holiday"),
    "repurchase": ("membership", "holiday"),
    "reactivation": ("membership", "winback"),
    "winback": ("reactivation",),
    "holiday": ("first_order", "referral", "membership"),
    "seeding": ("first_order", "live_preview"),
    "education": ("tutorial", "seeding"),
    "tutorial": ("aftersales", "education"),
    "membership": ("repurchase", "referral"),
    "referral": ("first_order", "holiday"),
    "aftersales": ("repurchase", "tutorial"),
    "live_preview": ("seeding", "holiday"),
}
SECONDARY_RATE = 0.25


# --- style wrappers (shared by all scenes: noise, not signal) ----------------------------------------

_OPENERS: dict[str, tuple[str, ...]] = {
    "wecom_1v1": ("{nick}您好，我是{brand}的{staff}。", "{nick}，打扰一下～", "Hi {nick}，", "{nick}～", ""),
    "wecom_group": ("群里的家人们，", "各位宝子注意啦！", "@所有人 ", "【群公告】", "早上好呀～"),
    "moments": ("", "☀️ ", "今日分享｜", "🎁 "),
    "app_push": ("", "{brand}："),
    "mp_subscription": ("导语：", "", "编者按："),
    "mp_service": ("", "导语："),
    "channels": ("", "本期视频：", "🎬 "),
    "douyin": ("", "🎬 "),
    "xiaohongshu": ("", "姐妹们！", "🌟 "),
    "miniprogram": ("", "【小程序】"),
    "sms": ("【{brand}】",),
}
_CLOSERS: dict[str, tuple[str, ...]] = {
    "article": ("点击阅读全文。", "文末有福利，记得看到最后。", "欢迎在评论区留言交流。", ""),
    "poster": ("长按识别二维码。", "扫码立即参与。", "扫码领取→", "名额有限，扫码锁定。"),
    "video": (" #{tag} #{line}", " #{brand} #{tag}", "完整版见视频号主页。", " #{line}"),
    "audio": ("戴上耳机，{n}分钟听完。", "建议通勤路上收听。", "点击播放本期音频。"),
    "h5": ("点击进入活动页面。", "点开链接即可参与。", "链接内有详细规则。"),
    "miniprogram_card": ("点击卡片直达。", "点卡片进入小程序。", ""),
    "coupon": ("券已放入卡包，下单自动抵扣。", "领券后在小程序结算即可使用。", "有效期{days}天，过期作废。"),
    "file": ("资料是PDF格式，点开即可下载。", "附件《{product}使用手册》请查收。", "文件可以转发给家人。"),
}
_SCRIPT_CLOSERS: dict[str, tuple[str, ...]] = {
    "wecom_1v1": ("有需要随时找我～", "回复“1”我把链接发你。", "", "不打扰啦，有事留言。"),
    "wecom_group": ("有问题群里@我。", "感兴趣的扣1。", ""),
    "sms": ("详情 c.hub/{code} 回T退订",),
    "app_push": ("点击查看。", ""),
    "moments": ("评论区见～", "", "需要的私我。"),
}
_TITLE_STYLES: dict[str, tuple[str, ...]] = {
    "article": ("{t}", "{t}", "{t}｜{brand}", "【{tag}】{t}", "{t}（建议收藏）"),
    "video": ("{t}", "{t}", "Vlog｜{t}", "{t} #{tag}"),
    "audio": ("{t}", "音频｜{t}", "第{n2}期：{t}"),
}

_TITLE_MARKS: tuple[str, ...] = (
    "{t}｜{brand}",
    "{brand}·{t}",
    "{t}（{product}）",
    "【{line}】{t}",
    "{t}·{tag}",
    "{t}｜{product}篇",
    "{t}（{date}）",
    "{brand}{line}｜{t}",
)
_STAFF = ("小雅", "阿杰", "小满", "Lily", "小鹿", "橙子", "Amy", "小林", "木木", "阿May")
_NICKS = ("亲", "王姐", "李先生", "张女士", "小伙伴", "宝子", "陈姐", "刘老师", "赵先生", "周同学")
_LEVELS = ("银卡", "金卡", "黑金", "PLUS", "钻石")
_FESTIVALS: tuple[tuple[str, int], ...] = (
    ("春节", 1),
    ("元宵节", 2),
    ("女神节", 3),
    ("母亲节", 5),
    ("儿童节", 5),
    ("端午节", 6),
    ("618", 6),
    ("父亲节", 6),
    ("七夕", 8),
    ("中秋节", 9),
    ("国庆", 10),
    ("双11", 11),
    ("双12", 12),
    ("圣诞节", 12),
    ("元旦", 12),
)
_WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")
_CODE_CHARS = "abcdefghjkmnpqrstuvwxyz23456789"
BODY_MIN, BODY_MAX = 30, 200
SMS_MAX = 110


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _context(rng: random.Random, v: Vertical, product: Product) -> dict[str, Any]:
    """All slot values for one asset; drawn up front so every template can use any slot."""
    festival, month = rng.choice(_FESTIVALS)
    any_month = rng.randint(1, 12)
    return {
        "brand": v.brand,
        "line": v.line,
        "product": product.name,
        "feature": product.feature,
        "step1": product.steps[0],
        "step2": product.steps[1],
        "step3": product.steps[2],
        "care": product.care,
        "cycle": product.cycle or rng.choice((30, 45, 60)),
        "tag": rng.choice(v.tags),
        "crowd": rng.choice(v.crowds),
        "pain": rng.choice(v.pains),
        "benefit": rng.choice(v.benefits),
        "topic": rng.choice(v.topics),
        "fact": rng.choice(v.facts),
        "expert": rng.choice(v.experts),
        "gift": rng.choice(v.gifts),
        "staff": rng.choice(_STAFF),
        "nick": rng.choice(_NICKS),
        "level": rng.choice(_LEVELS),
        "festival": festival,
        "date": f"{month if rng.random() < 0.8 else any_month}月{rng.randint(1, 28)}日",
        "time": f"{rng.choice((19, 20, 20, 21))}:{rng.choice(('00', '00', '30'))}",
        "weekday": rng.choice(_WEEKDAYS),
        "n": rng.randint(2, 9),
        "n2": rng.choice((20, 30, 50, 66, 88, 99, 100, 200, 300, 500)),
        "k": rng.randint(2, 80),
        "years": rng.randint(3, 15),
        "off": rng.choice((5, 8, 10, 15, 20, 30, 50)),
        "threshold": rng.choice((99, 149, 199, 299, 399)),
        "price": rng.choice(("9.9", "19.9", "29", "39", "49", "59", "69", "99", "129", "199")),
        "discount": rng.choice(("9", "8.8", "8.5", "8", "7.5", "7", "6.8", "6")),
        "days": rng.choice((3, 7, 14, 15, 30, 60)),
        "hours": rng.choice((24, 48, 72)),
        "points": rng.choice((200, 500, 800, 1200, 1500, 2000, 3000, 5000)),
        "day": rng.choice((8, 9, 15, 18, 20, 28)),
        "code": "".join(rng.choice(_CODE_CHARS) for _ in range(5)),
    }


def _choose_channels(rng: random.Random, kind: str) -> list[str]:
    allowed = CHANNELS_BY_KIND[kind]
    weights = list(_CHANNEL_WEIGHTS[kind])
    first = rng.choices(allowed, weights=weights)[0]
    if first == "sms":  # an SMS script is written for SMS; at most also pushed to the app
        return ["sms", "app_push"] if rng.random() < 0.2 else ["sms"]
    count = min(len(allowed), rng.choice((1, 1, 1, 2, 2, 3, 4)))
    chosen = [first]
    pool = [c for c in allowed if c not in (first, "sms")]
    while len(chosen) < count and pool:
        extra = rng.choice(pool)
        pool.remove(extra)
        chosen.append(extra)
    return chosen


def _compose_body(
    rng: random.Random, scene: str, second: str | None, kind: str, channels: list[str], ctx: dict[str, Any]
) -> str:
    """Opener (by channel) + 1–3 scene sentences (+ one from the second scene) + closer (by kind).

    The scene sentences carry the label; openers and closers are shared by every scene.
    """
    channel = channels[0]
    opener = rng.choice(_OPENERS[channel]).format_map(ctx)
    if kind == "text_script":
        closer = rng.choice(_SCRIPT_CLOSERS[channel]).format_map(ctx)
    else:
        closer = rng.choice(_CLOSERS[kind]).format_map(ctx)
    pool = list(SCENE_PHRASING[scene].sentences)
    rng.shuffle(pool)
    limit = SMS_MAX if channel == "sms" else BODY_MAX
    want = 1 if channel in ("sms", "app_push") else rng.choice((1, 2, 2, 3))
    core = [s.format_map(ctx) for s in pool[:want]]
    groups = _OVERLAPS_BY_SCENE[scene]
    if groups and rng.random() < OVERLAP_RATE:
        shared = rng.choice(OVERLAP_GROUPS[rng.choice(groups)][2]).format_map(ctx)
        core.insert(rng.randint(0, len(core)), shared)
    if second and channel != "sms":
        core.append(rng.choice(SCENE_PHRASING[second].sentences).format_map(ctx))

    def join(parts: list[str]) -> str:
        return opener + "".join(parts) + closer

    while len(core) > 1 and len(join(core)) > limit:
        core.pop()  # may drop the scene line and keep a shared one: such copy exists too
    for extra in pool[want:]:  # too short: add more of the same scene
        if len(join(core)) >= BODY_MIN:
            break
        core.append(extra.format_map(ctx))
    body = join(core)
    if len(body) > limit:  # one very long sentence: drop the decorations rather than cut words
        body = core[0]
    return body


def _compose_title(rng: random.Random, scene: str, kind: str, ctx: dict[str, Any], decorate: bool = False) -> str:
    """Scene phrasing, styled per kind; `decorate` adds a brand/product mark the way editors
    disambiguate near-identical names in a big library."""
    titles = SCENE_PHRASING[scene].titles
    groups = _OVERLAPS_BY_SCENE[scene]
    if groups and rng.random() < OVERLAP_TITLE_RATE:
        titles = OVERLAP_GROUPS[rng.choice(groups)][1]
    base = rng.choice(titles).format_map(ctx)
    if decorate:
        base = rng.choice(_TITLE_MARKS).format_map({**ctx, "t": base})
    style = rng.choice(_TITLE_STYLES.get(kind, ("{t}",)))
    return style.format_map({**ctx, "t": base})


def _tags(rng: random.Random, v: Vertical, product: Product, scene: str, ctx: dict[str, Any]) -> list[str]:
    tags = [v.line, product.name]
    if scene == "holiday":
        tags.append(ctx["festival"])
    if scene == "live_preview":
        tags.append("直播")
    others = [t for t in v.tags if t not in tags]
    tags += rng.sample(others, k=rng.randint(0, min(3, 5 - len(tags))))
    return tags


def _one_asset(rng: random.Random, scene: str, seen_titles: set[str]) -> dict[str, Any]:
    v = rng.choice(VERTICALS)
    products = v.products
    if scene == "repurchase":  # refills only make sense for consumables
        products = tuple(p for p in products if p.cycle) or products
    product = rng.choice(products)
    second = rng.choice(SECONDARY_SCENES[scene]) if rng.random() < SECONDARY_RATE else None
    if second == "repurchase" and not product.cycle:  # no refill copy for a vacuum cleaner
        second = None
    kind = _pick(rng, SCENE_KINDS[scene])
    channels = _choose_channels(rng, kind)
    ctx = _context(rng, v, product)
    title = _compose_title(rng, scene, kind, ctx)
    for attempt in range(30):  # keep titles distinct: other phrasings/numbers, then a brand/product mark
        if title not in seen_titles:
            break
        ctx = _context(rng, v, product)
        title = _compose_title(rng, scene, kind, ctx, decorate=attempt >= 4)
    else:
        title = f"{title}（{len(seen_titles)}）"
    seen_titles.add(title)
    primary_stages = SCENE_STAGES[scene]
    stages = [primary_stages[0]] + [s for s in primary_stages[1:] if rng.random() < 0.5]
    return {
        "title": title,
        "body": _compose_body(rng, scene, second, kind, channels, ctx),
        "kind": kind,
        "content_type": _pick(rng, SCENE_CONTENT_TYPES[scene]),
        "scenes": [scene] + ([second] if second else []),
        "channels": channels,
        "tags": _tags(rng, v, product, scene, ctx),
        "stages": stages,
        "vertical": v.key,
        "brand": v.brand,
    }


def generate_assets(n: int = 400, seed: int = 7) -> list[dict[str, Any]]:
    """Return n demo assets, the same list for the same (n, seed).

    Primary scenes are dealt round-robin from a seeded shuffle so every scene gets about n/13 assets
    (a balanced training set); everything else is drawn at random. A prefix is stable: the first k
    assets of generate_assets(n) equal generate_assets(k) for k <= n, with the same seed.
    Each dict has title, body, kind, content_type, scenes (primary first), channels, tags, stages,
    plus vertical (product domain id) and brand.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    order = list(SCENES)
    rng.shuffle(order)
    seen: set[str] = set()
    return [_one_asset(rng, order[i % len(order)], seen) for i in range(n)]


# --- tiny real media files ---------------------------------------------------------------------------


def _png_rgb(width: int, height: int, raw: bytes) -> bytes:
    """Minimal PNG encoder (8-bit RGB, no filtering) of raw row-major RGB bytes: the byte layout stays exactly
    what tests/test_demo_corpus.py checks, whatever Pillow's own encoder would choose."""
    stride = 3 * width
    rows = b"".join(b"\x00" + raw[y * stride : (y + 1) * stride] for y in range(height))  # filter type: none

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


POSTER_HEADLINES = ("限时福利", "扫码进群", "会员专享", "新品上市", "直播预告", "周末特惠")
POSTER_CODE_WORDS = ("星空蓝", "樱花季", "极光绿", "琥珀橙", "萤火虫", "雪山松", "银河号", "青柠檬", "海盐糖")
"""Printed only on the posters (never in titles, bodies or tags): text that search finds through OCR alone."""
POSTER_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
"""A CJK font (Debian's fonts-wqy-zenhei) to print poster text; without it posters carry no text."""


def _poster_lines(rng: random.Random) -> list[str]:
    return [rng.choice(POSTER_HEADLINES), "暗号：" + rng.choice(POSTER_CODE_WORDS)]


def poster_text(seed: int) -> list[str]:
    """The lines printed on ``generate_media_bytes("poster", seed)`` (when POSTER_FONT exists)."""
    return _poster_lines(random.Random(f"poster:{seed}"))


def _poster_png(rng: random.Random) -> bytes:
    """A 9:16 poster: a vertical gradient, two printed lines (a headline and a code word) on a dark band and
    a QR-code-like block at the bottom. Drawn with Pillow (text needs POSTER_FONT), encoded by ``_png``."""
    lines = _poster_lines(rng)
    w, h = 270, 480
    top = np.array([rng.randint(120, 255) for _ in range(3)], dtype=np.float64)
    bottom = np.array([rng.randint(0, 120) for _ in range(3)], dtype=np.float64)
    qr = [[rng.random() < 0.5 for _ in range(6)] for _ in range(6)]
    t = (np.arange(h) / (h - 1))[:, None, None]
    pixels = np.broadcast_to(np.round(top + (bottom - top) * t), (h, w, 3)).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 30, w - 11, 159), fill=(40, 40, 40))
    if POSTER_FONT.exists():
        font = ImageFont.truetype(str(POSTER_FONT), 32)
        for i, line in enumerate(lines):
            draw.text((20, 40 + 60 * i), line, font=font, fill=(255, 255, 255))
    for r, row in enumerate(qr):
        for c, dark in enumerate(row):
            x, y = 99 + 12 * c, 360 + 12 * r
            draw.rectangle((x, y, x + 11, y + 11), fill=(0, 0, 0) if dark else (255, 255, 255))
    return _png_rgb(w, h, img.tobytes())


def _jingle_wav(rng: random.Random) -> bytes:
    """A quarter-second two-note chime, 8 kHz mono 16-bit: a real, playable audio asset."""
    rate, notes = 8000, (rng.choice((440.0, 523.25, 587.33)), rng.choice((659.25, 698.46, 783.99)))
    frames = bytearray()
    for i, freq in enumerate(notes):
        for t in range(rate // 8):
            amp = 0.3 * (1 - t / (rate // 8))
            frames += struct.pack("<h", int(32767 * amp * math.sin(2 * math.pi * freq * (t + i * rate // 8) / rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def _guide_pdf(rng: random.Random) -> bytes:
    """A one-page PDF with a correct xref table (Latin text only: CJK would need an embedded font)."""
    text = f"ContentHub demo guide #{rng.randint(1, 9999)}"
    stream = f"BT /F1 18 Tf 40 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


_MEDIA = {
    "poster": (_poster_png, "image/png"),
    "audio": (_jingle_wav, "audio/x-wav"),
    "file": (_guide_pdf, "application/pdf"),
}


def generate_media_bytes(kind: str, seed: int = 0) -> tuple[bytes, str] | None:
    """A tiny real file for a demo asset of this kind, as (bytes, mime), or None if we make none.

    Posters are PNG, audio is WAV, files are PDF — all detectable from their bytes, so the upload
    path's type sniffing accepts them. Other kinds (video, coupons, scripts…) carry no file.
    """
    maker = _MEDIA.get(kind)
    if maker is None:
        return None
    make, mime = maker
    return make(random.Random(f"{kind}:{seed}")), mime
