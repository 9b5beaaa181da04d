"""NormalizedString alignments and PreTokenizedString splits."""

from __future__ import annotations

from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString, Regex, find_matches


def test_split_behaviors():
    cases = {
        "removed": ["the", "final", "countdown"],
        "isolated": ["the", "-", "final", "-", "-", "countdown"],
        "merged_with_previous": ["the-", "final-", "-", "countdown"],
        "merged_with_next": ["the", "-final", "-", "-countdown"],
        "contiguous": ["the", "-", "final", "--", "countdown"],
    }
    for behavior, expected in cases.items():
        n = NormalizedString("the-final--countdown")
        assert [p.get() for p in n.split("-", behavior)] == expected, behavior


def test_split_keeps_original_offsets():
    n = NormalizedString("ab cd")
    parts = n.split(" ", "removed")
    assert [p.offsets_original() for p in parts] == [(0, 2), (3, 5)]


def test_transform_insertions_and_removals_track_alignment():
    n = NormalizedString("abc")
    # 'a' -> 'x','y' (insert y), remove 'b' after 'x'... : x(0) y(+1) c replaces b and removes nothing
    n.transform([("x", 0), ("y", 1), ("z", -1)])  # x<-a, y inserted, z<-b and c removed
    assert n.get() == "xyz"
    assert n.alignments == [(0, 1), (0, 1), (1, 2)]
    assert n.convert_offsets_to_original(0, 3) == (0, 2)


def test_strip_and_prepend():
    n = NormalizedString("  hi  ")
    n.strip()
    assert n.get() == "hi" and n.alignments == [(2, 3), (3, 4)]
    n.prepend("▁")
    assert n.get() == "▁hi" and n.alignments[0] == (2, 3)


def test_replace_aligns_with_last_matched_char():
    n = NormalizedString("a  b")
    n.replace(Regex(" +"), "_")
    assert n.get() == "a_b" and n.alignments == [(0, 1), (2, 3), (3, 4)]


def test_filter_removes_chars():
    n = NormalizedString("a\u0000b\u0000")
    n.filter(lambda c: c != "\u0000")
    assert n.get() == "ab"
    assert n.convert_offsets_to_original(0, 2) == (0, 3)


def test_find_matches_with_predicate_and_empty():
    assert find_matches(str.isspace, "a b") == [((0, 1), False), ((1, 2), True), ((2, 3), False)]
    assert find_matches(" ", "") == [((0, 0), False)]


def test_pretokenized_string_drops_empty_splits():
    p = PreTokenizedString(" a ")
    p.split(lambda i, n: n.split(" ", "removed"))
    assert p.get_splits() == [("a", (1, 2), None)]


def test_matches_reference_normalized_string():
    from tokenizers import NormalizedString as RefNS

    for text in ["Hello  World", "  ünïcödé  ", "tabs\tand\nnew lines ", ""]:
        ref = RefNS(text)
        ref.strip()
        ref.lowercase()
        ref.replace(" ", "_")
        ours = NormalizedString(text)
        ours.strip()
        ours.lowercase()
        ours.replace(" ", "_")
        assert ours.get() == ref.normalized
