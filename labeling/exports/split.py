"""A seeded train / validation split, stratified by task type, decided one prompt at a time.

The unit is the prompt: every row of a prompt lands in the same split, so validation never
holds a conversation that training saw. Within each task type, selection sampling (Knuth,
TAOCP vol. 2, 3.4.2, Algorithm S) picks exactly round(n * fraction) of the type's n prompts
(never all n), uniformly at random, while the prompts stream by in id order: constant memory,
and the same seed on the same data gives the same split.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping


class StratifiedSplitter:
    def __init__(self, *, totals: Mapping[str, int], fraction: float, seed: int) -> None:
        self.remaining = dict(totals)
        # Never the whole of a type: training needs a train split.
        self.wanted = {t: min(round(n * fraction), max(n - 1, 0)) for t, n in totals.items()}
        self.fraction = fraction
        self.seed = seed
        self._rngs: dict[str, random.Random] = {}

    def _rng(self, task_type: str) -> random.Random:
        if task_type not in self._rngs:
            digest = hashlib.sha256(f"{self.seed}:{task_type}".encode()).digest()
            self._rngs[task_type] = random.Random(int.from_bytes(digest[:8], "big"))
        return self._rngs[task_type]

    def next(self, task_type: str) -> str:
        """The split of the next prompt of this task type: "train" or "validation"."""
        left = self.remaining.get(task_type, 0)
        wanted = self.wanted.get(task_type, 0)
        if left <= 0:
            # A prompt the totals did not count (data arrived mid-build): fall back to a coin.
            return "validation" if self._rng(task_type).random() < self.fraction else "train"
        self.remaining[task_type] = left - 1
        if wanted and self._rng(task_type).random() * left < wanted:
            self.wanted[task_type] = wanted - 1
            return "validation"
        return "train"
