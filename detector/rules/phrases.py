"""Multi-word names imitated word by word (issue 10): "Calvin Kwan", "Kansas Fried Chicken", "Face North".

For every token that is a word of a multi-word name, or keeps such a word's first or last three
letters, the window of tokens that would be that name is judged by ``knockoff.judge_words``; windows
holding the name's words in another order are reported as ``reordered``. Connectors ("&", "and") are
read past, as in names. All of them are review-level look-alikes (``Match.strong`` False).
"""

from __future__ import annotations

from rapidfuzz.distance import OSA

from detector.rules import knockoff
from detector.rules.config import LookalikeConfig
from detector.rules.dictionary import WordList
from detector.rules.lexicon import CONNECTORS, Entry, Lexicon
from detector.rules.match import Match, make
from detector.rules.tokens import Token, join
from detector.types import Relation


def holds_name(lex: Lexicon, first: int, last: int, tokens: list[Token], brand: str) -> bool:
    """True when tokens ``first:last`` contain a genuine spelling of ``brand`` as whole tokens."""
    by_key = lex.by_key
    for i in range(first, last):
        key = ""
        for j in range(i, last):
            key += tokens[j].key
            hits = by_key.get(key)
            if hits is not None and any(x.brand == brand for x in hits):
                return True
    return False


class PhraseMatcher:
    """Finds multi-word names changed word by word or reordered (see module docstring)."""

    def __init__(self, lexicon: Lexicon, words: WordList, config: LookalikeConfig) -> None:
        self.lex = lexicon
        self.all_words = words  # the whole list: in a phrase, "polo" is a word even if a brand is called so
        self.cfg = config

    def find(self, tokens: list[Token], out: list[Match]) -> None:
        """Append to ``out`` the multi-word names that ``tokens`` imitate word by word or reorder."""
        places, starts, ends = self.lex.word_places, self.lex.word_starts, self.lex.word_ends
        common = self.all_words.common
        seq = [i for i, t in enumerate(tokens) if t.key not in CONNECTORS]
        done: set[tuple[int, int]] = set()
        for k, i in enumerate(seq):
            key = tokens[i].key
            hits = places.get(key, ())
            # Near words as anchors only when not common words ("Timmy", "Sniffany"): "stand" is not "star".
            if len(key) >= 4 and (key[:3] in starts or key[-3:] in ends) and key not in common:
                hits = [*hits, *starts.get(key[:3], ()), *ends.get(key[-3:], ())]
            for e, place in hits:
                lo, hi = k - place, k - place + len(e.words)
                if lo < 0 or hi > len(seq) or (id(e), lo) in done:
                    continue
                done.add((id(e), lo))
                idx = seq[lo:hi]
                written = tuple(tokens[j].key for j in idx)
                if written == e.words:
                    continue
                verdict = knockoff.judge_words(written, e.words, self._word_weight, self.all_words.common.__contains__)
                if verdict is not None and not holds_name(self.lex, idx[0], idx[-1] + 1, tokens, e.brand):
                    out.append(self._word_match(tokens, idx, e, verdict))
            if key in places:
                self._reordered(tokens, seq, k, out)

    def _reordered(self, tokens: list[Token], seq: list[int], k: int, out: list[Match]) -> None:
        """The words of a multi-word name in another order ("Face North", "Balance New"), its stop
        words left out, among the windows holding the token ``seq[k]``."""
        for e, _ in self.lex.word_places[tokens[seq[k]].key]:
            words = tuple(w for w in e.words if w not in self.cfg.stopwords)
            n = len(words)
            for lo in range(max(0, k - n + 1), min(k, len(seq) - n) + 1):
                idx = seq[lo:lo + n]
                written = tuple(tokens[j].key for j in idx)
                if n >= 2 and written != words and sorted(written) == sorted(words):
                    detail = " ".join(written) + " for " + " ".join(words)
                    out.append(self._word_match(tokens, idx, e, knockoff.Verdict("reordered", detail)))

    def _word_match(self, tokens: list[Token], idx: list[int], e: Entry, verdict: knockoff.Verdict) -> Match:
        """A review-level look-alike of ``e`` over the tokens ``idx`` (word-by-word judgements)."""
        c = join([tokens[j] for j in idx], idx[0], idx[-1] + 1)
        rel = Relation.MIXED_SCRIPT if c.mixed else Relation.LOOKALIKE
        return make(c, tokens, e, rel, OSA.normalized_similarity(c.skel, e.skel), verdict.op, verdict.detail, False)

    def _word_weight(self, word: str) -> float:
        """What a name's word kept as written says: little for a number, a two-letter or stop word; more
        for a proper noun or a made-up word ("Tommy", "Hilfiger") than for a common word ("new")."""
        if len(word) <= 2 or not word.isalpha() or word in self.cfg.stopwords:
            return knockoff.INTACT_MINOR
        return knockoff.INTACT_COMMON if word in self.all_words.common else knockoff.INTACT_PROPER
