"""Split slicing syntax: parsing, resolution against split sizes, errors."""

import pytest

from snuggle.data.splits import AbsoluteSlice, ReadInstruction, resolve_split_spec, split_display_name
from snuggle.errors import DataError

SIZES = {"train": 600, "test": 200, "validation": 50}


@pytest.mark.parametrize("spec, expected", [
    ("train", [("train", 0, 600)]),
    ("train[:10%]", [("train", 0, 60)]),
    ("train[10:20]", [("train", 10, 20)]),
    ("train[:-100]", [("train", 0, 500)]),
    ("train[50%:]", [("train", 300, 600)]),
    ("train+test", [("train", 0, 600), ("test", 0, 200)]),
    ("train[:10%]+test[-5:]", [("train", 0, 60), ("test", 195, 200)]),
    ("train[-1000:]", [("train", 0, 600)]),
    ("train[:1000]", [("train", 0, 600)]),
    ("validation[:33%]", [("validation", 0, 16)]),  # 16.5 rounds to the even 16, like round()
    ("validation[:3%]", [("validation", 0, 2)]),  # 1.5 -> 2
    ("train[1_0:2_0]", [("train", 10, 20)]),
    ("all", [("train", 0, 600), ("test", 0, 200), ("validation", 0, 50)]),
    ("train[:10%](pct1_dropremainder)", [("train", 0, 60)]),
])
def test_resolve(spec, expected):
    assert resolve_split_spec(spec, SIZES) == [AbsoluteSlice(*e) for e in expected]


def test_pct1_dropremainder_truncates_per_percent():
    assert resolve_split_spec("train[:33%](pct1_dropremainder)", {"train": 250}) == [AbsoluteSlice("train", 0, 66)]
    assert resolve_split_spec("train[:33%]", {"train": 250}) == [AbsoluteSlice("train", 0, 82)]
    with pytest.raises(DataError, match="at least 100 rows"):
        resolve_split_spec("validation[:10%](pct1_dropremainder)", SIZES)


def test_unknown_split_lists_the_splits():
    with pytest.raises(DataError) as e:
        resolve_split_spec("train[:10]+dev", SIZES)
    assert "dev" in str(e.value) and "['train', 'test', 'validation']" in str(e.value)


@pytest.mark.parametrize("bad", ["train[:10", "train[a:b]", "train[:10%](floor)", "train[:200%]", "train[:5](closest)",
                                 "train++test", "[:10]"])
def test_malformed_specs(bad):
    with pytest.raises(DataError):
        resolve_split_spec(bad, SIZES)


def test_round_trip_and_display_name():
    assert str(ReadInstruction.from_spec("train[1:-1] + test[:33%](pct1_dropremainder)")) == \
        "train[1:-1]+test[:33%](pct1_dropremainder)"
    assert ReadInstruction("test", to=33, unit="%").to_spec() == "test[:33%]"
    assert split_display_name("all", ["train", "test"]) == "train+test"
    assert split_display_name("train[:10%]", ["train"]) == "train[:10%]"


def test_mixed_rounding_cannot_be_joined():
    with pytest.raises(DataError, match="rounding"):
        ReadInstruction.from_spec("train[:10%]+test[:10%](pct1_dropremainder)")
