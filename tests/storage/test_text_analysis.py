"""The knowledge index's text analyzer: what becomes a token, for documents and queries alike."""

from __future__ import annotations

import threading

import pytest

from plait.storage.index.analysis import analyze, query_terms


def test_english_words_are_casefolded_stemmed_and_stopwords_dropped() -> None:
    assert analyze("The Runner was RUNNING, and runs!") == ["runner", "run", "run"]
    assert analyze("Connections connected connecting") == ["connect", "connect", "connect"]


def test_nfkc_folds_full_width_and_compatibility_forms() -> None:
    full_width = "\uff27\uff30\uff35 \uff46\uff49\uff4c\uff45 \u2460"  # full-width "GPU file", a circled 1
    assert analyze(full_width) == analyze("GPU file 1") == ["gpu", "file", "1"]
    assert analyze("Straße") == analyze("STRASSE")


def test_digits_and_mixed_words_stay_whole() -> None:
    assert analyze("gpt4 runs on 2 H100s, version 3.11") == ["gpt4", "run", "2", "h100s", "version", "3", "11"]


def test_punctuation_and_underscores_separate_words() -> None:
    assert analyze("snake_case-word/path") == ["snake", "case", "word", "path"]
    assert analyze("  ...  ") == []
    assert analyze("") == []


def test_chinese_runs_become_overlapping_bigrams() -> None:
    assert analyze("使用向量数据库") == ["使用", "用向", "向量", "量数", "数据", "据库"]
    assert "向量" in analyze("使用向量数据库进行检索")


def test_a_lone_cjk_character_stays_a_unigram() -> None:
    assert analyze("猫") == ["猫"]
    assert analyze("A 猫 B 狗") == ["猫", "b", "狗"]  # in text order ("a" is a stopword)


def test_cjk_next_to_latin_is_split_from_it() -> None:
    assert analyze("GPU向量检索engine") == ["gpu", "向量", "量检", "检索", "engin"]


def test_japanese_and_korean_use_bigrams_too() -> None:
    assert analyze("データ") == ["デー", "ータ"]
    assert analyze("ひらがなカタカナ") == ["ひら", "らが", "がな", "なカ", "カタ", "タカ", "カナ"]
    assert analyze("자연어 처리") == ["자연", "연어", "처리"]


def test_over_long_words_are_dropped() -> None:
    assert analyze("a" * 256 + " keep " + "b" * 255) == ["keep", "b" * 255]


def test_query_terms_are_distinct_in_order() -> None:
    assert query_terms("run running RUNS walk") == ["run", "walk"]


@pytest.mark.parametrize("text", ["the runners ran", "向量数据库", "データを処理する"])
def test_analysis_is_the_same_in_every_thread(text: str) -> None:
    expected = analyze(text)
    results: list[list[str]] = []

    def work() -> None:
        results.extend(analyze(text) for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 800
