"""Cleaning a document's text before it is cut: Dify's pre-processing rules.

Always, as Dify does: control characters other than tab, newline and carriage return are
removed, and the chat-template brackets ``<|`` and ``|>`` are defused to ``<`` and ``>``
(a chunk is pasted into prompts later, where they could open a special token). Dify's
pattern also deletes the characters ``ï``, ``¿`` and ``¾`` (it meant the UTF-8 bytes of
U+FFFE, but matches text, not bytes); Plait removes U+FFFE and U+FFFF only, so Spanish
questions and French words survive.

Then the rules the process rule turns on, in one fixed order whatever the order of the
body's list, so that the space clean-up tidies what the removals leave:

1. ``remove_urls_emails``: e-mail addresses and ``http(s)://`` URLs go. A Markdown image
   keeps its whole ``![alt](url)`` (Dify keeps image URLs so that images still resolve);
   a Markdown link keeps its text, ``[docs](https://...)`` becoming ``docs`` (Dify leaves an
   unreadable ``[docs]()``).
2. ``remove_stopwords``: common English words (the list below, NLTK's, in lower case) are
   removed as whole words, case-insensitively. Dify accepts this rule and ignores it;
   Plait does what it says.
3. ``remove_extra_spaces``: three or more newlines become two, and runs of two or more
   spaces and tabs (any horizontal Unicode space) become one space, as in Dify.
"""

from __future__ import annotations

import re

from plait.rag.process_rules import PreProcessing

_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_NEWLINES = re.compile(r"\n{3,}")
_SPACES = re.compile("[\t\f\r \u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}")

# One pass, tried in this order at each position: a Markdown image (kept whole), a Markdown
# link to a URL (its text kept), a URL, an e-mail address.
_URLS_EMAILS = re.compile(
    r"(?P<image>!\[[^\]\n]*\]\([^)\s]*\))"
    r"|\[(?P<text>[^\]\n]*)\]\(https?://[^)\s]*\)"
    r"|https?://[^\s)]+"
    r"|[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+"
)

# NLTK's English stop-word list (a string to read, not 179 lines of a list literal).
STOPWORDS = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
    yourselves he him his himself she she's her hers herself it it's its itself they them
    their theirs themselves what which who whom this that that'll these those am is are was
    were be been being have has had having do does did doing a an the and but if or because
    as until while of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don don't should should've now d ll m o re ve y
    ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven
    haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
    shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
    """.split()  # noqa: SIM905
)
# A whole word: after a space, the start or an opening bracket or quote, and not followed by
# a letter, an apostrophe or punctuation that goes on into a word ("i.png", "a-b", "at@x"),
# so that URLs, file names and addresses are left alone.
_STOPWORD = re.compile(
    r"(?P<lead>[ \t]*)(?<![^\s(\[\"'\u201c\u2018«])(?:"
    + "|".join(re.escape(word).replace("'", "['\u2019]") for word in sorted(STOPWORDS, key=len, reverse=True))
    + r")(?![\w'\u2019]|[^\s\w]\w)(?P<trail>[ \t]*)",
    re.IGNORECASE,
)


def clean(text: str, pre_processing: PreProcessing) -> str:
    """``text`` with invalid characters removed and the enabled rules applied."""
    text = _INVALID.sub("", text).replace("<|", "<").replace("|>", ">")
    if pre_processing.remove_urls_emails:
        text = remove_urls_emails(text)
    if pre_processing.remove_stopwords:
        text = _STOPWORD.sub(_drop_stopword, text)
    if pre_processing.remove_extra_spaces:
        text = _SPACES.sub(" ", _NEWLINES.sub("\n\n", text))
    return text


def _drop_stopword(match: re.Match[str]) -> str:
    # Between two words one space stays; before punctuation or a line's end, none.
    return " " if match.group("lead") and match.group("trail") else ""


def remove_urls_emails(text: str) -> str:
    """E-mails and URLs removed; Markdown images kept whole, Markdown links by their text."""
    return _URLS_EMAILS.sub(_replace_url_or_email, text)


def _replace_url_or_email(match: re.Match[str]) -> str:
    if match.group("image") is not None:
        return match.group("image")
    if match.group("text") is not None:
        # The text of a link may itself be a URL or an address.
        return remove_urls_emails(match.group("text"))
    return ""
