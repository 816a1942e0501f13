"""The one text analyzer of the knowledge index: documents at write time, queries at search time.

Both backends index the tokens this module makes (SQLite FTS5 with ``unicode61``, PostgreSQL
with the ``simple`` configuration), so that they find the same entries for the same query and
neither backend's own language rules decide what matches. Written here rather than left to the
databases because their default tokenizers treat a run of Chinese characters as one token, and
a query for 向量 then finds nothing in 使用向量数据库进行检索 (the run is a single token that
no query ever equals).

The rules:

- Unicode NFKC, then casefold: full-width Latin, ligatures and case differences match.
- Words of letters and digits (any script without a CJK run in it) are split by a regex;
  English stopwords (Snowball's list, the one PostgreSQL's ``english`` configuration uses) are
  dropped and the rest stemmed with Snowball's English stemmer, so "running" finds "runs".
- Runs of Han, Hiragana, Katakana or Hangul become overlapping character bigrams
  (向量数据库 → 向量 量数 数据 据库), the standard approach of Lucene's CJK analyzer: no
  dictionary, and any two-character query word is found inside longer compounds. A lone
  CJK character stays a unigram, so single-character words in short texts still match.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer  # type: ignore[import-not-found]  # (PyStemmer ships no type information)

# Han (with extensions A..F and compatibility ideographs), Hiragana, Katakana (with its
# phonetic extensions and the prolonged sound mark), Hangul syllables and jamo.
_CJK = (
    "\u1100-\u11ff"
    "\u3040-\u309f"
    "\u30a0-\u30ff"
    "\u3130-\u318f"
    "\u31f0-\u31ff"
    "\u3400-\u4dbf"
    "\u4e00-\u9fff"
    "\ua960-\ua97f"
    "\uac00-\ud7af"
    "\ud7b0-\ud7ff"
    "\uf900-\ufaff"
    "\U00020000-\U0002ffff"
)
# Splitting on CJK runs first keeps the word regex simple: ``re`` has no class subtraction,
# so "[^\W_]" alone would glue "GPU向量" into one token.
_CJK_RUN = re.compile(f"([{_CJK}]+)")
# Longer "words" are base64, hashes or URLs run together: nobody searches for them, and
# PostgreSQL refuses lexemes over 2 KB.
_WORD = re.compile(r"(?<![^\W_])[^\W_]{1,255}(?![^\W_])")

ENGLISH_STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some
    such no nor not only own same so than too very s t can will just don should now
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

# Stemmer objects keep a cache and are not safe to share between threads; the backends
# analyze in worker threads (asyncio.to_thread), so each thread gets its own.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english", 100_000)
    return stemmer


def analyze(text: str) -> list[str]:
    """The index tokens of ``text``, in order, repeats kept (term frequency counts)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    words: list[str] = []
    # split() with a capturing group alternates: non-CJK text, CJK run, non-CJK text, ...
    for position, part in enumerate(_CJK_RUN.split(text)):
        if position % 2:
            if words:
                tokens.extend(_stemmer().stemWords(words))
                words = []
            tokens.extend(_bigrams(part))
        elif part:
            words.extend(word for word in _WORD.findall(part) if word not in ENGLISH_STOPWORDS)
    if words:
        tokens.extend(_stemmer().stemWords(words))
    return tokens


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def query_terms(text: str) -> list[str]:
    """The distinct tokens of a query, in first-seen order (a query ORs its terms)."""
    return list(dict.fromkeys(analyze(text)))
