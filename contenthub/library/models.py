"""Pydantic models at the library's edges: what editors send and what the API returns."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contenthub.i18n import _
from contenthub.library.seasonal import CampaignLink
from contenthub.timeutil import Instant, to_utc

Status = Literal["draft", "approved", "archived"]
STATUSES: tuple[str, ...] = ("draft", "approved", "archived")

MAX_TAGS = 50
MAX_TAG_LEN = 40


INVISIBLE = frozenset("\u200b\u2060\ufeff\u180e\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Zero-width space, word joiner, BOM and bidi embedding/override/isolate controls: they make look-alike
tags ('护\u200b眼' never matches '护眼') and titles that read backwards (U+202E). ZWJ/ZWNJ stay (emoji, scripts)."""


def clean_text(value: str) -> str:
    """NFC-normalise and drop control and invisible characters (keep newlines/tabs); joiners in emoji stay."""
    value = unicodedata.normalize("NFC", value)
    return "".join(
        ch for ch in value if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in INVISIBLE)
    ).strip()


def clean_tags(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        t = clean_text(v).replace("\n", " ")
        if not t:
            continue
        if len(t) > MAX_TAG_LEN:
            raise ValueError(
                _("tag '{value}…' is longer than {MAX_TAG_LEN} characters").format(
                    value=t[:20], MAX_TAG_LEN=MAX_TAG_LEN
                )
            )
        if t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise ValueError(_("at most {MAX_TAGS} tags per asset").format(MAX_TAGS=MAX_TAGS))
    return out


class MediaRef(BaseModel):
    sha256: str
    size: int
    mime: str
    filename: str = ""


class SuggestedLabel(BaseModel):
    id: str
    confidence: float = Field(ge=0, le=1)
    why: str = ""


class Suggestions(BaseModel):
    """Kept apart from the editor's confirmed tags: a suggestion is never a tag until accepted."""

    scenes: list[SuggestedLabel] = Field(default_factory=list)
    channels: list[SuggestedLabel] = Field(default_factory=list)
    content_types: list[SuggestedLabel] = Field(default_factory=list)
    model_id: str = ""
    made_at: datetime | None = None


class AssetFields(BaseModel):
    """Fields an editor may set; every field optional so the same model serves partial updates."""

    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=20000)
    kind: str | None = None
    content_type: str | None = None
    scenes: list[str] | None = None
    channels: list[str] | None = None
    tags: list[str] | None = None
    stages: list[str] | None = None
    status: Status | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    campaign: CampaignLink | None = Field(
        default=None,
        description="Window tied to a holiday or marketing "
        "date; resolved into valid_from/valid_until (give one or the other).",
    )
    url: str | None = Field(default=None, max_length=2000)

    @field_validator("title", "body")
    @classmethod
    def _clean(cls, v: str | None) -> str | None:
        return clean_text(v) if v is not None else None

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return clean_tags(v) if v is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = v.strip()
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError(_("url must start with http:// or https://"))
        return v

    @model_validator(mode="after")
    def _window(self) -> AssetFields:
        # naive times are UTC (timeutil.to_utc): comparing them raw with aware ones raises TypeError
        if self.valid_from and self.valid_until and to_utc(self.valid_until) <= to_utc(self.valid_from):
            raise ValueError(_("valid_until must be after valid_from"))
        if self.campaign is not None and (self.valid_from or self.valid_until):
            raise ValueError(_("give either campaign (a window tied to an occasion) or valid_from/valid_until"))
        return self


class AssetCreate(AssetFields):
    title: str = Field(min_length=1, max_length=200)
    kind: str = "article"

    @field_validator("title")
    @classmethod
    def _title_present(cls, v: str) -> str:
        v = clean_text(v)
        if not v:
            raise ValueError(_("title must not be empty"))
        return v


class AssetUpdate(AssetFields):
    version: int | None = Field(default=None, description="Send the version you edited to avoid lost updates.")


class OcrProgress(BaseModel):
    """Reading the text printed on the asset's poster or PDF, in the background after upload."""

    status: Literal["pending", "running", "done", "failed"]
    pages: int = 0
    pages_done: int = 0
    error: str | None = None


class Asset(BaseModel):
    id: str
    title: str
    body: str = ""
    kind: str
    content_type: str | None = None
    scenes: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list)
    status: Status = "draft"
    valid_from: str | None = None
    valid_until: str | None = None
    campaign: CampaignLink | None = None
    url: str | None = None
    media: MediaRef | None = None
    suggestions: Suggestions | None = None
    media_text: str = Field(default="", description="Text printed on the media (poster, PDF pages), read by OCR.")
    ocr: OcrProgress | None = None
    created_by: str = ""
    created_at: str
    updated_by: str = ""
    updated_at: str
    version: int = 1


class AssetHit(BaseModel):
    asset: Asset
    score: float = 0.0
    matched: list[str] = Field(default_factory=list)


class AssetPageOut(BaseModel):
    items: list[AssetHit]
    total: int
    limit: int
    offset: int
