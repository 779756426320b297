"""Assignment: deterministic hashing, weight splits, coverage stability, layers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from contenthub.variants.assignment import (
    assign_variant,
    coverage_bucket,
    fnv1a_32,
    hash_to_unit_interval,
    in_layer_range,
    layer_bucket,
    unit_bucket,
    variant_for_bucket,
)

SEED = "exp-2024-cta-copy"
UNIT_IDS = [f"user-{i}" for i in range(100_000)]  # sequential ids: the hard case for FNV-1a


@pytest.fixture(scope="module")
def buckets() -> tuple[np.ndarray, np.ndarray]:
    variant = np.array([unit_bucket(SEED, u) for u in UNIT_IDS])
    coverage = np.array([coverage_bucket(SEED, u) for u in UNIT_IDS])
    return variant, coverage


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],
)
def test_fnv1a_32_known_vectors(data: bytes, expected: int) -> None:
    assert fnv1a_32(data) == expected


def test_buckets_hash_the_documented_key_strings() -> None:
    def double_fnv(key: str) -> float:
        return fnv1a_32(str(fnv1a_32(key.encode("utf-8"))).encode("ascii")) / 2**32

    assert unit_bucket("s", "u-1") == double_fnv("s:u-1") == hash_to_unit_interval("s:u-1")
    assert coverage_bucket("s", "u-1") == double_fnv("s:coverage:u-1") == unit_bucket("s:coverage", "u-1")
    assert layer_bucket("home-feed", "u-1") == double_fnv("layer:home-feed:u-1")
    assert unit_bucket("种草", "用户-1") == double_fnv("种草:用户-1")  # UTF-8, not locale-dependent


def test_buckets_are_deterministic_and_in_unit_interval(buckets: tuple[np.ndarray, np.ndarray]) -> None:
    variant, coverage = buckets
    assert unit_bucket(SEED, "user-7") == variant[7]
    assert variant.min() >= 0.0 and variant.max() < 1.0
    assert coverage.min() >= 0.0 and coverage.max() < 1.0


def test_variant_and_coverage_buckets_are_uniform_and_independent(buckets: tuple[np.ndarray, np.ndarray]) -> None:
    # Single-pass FNV-1a fails both on sequential ids (uniformity p ~ 1e-16, joint chi2 ~ 2,450).
    variant, coverage = buckets
    assert sps.chisquare(np.histogram(variant, bins=100, range=(0, 1))[0]).pvalue > 0.001
    joint = np.histogram2d(variant, coverage, bins=10, range=[[0, 1], [0, 1]])[0]
    assert sps.chisquare(joint.ravel()).pvalue > 0.001


def test_100k_units_split_within_one_point_of_weights() -> None:
    weights = [0.2, 0.3, 0.5]
    variants = np.array([assign_variant(SEED, u, weights) for u in UNIT_IDS])
    shares = np.bincount(variants, minlength=3) / variants.size
    assert np.all(np.abs(shares - weights) < 0.01), shares


def test_raising_coverage_adds_units_without_moving_any(buckets: tuple[np.ndarray, np.ndarray]) -> None:
    weights = [0.5, 0.5]
    at_half = [assign_variant(SEED, u, weights, coverage=0.5) for u in UNIT_IDS]
    at_full = [assign_variant(SEED, u, weights, coverage=1.0) for u in UNIT_IDS]
    covered = [i for i, v in enumerate(at_half) if v is not None]
    assert abs(len(covered) / len(UNIT_IDS) - 0.5) < 0.01
    assert all(at_full[i] == at_half[i] for i in covered)
    assert all(v is not None for v in at_full)
    # The covered half is itself split 50/50 (needs independent coverage and variant hashes).
    share_b = sum(at_half[i] for i in covered) / len(covered)
    assert abs(share_b - 0.5) < 0.01, share_b


def test_zero_coverage_excludes_everyone_and_zero_weight_gets_nobody() -> None:
    assert all(assign_variant(SEED, u, [1, 1], coverage=0.0) is None for u in UNIT_IDS[:1000])
    assert {assign_variant(SEED, u, [1, 0, 1]) for u in UNIT_IDS[:5000]} == {0, 2}


def test_weights_are_normalised_and_top_of_range_is_safe() -> None:
    assert variant_for_bucket(0.49, [1, 1]) == variant_for_bucket(0.49, [0.5, 0.5]) == 0
    assert variant_for_bucket(0.5, [1, 1]) == 1
    assert variant_for_bucket(0.9999999999, [0.1] * 10) == 9
    assert variant_for_bucket(0.9999999999, [1, 1, 0]) == 1


@pytest.mark.parametrize(
    ("weights", "coverage"),
    [([], 1.0), ([0, 0], 1.0), ([-1, 2], 1.0), ([float("nan"), 1], 1.0), ([1, 1], 1.5), ([1, 1], -0.1)],
)
def test_invalid_weights_or_coverage_are_rejected(weights: list[float], coverage: float) -> None:
    with pytest.raises(ValueError):
        assign_variant(SEED, "user-1", weights, coverage)


def test_layer_ranges_are_mutually_exclusive_and_independent_of_variants() -> None:
    layer = "home-feed-ranking"
    ranges = {"exp-a": (0.0, 0.3), "exp-b": (0.3, 0.75), "exp-c": (0.75, 1.0)}
    ids = UNIT_IDS[:30_000]
    members: dict[str, list[str]] = {name: [] for name in ranges}
    for unit in ids:
        bucket = layer_bucket(layer, unit)
        owners = [name for name, (start, end) in ranges.items() if in_layer_range(bucket, start, end)]
        assert len(owners) == 1  # tiles the layer: every unit in exactly one experiment
        members[owners[0]].append(unit)
    for name, (start, end) in ranges.items():
        assert abs(len(members[name]) / len(ids) - (end - start)) < 0.015
    # Inside its slice, exp-b still splits 50/50 (layer hash independent of its variant hash).
    share_b = np.mean([assign_variant("exp-b", u, [1, 1]) for u in members["exp-b"]])
    assert abs(share_b - 0.5) < 0.015


def test_layer_range_edges_are_half_open() -> None:
    assert in_layer_range(0.3, 0.3, 0.6)
    assert not in_layer_range(0.6, 0.3, 0.6)
    with pytest.raises(ValueError):
        in_layer_range(0.5, 0.6, 0.3)
