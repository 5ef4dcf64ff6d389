"""Assignment: deterministic, evenly spread, stable under coverage changes, exclusive within a layer."""

import numpy as np
import pytest

from mlplat.errors import ValidationError
from mlplat.experiments import AssignmentSpec, LayerSlice, Targeting, assign, assign_many, fnv1a32, hash_many, hash_unit
from mlplat.experiments.analysis import srm_check

IDS = np.array([f"user-{i}" for i in range(60_000)])


def test_fnv1a32_known_vectors() -> None:
    # the FNV-1a 32-bit test vectors: the empty string is the offset basis
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_vectorized_hash_and_assignment_equal_the_single_unit_ones() -> None:
    ids = np.array(["", "7", "user-1", "ünïcode-ß", "a" * 40, "9999999999", "0"] + [str(i) for i in range(500)])
    for version in (1, 2):
        assert hash_many("seed-x", ids, version).tolist() == [hash_unit("seed-x", i, version) for i in ids]
    spec = AssignmentSpec("exp", (0.3, 0.3, 0.4), coverage=0.8, layer=LayerSlice("home", 0.1, 0.7))
    expected = [-1 if (a := assign(spec, i).arm) is None else a for i in ids]
    assert assign_many(spec, ids).tolist() == expected
    # integer ids hash as their decimal text
    assert hash_many("s", np.arange(100)).tolist() == [hash_unit("s", str(i)) for i in range(100)]


def test_assignment_follows_the_weights() -> None:
    spec = AssignmentSpec("checkout-v2", (0.2, 0.3, 0.5))
    arms = assign_many(spec, IDS)
    counts = np.bincount(arms, minlength=3)
    srm = srm_check(counts, spec.weights)
    assert not srm.untrustworthy and srm.p_value > 0.001, (counts.tolist(), srm.p_value)


def test_lowering_coverage_never_moves_a_unit_to_another_arm() -> None:
    full = assign_many(AssignmentSpec("exp", (0.5, 0.5), coverage=1.0), IDS)
    for coverage in (0.8, 0.5, 0.1):
        partial = assign_many(AssignmentSpec("exp", (0.5, 0.5), coverage=coverage), IDS)
        inside = partial >= 0
        assert np.array_equal(partial[inside], full[inside])
        assert inside.mean() == pytest.approx(coverage, abs=0.01)
    assert assign_many(AssignmentSpec("exp", (0.5, 0.5), coverage=0.0), IDS[:100]).tolist() == [-1] * 100


def test_a_new_seed_re_randomizes() -> None:
    a = assign_many(AssignmentSpec("seed-1", (0.5, 0.5)), IDS)
    b = assign_many(AssignmentSpec("seed-2", (0.5, 0.5)), IDS)
    assert np.mean(a == b) == pytest.approx(0.5, abs=0.02)  # independent: half agree by chance


def test_experiments_in_one_layer_never_share_a_unit() -> None:
    first = AssignmentSpec("exp-a", (0.5, 0.5), layer=LayerSlice("ranking", 0.0, 0.4))
    second = AssignmentSpec("exp-b", (0.5, 0.5), layer=LayerSlice("ranking", 0.4, 1.0))
    in_first, in_second = assign_many(first, IDS) >= 0, assign_many(second, IDS) >= 0
    assert not np.any(in_first & in_second)
    assert in_first.mean() == pytest.approx(0.4, abs=0.01)
    assert in_second.mean() == pytest.approx(0.6, abs=0.01)
    assert first.layer.overlaps(LayerSlice("ranking", 0.3, 0.5))
    assert not first.layer.overlaps(second.layer)
    # within its slice, the experiment's own hash still splits evenly
    counts = np.bincount(assign_many(first, IDS)[in_first])
    assert counts[0] / counts.sum() == pytest.approx(0.5, abs=0.02)


def test_targeting_limits_who_enters() -> None:
    targeting = Targeting.parse({"country": ["DE", "AT"], "device": "mobile", "app": {"not_in": ["1.0"]}})
    spec = AssignmentSpec("exp", (0.5, 0.5), targeting=targeting)
    assert assign(spec, "u1", {"country": "DE", "device": "mobile"}).reason == "assigned"
    assert assign(spec, "u1", {"country": "FR", "device": "mobile"}) .reason == "not_targeted"
    assert assign(spec, "u1", {"country": "DE", "device": "mobile", "app": "1.0"}).arm is None
    assert assign(spec, "u1", {"device": "mobile"}).reason == "not_targeted"  # missing attribute fails `in`
    assert assign(spec, "u1", {"country": "AT", "device": "mobile", "app": "2.0"}).arm in (0, 1)
    assert assign(spec, "", {"country": "AT", "device": "mobile"}).reason == "no_entity_id"
    columns = {"country": np.array(["DE", "FR", "AT", None]), "device": np.array(["mobile"] * 4, dtype=object)}
    assert targeting.mask(columns, 4).tolist() == [True, False, True, False]
    assert Targeting.parse(targeting.to_dict()) == targeting
    assert Targeting.parse({"country": {"ne": "FR"}}).matches({}) is True


def test_assignment_spec_accepts_targeting_as_stored_json() -> None:
    spec = AssignmentSpec("exp", [0.5, 0.5], targeting={"country": "DE"})
    assert spec.targeting.to_dict() == {"country": "DE"}
    assert spec.ranges == ((0.0, 0.5), (0.5, 1.0))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(seed="s", weights=(0.5, 0.6)), "weights"),
        (dict(seed="s", weights=(1.2, -0.2)), "weights"),
        (dict(seed="s", weights=()), "weights"),
        (dict(seed="s", weights=(0.5, 0.5), coverage=1.5), "coverage"),
        (dict(seed="s", weights=(0.5, 0.5), coverage=-0.1), "coverage"),
        (dict(seed="s", weights=(0.5, 0.5), hash_version=3), "hash_version"),
        (dict(seed=7, weights=(0.5, 0.5)), "seed"),
    ],
)
def test_bad_assignment_specs_are_refused_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        AssignmentSpec(**kwargs)
    assert error.value.details["field"] == field
    assert field.split("_")[0] in error.value.message


@pytest.mark.parametrize(
    ("targeting", "culprit"),
    [
        ({"country": []}, "country"),
        ({"country": {"in": "DE"}}, "country"),
        ({"country": {"like": "D%"}}, "country"),
        ({"device": {"eq": "a", "ne": "b"}}, "device"),
        ({"bad key": "x"}, "bad key"),
        ({"device": None}, "device"),
        ({"score": float("nan")}, "score"),
        ({"device": {"eq": {"nested": 1}}}, "device"),
    ],
)
def test_bad_targeting_names_the_attribute(targeting: dict, culprit: str) -> None:
    with pytest.raises(ValidationError) as error:
        Targeting.parse(targeting)
    assert error.value.details["field"] == culprit
    assert repr(culprit) in error.value.message


def test_bad_layer_slices_are_refused() -> None:
    for start, end in ((0.5, 0.5), (-0.1, 0.5), (0.2, 1.1)):
        with pytest.raises(ValidationError, match="layer slice"):
            LayerSlice("home", start, end)
