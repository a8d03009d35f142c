"""Exact and near-duplicate detection.

Near duplicates are found with MinHash over word 3-gram shingles of the normalized text and an
LSH index (`datasketch`): a new text is compared only with the indexed texts that share an LSH
band with it, and is a duplicate when its exact Jaccard similarity with one of them reaches the
threshold. The LSH index is tuned to a lower threshold than the one asked for (0.2 below), so
that pairs just above the threshold still become candidates; the exact check on the candidates
(sorted arrays of 32-bit shingle hashes, about 0.2 KB per indexed prompt) keeps precision.
`all_pairs_near_duplicates` is the exact O(n²) baseline the benchmark compares with.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from .records import normalize_text

SHINGLE_WORDS = 3
LSH_MARGIN = 0.2
_WORD = re.compile(r"\w+")


def shingles(text: str, *, k: int = SHINGLE_WORDS) -> set[str]:
    """Word k-grams of the normalized text; punctuation is not part of a word."""
    words = _WORD.findall(normalize_text(text))
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def shingle_hashes(text: str, *, k: int = SHINGLE_WORDS) -> np.ndarray:
    """The shingles as sorted, unique CRC-32 values (stable across processes)."""
    values = {zlib.crc32(s.encode()) for s in shingles(text, k=k)}
    return np.array(sorted(values), dtype=np.uint32)


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _jaccard_sorted(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) and not len(b):
        return 1.0
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


def _same(value: int) -> int:
    return value  # shingles arrive hashed already


@dataclass(frozen=True)
class NearDuplicate:
    key: str  # the earlier text it duplicates
    similarity: float  # exact Jaccard similarity of the shingle sets


class NearDuplicateIndex:
    """Remembers texts and answers "is this one nearly a text seen before?"."""

    def __init__(self, *, threshold: float = 0.8, num_perm: int = 128, k: int = SHINGLE_WORDS):
        self.threshold = threshold
        self.num_perm = num_perm
        self.k = k
        self._lsh = MinHashLSH(threshold=max(0.3, threshold - LSH_MARGIN), num_perm=num_perm)
        # One set of permutations for every sketch: building them per MinHash costs more than
        # hashing a prompt.
        # One scratch sketch, cleared for each text: the LSH index copies the band values on
        # insert, and building a MinHash (its permutations) costs more than hashing a prompt.
        # So an index is not for sharing between threads.
        self._scratch = MinHash(num_perm=num_perm, hashfunc=_same)
        self._sets: dict[str, np.ndarray] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._sets

    def __len__(self) -> int:
        return len(self._sets)

    def _sketch(self, hashes: np.ndarray) -> MinHash:
        minhash = self._scratch
        minhash.clear()
        minhash.update_batch(hashes.tolist())
        return minhash

    def find(self, text: str) -> NearDuplicate | None:
        hashes = shingle_hashes(text, k=self.k)
        return self._find(hashes, self._sketch(hashes))

    def add(self, key: str, text: str) -> NearDuplicate | None:
        """Index `text` under `key` unless it nearly duplicates an indexed one (returned)."""
        hashes = shingle_hashes(text, k=self.k)
        minhash = self._sketch(hashes)
        found = self._find(hashes, minhash)
        if found is None and key not in self._sets:
            self._lsh.insert(key, minhash)
            self._sets[key] = hashes
        return found

    def _find(self, hashes: np.ndarray, minhash: MinHash) -> NearDuplicate | None:
        best: NearDuplicate | None = None
        for key in self._lsh.query(minhash):
            similarity = _jaccard_sorted(hashes, self._sets[key])
            if similarity >= self.threshold and (best is None or similarity > best.similarity):
                best = NearDuplicate(key=key, similarity=round(similarity, 3))
        return best


def near_duplicates(
    texts: Iterable[tuple[str, str]], *, threshold: float = 0.8, num_perm: int = 128
) -> dict[str, NearDuplicate]:
    """key -> the earlier text it nearly duplicates, for (key, text) pairs in order."""
    index = NearDuplicateIndex(threshold=threshold, num_perm=num_perm)
    found = {}
    for key, text in texts:
        duplicate = index.add(key, text)
        if duplicate is not None:
            found[key] = duplicate
    return found


def all_pairs_near_duplicates(
    texts: Iterable[tuple[str, str]], *, threshold: float = 0.8
) -> dict[str, NearDuplicate]:
    """The exact baseline: every text against every kept earlier one, true Jaccard."""
    kept: list[tuple[str, set[str]]] = []
    found = {}
    for key, text in texts:
        mine = shingles(text)
        best: NearDuplicate | None = None
        for other_key, other in kept:
            similarity = jaccard(mine, other)
            if similarity >= threshold and (best is None or similarity > best.similarity):
                best = NearDuplicate(key=other_key, similarity=round(similarity, 3))
        if best is None:
            kept.append((key, mine))
        else:
            found[key] = best
    return found


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 between two texts over normalized words (longest common subsequence)."""
    x, y = normalize_text(a).split(), normalize_text(b).split()
    if not x or not y:
        return 0.0
    previous = [0] * (len(y) + 1)
    for word in x:
        current = [0]
        for j, other in enumerate(y, start=1):
            current.append(previous[j - 1] + 1 if word == other else max(previous[j], current[-1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(x), lcs / len(y)
    return 2 * precision * recall / (precision + recall)
