"""UI strings in Chinese and English. The language comes from ?lang=, then a cookie, then zh."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "app": {"zh": "ContentHub 内容中台", "en": "ContentHub"},
    "library": {"zh": "内容库", "en": "Library"},
    "upload": {"zh": "上传素材", "en": "Upload"},
    "calendar": {"zh": "发布日历", "en": "Calendar"},
    "experiments": {"zh": "A/B 实验", "en": "Experiments"},
    "users": {"zh": "用户", "en": "Users"},
    "journeys": {"zh": "旅程", "en": "Journeys"},
    "review": {"zh": "待复核标签", "en": "Tag review"},
    "login": {"zh": "登录", "en": "Log in"},
    "logout": {"zh": "退出", "en": "Log out"},
    "api_key": {"zh": "API 密钥", "en": "API key"},
    "login_help": {"zh": "使用 `contenthub keys create --role editor` 生成的密钥登录。",
                   "en": "Log in with a key from `contenthub keys create --role editor`."},
    "bad_key": {"zh": "密钥错误或已吊销。", "en": "That key is wrong or revoked."},
    "search": {"zh": "搜索", "en": "Search"},
    "search_ph": {"zh": "搜索标题、正文、标签（中英文）", "en": "Search titles, text, tags"},
    "all": {"zh": "全部", "en": "All"},
    "scene": {"zh": "场景", "en": "Scene"},
    "channel": {"zh": "渠道", "en": "Channel"},
    "kind": {"zh": "形式", "en": "Kind"},
    "content_type": {"zh": "内容类型", "en": "Content type"},
    "status": {"zh": "状态", "en": "Status"},
    "stage": {"zh": "生命周期", "en": "Lifecycle stage"},
    "tags": {"zh": "标签", "en": "Tags"},
    "title": {"zh": "标题", "en": "Title"},
    "body": {"zh": "正文/文案", "en": "Body / caption"},
    "file": {"zh": "文件", "en": "File"},
    "url": {"zh": "链接（H5）", "en": "Link (H5)"},
    "save": {"zh": "保存", "en": "Save"},
    "results": {"zh": "条结果", "en": "results"},
    "prev": {"zh": "上一页", "en": "Previous"},
    "next": {"zh": "下一页", "en": "Next"},
    "suggested": {"zh": "智能推荐标签", "en": "Suggested tags"},
    "accept": {"zh": "采纳推荐标签", "en": "Accept suggestions"},
    "confirmed": {"zh": "已确认标签", "en": "Confirmed tags"},
    "similar": {"zh": "相似素材", "en": "Similar assets"},
    "edit": {"zh": "编辑", "en": "Edit"},
    "approve": {"zh": "审核通过", "en": "Approve"},
    "archive": {"zh": "归档", "en": "Archive"},
    "draft": {"zh": "草稿", "en": "Draft"},
    "approved": {"zh": "已通过", "en": "Approved"},
    "archived": {"zh": "已归档", "en": "Archived"},
    "version": {"zh": "版本", "en": "Version"},
    "created": {"zh": "创建", "en": "Created"},
    "updated": {"zh": "更新", "en": "Updated"},
    "no_results": {"zh": "没有找到素材。", "en": "No assets found."},
    "confidence": {"zh": "置信度", "en": "confidence"},
    "valid": {"zh": "有效期", "en": "Valid"},
    "preview": {"zh": "预览", "en": "Preview"},
    "performance": {"zh": "效果", "en": "Performance"},
    "error": {"zh": "出错了", "en": "Something went wrong"},
    "back": {"zh": "返回", "en": "Back"},
    "keys": {"zh": "密钥", "en": "Keys"},
}


def t(key: str, lang: str) -> str:
    entry = STRINGS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]


def pick_lang(query_lang: str | None, cookie_lang: str | None) -> str:
    for cand in (query_lang, cookie_lang):
        if cand in ("zh", "en"):
            return cand
    return "zh"
