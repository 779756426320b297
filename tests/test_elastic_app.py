"""The application over HTTP with an Elasticsearch-backed hub: a few of the existing HTTP flows, unchanged.

The flows are imported from their own test modules and collected here again; this module's ``hub``
fixture replaces the SQLite one, so every request goes to a fresh index prefix on the test node.
Most of the time (minutes on a busy 2-core machine) is the embedding model, as in the SQLite run.
"""

from __future__ import annotations

import pytest

from tests.es_support import es_hub, require_module  # noqa: F401 - es_hub is this module's ``hub`` fixture
from tests.test_library_api import (  # noqa: F401 - collected here against Elasticsearch
    test_search_text_filters_and_semantic,
    test_upload_image_dedupes_bytes,
)
from tests.test_recommend_api import (  # noqa: F401 - collected here against Elasticsearch
    library,
    test_caps_return_capped_with_next_time,
    test_click_changes_next_content,
    test_events_idempotent_and_partial_acceptance,
    test_identity_merge_keeps_history,
)

pytestmark = pytest.mark.es
require_module()
