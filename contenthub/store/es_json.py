"""orjson for the Elasticsearch client's request and response bodies.

Why: a batch of events with counters is ~100,000 JSON lines per bulk round (events, then one counter
document per key), and the standard library's encoder was a fifth of the ingestion's wall time on the
client (see bench/RESULTS.md). The client supports orjson for plain JSON bodies; these classes give
the bulk (NDJSON) bodies the same encoder, for both the plain and the compatibility-mode media types.
"""

from __future__ import annotations

from typing import Any

import orjson
from elasticsearch.serializer import (
    CompatibilityModeJsonSerializer,
    CompatibilityModeNdjsonSerializer,
    JsonSerializer,
    NdjsonSerializer,
)

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class _Orjson:
    def json_dumps(self, data: Any) -> bytes:
        return orjson.dumps(data, default=self.default, option=OPTIONS)  # type: ignore[attr-defined]

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


class OrjsonJson(_Orjson, JsonSerializer):
    pass


class OrjsonNdjson(_Orjson, NdjsonSerializer):
    pass


class OrjsonCompatJson(_Orjson, CompatibilityModeJsonSerializer):
    pass


class OrjsonCompatNdjson(_Orjson, CompatibilityModeNdjsonSerializer):
    pass


SERIALIZERS = {s.mimetype: s() for s in (OrjsonJson, OrjsonNdjson, OrjsonCompatJson, OrjsonCompatNdjson)}
