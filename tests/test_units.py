"""Cutting sentences into units the voice model can take (speech/engine/units.py)."""

from __future__ import annotations

from speech.engine.units import cut_sentences, unit_phonemes


def phonemes(text: str) -> list[str]:
    return list(text)


def joined(units: list[list[str]]) -> list[str]:
    return ["".join(unit) for unit in units]


def test_it_keeps_sentences_that_fit_whole() -> None:
    sentences = [phonemes("hɛlˈoʊ ðɛɹ."), phonemes("haʊ ɑːɹ juː?")]
    assert joined(cut_sentences(sentences, 20)) == ["hɛlˈoʊ ðɛɹ.", "haʊ ɑːɹ juː?"]


def test_it_cuts_after_a_clause_mark_in_the_second_half() -> None:
    units = cut_sentences([phonemes("aaaa bbbb, cccc dddd eeee")], 16)
    assert joined(units) == ["aaaa bbbb,", "cccc dddd eeee"]


def test_it_cuts_at_the_last_space_when_no_clause_mark_fits() -> None:
    units = cut_sentences([phonemes("aa, bbbbbbbbb cccc dddd")], 20)
    assert joined(units) == ["aa, bbbbbbbbb cccc", "dddd"]


def test_it_cuts_after_a_stressed_word_rather_than_after_a_little_word() -> None:
    # "... for another year at the | same price": the head would end on "the".
    sentence = phonemes("ɛkstˈɛnd ɪt fɔːɹ ɐnˈʌðɚ jˈɪɹ æt ðə sˈeɪm pɹˈaɪs")
    units = cut_sentences([sentence], 34)
    assert joined(units) == ["ɛkstˈɛnd ɪt fɔːɹ ɐnˈʌðɚ jˈɪɹ", "æt ðə sˈeɪm pɹˈaɪs"]


def test_a_clause_mark_still_comes_before_a_stressed_word() -> None:
    sentence = phonemes("aˈaa bˈbb, cˈc dˈd eˈe")
    units = cut_sentences([sentence], 16)
    assert joined(units) == ["aˈaa bˈbb,", "cˈc dˈd eˈe"]


def test_it_cuts_inside_a_word_only_when_a_word_is_longer_than_a_unit() -> None:
    units = cut_sentences([phonemes("a" * 25)], 10)
    assert joined(units) == ["a" * 10, "a" * 10, "a" * 5]


def test_no_unit_is_longer_than_the_limit_and_no_sound_is_lost() -> None:
    sentence = phonemes(" ".join(["naɪn"] * 500))
    units = cut_sentences([sentence], 37)
    assert max(map(len, units)) <= 37
    assert "".join(joined(units)).replace(" ", "") == "naɪn" * 500


def test_it_drops_empty_sentences() -> None:
    assert cut_sentences([[], phonemes("a")], 10) == [["a"]]


def test_units_hold_fewer_phonemes_when_spoken_slower() -> None:
    assert unit_phonemes(150, 1.0) == 150
    assert unit_phonemes(150, 2.0) == 75  # half speed: each phoneme lasts twice as long
    assert unit_phonemes(150, 0.5) == 300
