"""Tests for transforms/sources/__init__.py's UniqueKeys: one key per entry, deterministically."""

from transforms.sources import UniqueKeys


def test_first_asker_gets_the_key_later_ones_their_position():
    keys = UniqueKeys()
    assert [keys.unique("f#a", 0), keys.unique("f#b", 1), keys.unique("f#a", 2), keys.unique("f#a", 5)] == [
        "f#a",
        "f#b",
        "f#a#2",
        "f#a#5",
    ]
    assert keys.repeats == 2


def test_a_position_key_taken_by_an_id_gets_a_copy_number():
    keys = UniqueKeys()
    assert keys.unique("f#a#1", 0) == "f#a#1"  # an id that looks like a disambiguated key
    assert keys.unique("f#a", 0) == "f#a"
    assert keys.unique("f#a", 1) == "f#a#1.2"
    assert keys.repeats == 1
