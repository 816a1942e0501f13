"""Cutting a document into chunks, the way Dify's process rules cut it.

:func:`split` cleans the text (:mod:`plait.rag.clean`) and cuts it by the rule
(:mod:`plait.rag.process_rules`):

- ``custom``: first at every occurrence of the rule's separator. Like Dify, pieces between
  two separators are never merged, however small; a piece longer than ``max_tokens`` is cut
  recursively (below).
- ``automatic``: the whole text is cut recursively with Dify's automatic sizes (500 tokens,
  50 of overlap), so short paragraphs are merged up to the size, as Dify's automatic
  splitter does.
- ``hierarchical``: ``paragraph`` parents are cut like ``custom`` with ``segmentation``, and
  each parent's children with ``subchunk_segmentation``. ``full-doc`` makes the whole cleaned
  document one parent, truncated to its first :data:`FULL_DOC_MAX_TOKENS` tokens (Dify's
  console says so of full-doc mode: "text exceeding 10000 tokens will be automatically
  truncated"); the children cover what is kept.
- ``qa_model`` documents are cut like ``text_model`` ones; :mod:`plait.rag.qa` then turns
  each chunk into question-answer pairs.

The recursive cut tries the separators ``"\\n\\n"``, ``"\\n"``, ``"。"``, ``". "``, ``" "``
in turn: the first one the text contains cuts it into pieces (each keeping its separator
at its end), pieces short enough are merged greedily up to ``max_tokens`` with the last
pieces of one chunk, up to ``chunk_overlap`` tokens, repeated at the start of the next, and
pieces still too long are cut by the next separators. A piece with none of them (a long
run of CJK text, a base64 blob) is cut at the longest prefix that fits, found by binary
search on token counts, so a chunk never exceeds ``max_tokens`` unless a single character
does. Chunks are stripped of surrounding whitespace; empty ones are dropped. Text is never
lost: with no overlap, the chunks hold every non-space character of the cleaned text, in
order. Unlike Dify, a leading ``.`` or ``。`` is not deleted from a chunk (Dify's splitter
once left separators at chunk starts; this one keeps them at the end of the previous piece).

Sizes are tokens counted by ``count_tokens`` (Plait's offline BPE counter by default, cl100k;
Dify counts with the embedding model's tokenizer, or lately in characters). Uploads run to
tens of thousands of texts, so each piece is counted once: a merged chunk's size is taken as
the sum of its pieces' counts while merging, and the chunk is counted once more, exactly,
when it is made (that exact count is its ``tokens``). In the rare case where joining pieces
makes more tokens than their sum and the chunk overflows, it is cut in two between pieces.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from plait.providers.tokens import count_tokens
from plait.rag.clean import clean
from plait.rag.process_rules import DEFAULT_CHILD_SEGMENTATION, ProcessRule, Segmentation, check_doc_form

TokenCounter = Callable[[str], int]

FALLBACK_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", ". ", " ", "")
FULL_DOC_MAX_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document: ``content`` and its size in ``tokens``. A parent chunk
    (parent-child documents) carries its ``children``; a Q&A chunk holds the question as
    ``content`` and its ``answer``."""

    content: str
    tokens: int
    children: tuple[Chunk, ...] = ()
    answer: str | None = None


def split(
    text: str,
    rule: ProcessRule,
    *,
    doc_form: str,
    count_tokens: TokenCounter = count_tokens,
    full_doc_max_tokens: int = FULL_DOC_MAX_TOKENS,
) -> list[Chunk]:
    """``text`` cleaned and cut into chunks by ``rule`` (see the module's docstring)."""
    check_doc_form(rule, doc_form)
    cleaned = clean(text, rule.pre_processing)
    if rule.mode == "hierarchical":
        children = _Splitter(rule.subchunk_segmentation or DEFAULT_CHILD_SEGMENTATION, count_tokens)
        if rule.parent_mode == "full-doc":
            parent, tokens = _truncate(cleaned.strip(), full_doc_max_tokens, count_tokens)
            return [_parent(parent, tokens, children)] if parent else []
        parents = _Splitter(rule.segmentation, count_tokens).split(cleaned, fixed=True)
        return [_parent(content, tokens, children) for content, tokens in parents]
    pieces = _Splitter(rule.segmentation, count_tokens).split(cleaned, fixed=rule.mode != "automatic")
    return [Chunk(content, tokens) for content, tokens in pieces]


def split_text(
    text: str, segmentation: Segmentation, *, fixed: bool = True, count_tokens: TokenCounter = count_tokens
) -> list[Chunk]:
    """``text`` (already cleaned) cut by one segmentation: at its separator first when
    ``fixed``, else recursively only. For callers that re-cut one segment's children."""
    return [Chunk(content, tokens) for content, tokens in _Splitter(segmentation, count_tokens).split(text, fixed)]


def _parent(content: str, tokens: int, children: _Splitter) -> Chunk:
    kids = tuple(Chunk(child, child_tokens) for child, child_tokens in children.split(content, fixed=True))
    return Chunk(content, tokens, kids)


def _truncate(text: str, max_tokens: int, count: TokenCounter) -> tuple[str, int]:
    tokens = count(text)
    if tokens <= max_tokens:
        return text, tokens
    kept = text[: _longest_fit(text, 0, max_tokens, count)].rstrip()
    return kept, count(kept)


