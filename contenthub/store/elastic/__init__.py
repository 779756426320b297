"""The Elasticsearch backend (``elasticsearch://host:port``): ``ElasticStore``, split by role (see store.py)."""

from contenthub.store.elastic.client import outage_reason, parse_url
from contenthub.store.elastic.store import ElasticStore
from contenthub.store.es_docs import StoreError
from contenthub.store.es_docs import write_failure as _write_failure

__all__ = ["ElasticStore", "StoreError", "_write_failure", "outage_reason", "parse_url"]
