"""Tests for outputs/runs.py: which run's dead letters stand when `--skip_existing` runs share an output."""

from gemma4_audio_embed.outputs.runs import launched_before
from gemma4_audio_embed.outputs.runs import standing_dead_letters

EARLY, LATE = "20261205T081500Z-3fa2c1", "20261205T091500Z-000001"


def _dead(input_key, stage="decode"):
    return {"input_key": input_key, "key": f"{input_key}@0", "stage": stage}


def test_run_ids_order_runs_by_launch_second():
    assert launched_before(EARLY, LATE)
    assert not launched_before(LATE, EARLY)
    assert not launched_before(EARLY, EARLY)


def test_an_unknown_run_is_launched_before_none():
    assert not launched_before(None, LATE)
    assert not launched_before(EARLY, None)


def test_a_later_runs_records_supersede_an_earlier_dead_letter():
    assert standing_dead_letters([(EARLY, _dead("b"))], {"b": LATE}) == []


def test_a_later_runs_dead_letter_supersedes_an_earlier_one_of_the_same_input():
    entries = [(EARLY, _dead("c", "decode")), (LATE, _dead("c", "features"))]
    assert standing_dead_letters(entries, {}) == [_dead("c", "features")]


def test_dead_letters_of_one_run_all_stand():
    entries = [(LATE, _dead("c")), (LATE, {**_dead("c"), "key": "c@1"})]
    assert standing_dead_letters(entries, {}) == [entry for _, entry in entries]


def test_a_dead_letter_later_than_the_records_stands():
    assert standing_dead_letters([(LATE, _dead("b"))], {"b": EARLY}) == [_dead("b")]


def test_a_dead_letter_of_an_unknown_run_or_naming_no_input_stands():
    entries = [(None, _dead("b")), (EARLY, {"key": None, "stage": "read"})]
    assert standing_dead_letters(entries, {"b": LATE}) == [entry for _, entry in entries]


def test_a_later_runs_records_of_a_member_supersede_an_earlier_dead_letter_of_its_container():
    container = {"input_key": "in/a.tar", "key": "in/a.tar", "stage": "read"}
    assert standing_dead_letters([(EARLY, container)], {"in/a.tar#x.wav": LATE}) == []


def test_an_earlier_runs_records_of_a_member_leave_a_later_container_dead_letter_standing():
    container = {"input_key": "in/a.tar", "key": "in/a.tar", "stage": "read"}
    assert standing_dead_letters([(LATE, container)], {"in/a.tar#x.wav": EARLY}) == [container]


def test_a_later_runs_dead_letter_of_a_member_supersedes_an_earlier_one_of_its_container():
    container = {"input_key": "in/a.tar", "key": "in/a.tar", "stage": "read"}
    member = _dead("in/a.tar#x.wav")
    assert standing_dead_letters([(EARLY, container), (LATE, member)], {}) == [member]