def _longest_fit(text: str, start: int, max_tokens: int, count: TokenCounter, guess: int | None = None) -> int:
    """The end of the longest ``text[start:end]`` of at most ``max_tokens`` tokens; at least
    one character (which is then indivisible). ``guess`` is a likely length, such as the
    previous chunk's."""

    def fits(size: int) -> bool:
        return count(text[start : start + size]) <= max_tokens

    return start + max(1, _largest(fits, len(text) - start, guess or max_tokens * 4))


def _largest(fits: Callable[[int], bool], top: int, guess: int) -> int:
    """The largest ``n`` in ``0..top`` for which ``fits(n)`` (``fits(0)`` is taken as true):
    gallop from ``guess`` to a bracket, then bisect it. Counting tokens is the cost here, so
    a good guess brings it down to a few counts of about one chunk each."""
    if top <= 0:
        return 0
    guess = min(max(guess, 1), top)
    step = max(1, guess // 32)
    if fits(guess):
        low = guess
        while True:
            if low == top:
                return top
            high = min(top, low + step)
            if not fits(high):
                break
            low, step = high, step * 2
    else:
        high = guess
        while True:
            low = max(0, high - step)
            if low == 0 or fits(low):
                break
            high, step = low, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


class _Splitter:
    """One segmentation's cuts; yields ``(content, exact token count)`` pairs."""

    def __init__(self, segmentation: Segmentation, count: TokenCounter) -> None:
        self.separator = segmentation.separator
        self.max_tokens = segmentation.max_tokens
        self.overlap = segmentation.chunk_overlap
        self.count = count

    def split(self, text: str, fixed: bool) -> list[tuple[str, int]]:
        parts = text.split(self.separator) if fixed and self.separator else [text]
        chunks: list[tuple[str, int]] = []
        for part in parts:
            part = part.strip()
            if not part:
                continue
            tokens = self.count(part)
            if tokens <= self.max_tokens:
                chunks.append((part, tokens))
            else:
                chunks.extend(self._recursive(part, FALLBACK_SEPARATORS))
        return chunks

    def _recursive(self, text: str, separators: Sequence[str]) -> list[tuple[str, int]]:
        index = next(i for i, separator in enumerate(separators) if separator == "" or separator in text)
        separator, rest = separators[index], separators[index + 1 :]
        if separator == "":
            return self._by_characters(text)
        chunks: list[tuple[str, int]] = []
        good: list[tuple[str, int]] = []
        for piece in _pieces(text, separator):
            tokens = self.count(piece)
            if tokens <= self.max_tokens:
                good.append((piece, tokens))
                continue
            if good:
                chunks.extend(self._merge(good))
                good = []
            chunks.extend(self._recursive(piece, rest))
        if good:
            chunks.extend(self._merge(good))
        return chunks

    def _merge(self, pieces: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Greedy merge up to ``max_tokens``; after each chunk, its trailing pieces worth at
        most ``chunk_overlap`` tokens (and leaving room for the next piece) start the next."""
        chunks: list[tuple[str, int]] = []
        current: deque[tuple[str, int]] = deque()
        total = 0
        for piece, tokens in pieces:
            if current and total + tokens > self.max_tokens:
                self._emit(list(current), chunks)
                while current and (total > self.overlap or total + tokens > self.max_tokens):
                    total -= current.popleft()[1]
            current.append((piece, tokens))
            total += tokens
        if current:
            self._emit(list(current), chunks)
        return chunks

    def _emit(self, group: list[tuple[str, int]], chunks: list[tuple[str, int]]) -> None:
        content = "".join(piece for piece, _ in group).strip()
        if not content:
            return
        tokens = group[0][1] if len(group) == 1 and content == group[0][0] else self.count(content)
        if tokens > self.max_tokens and len(group) > 1:
            middle = len(group) // 2
            self._emit(group[:middle], chunks)
            self._emit(group[middle:], chunks)
            return
        chunks.append((content, tokens))

    def _by_characters(self, text: str) -> list[tuple[str, int]]:
        chunks: list[tuple[str, int]] = []
        start = done = 0  # done: where the last chunk ended
        guess: int | None = None
        while done < len(text):
            end = _longest_fit(text, start, self.max_tokens, self.count, guess)
            if end <= done:  # the overlap left no room for new text: go on without it
                start = done
                continue
            content = text[start:end].strip()
            if content:
                chunks.append((content, self.count(content)))
            guess, done = end - start, end
            start = self._overlap_start(text, start, end) if self.overlap else end
        return chunks

    def _overlap_start(self, text: str, start: int, end: int) -> int:
        """Where the longest tail of ``text[start:end]`` that fits in ``chunk_overlap``
        tokens begins (``end`` when not even one character fits); never ``start`` itself."""

        def fits(size: int) -> bool:
            return self.count(text[end - size : end]) <= self.overlap

        guess = (end - start) * self.overlap // self.max_tokens
        return end - _largest(fits, end - start - 1, guess)


_SPACE_RUN = re.compile(r"(?<= )(?=[^ ])")


def _pieces(text: str, separator: str) -> list[str]:
    """``text`` cut after each ``separator`` (kept at the end of its piece; a run of spaces
    stays whole). Pieces of whitespace only are dropped: they hold nothing to lose."""
    if separator == " ":
        pieces = _SPACE_RUN.split(text)
    else:
        pieces = [piece + separator for piece in text.split(separator)]
        pieces[-1] = pieces[-1][: -len(separator)]
    return [piece for piece in pieces if piece.strip()]
