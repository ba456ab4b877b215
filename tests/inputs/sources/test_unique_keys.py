"""Tests for inputs/keys.py's UniqueKeys: one key per entry, deterministically."""

from gemma4_audio_embed.inputs.keys import UniqueKeys


def test_first_asker_gets_the_key_later_ones_their_position():
    keys = UniqueKeys("f")
    assert [keys.unique("a", 0), keys.unique("b", 1), keys.unique("a", 2), keys.unique("a", 5)] == [
        "f#a",
        "f#b",
        "f#a#2",
        "f#a#5",
    ]
    assert keys.repeats == 2


def test_separators_in_uris_and_names_are_escaped():
    keys = UniqueKeys("gs://b/s.tar#1@x%")
    assert keys.unique("spk#1", 0) == "gs://b/s.tar%231%40x%25#spk%231"
    assert keys.unique("take@2", 1) == "gs://b/s.tar%231%40x%25#take%402"
    assert keys.unique(b"k1", 2) == "gs://b/s.tar%231%40x%25#k1"  # bytes ids as UTF-8
    assert keys.repeats == 0


def test_an_id_that_spells_a_position_key_cannot_take_it():
    keys = UniqueKeys("f")
    assert keys.unique("a#1", 0) == "f#a%231"  # escaped: no id spells `<name>#<position>`
    assert keys.unique("a", 0) == "f#a"
    assert keys.unique("a", 1) == "f#a#1"
    assert keys.repeats == 1


def test_entry_key_does_not_take_the_key():
    keys = UniqueKeys("f")
    assert keys.entry_key("x") == "f#x"
    assert keys.unique("x", 3) == "f#x" and keys.repeats == 0
