"""The dashboard on an Elasticsearch-backed hub: the same checks against the raw events, collected again.

The ``hub`` fixture (``es_support.es_hub``) replaces the SQLite one (a fresh index prefix on the test node), so
the rollup reads the events through the ES store's ``event_counts`` (composite aggregations per local week).
"""

from __future__ import annotations

import pytest

from tests.es_support import es_hub, require_module  # noqa: F401 - es_hub is this module's ``hub`` fixture
from tests.test_dashboard import (  # noqa: F401 - collected here against Elasticsearch
    test_channel_health_matches_event_counts,
    test_empty_hub_says_what_is_missing,
    test_fatigue_bins_match_the_events,
    test_resent_events_change_no_number,
    test_retention_triangle_matches_the_events,
    test_weeks_follow_the_hubs_time_zone,
    world,
)
from tests.test_dashboard_incremental import (  # noqa: F401 - collected here against Elasticsearch
    test_a_refresh_reads_only_the_weeks_that_changed_and_equals_a_full_build,
    test_merges_and_erasures_reach_an_incremental_refresh,
)

pytestmark = pytest.mark.es
require_module()
