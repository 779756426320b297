"""Cross-user learning: a user's prior rate per topic is borrowed from users who engaged with the same topics
(``scoring.co_engagement_topics`` / ``borrowed_prior``), so one click moves the estimate on the topics that
people who click there also like — on the request and the batch path alike."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from contenthub.recommend.scoring import borrowed_prior, co_engagement_topics, rate_posterior_rows


def _history() -> tuple[sparse.csr_matrix, np.ndarray]:
    """Users 0–9 engage with topics 0 and 1, users 10–19 with topic 2 only; item 6 has no topic."""
    topic_of_item = np.array([0, 0, 1, 1, 2, 2, 3])  # 3 topics: slot 3 is "none"
    rows, cols = [], []
    for u in range(10):
        rows += [u, u, u]
        cols += [u % 2, 2 + u % 2, 6]
    for u in range(10, 20):
        rows += [u, u]
        cols += [4, 5]
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(20, 7))
    return x, topic_of_item


def test_co_engagement_counts_other_engagements_of_the_same_users() -> None:
    co, share = co_engagement_topics(*_history(), 3)
    np.testing.assert_allclose(co.sum(axis=1), 1.0)
    np.testing.assert_allclose(share, [10 / 40, 10 / 40, 20 / 40])
    assert co[0, 1] == 1.0 and co[1, 0] == 1.0  # who clicks topic 0 clicks topic 1 too, nothing else
    assert co[2, 2] == 1.0  # an engagement is not its own neighbour: users 10–19 engaged twice with topic 2


def test_one_click_lifts_the_topics_its_neighbours_like_and_lowers_the_others() -> None:
    co, share = co_engagement_topics(*_history(), 3)
    rate = np.array([0.1, 0.1, 0.1, 0.1])
    prior = borrowed_prior(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -3.0]]), co, share, rate)
    clicked = prior[0]
    assert clicked[1] > 0.1 > clicked[2]  # topic 1 (co-engaged) up, topic 2 (other users') down
    assert clicked[3] == 0.1  # the "none" slot stays at the brand's rate
    np.testing.assert_allclose(prior[1], rate)  # no engagement: the population's prior
    np.testing.assert_allclose(prior[2], rate)  # a mute borrows nothing
    more = borrowed_prior(np.array([[5.0, 0.0, 0.0]]), co, share, rate)[0]
    assert more[1] > clicked[1]  # more engagement, more borrowed
    # the user's own deliveries still decide: the posterior adds them on top of the borrowed prior
    a, b, has = rate_posterior_rows(np.array([[0.0, 6.0, 0.0]]), np.zeros((1, 3)), prior[:1])
    assert has[0] and a[0, 1] / (a[0, 1] + b[0, 1]) < clicked[1]
