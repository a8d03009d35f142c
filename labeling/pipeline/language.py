"""A light language guesser: good enough to keep a project's prompts in its language.

What it can do: tell scripts apart (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai,
Hangul, kana, Han) and, within Latin script, English, German, French, Spanish, Italian,
Portuguese and Dutch by their most common function words. Cyrillic is reported as Russian and
Han without kana as Chinese. What it cannot do: tell close languages apart beyond that
(Ukrainian vs Russian, Catalan vs Spanish), or name a language from fewer than three function
words; such text is "und" (undetermined), and the language filter keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNDETERMINED = "und"

_STOPWORDS = {
    "en": "the and of to is in that it for you are with this on be was what how can have not "
    "do i my your from at by an or as will would",
    "de": "der die das und ist nicht ich du sie ein eine zu den mit von auf für wie was "
    "auch sich dem des im es wir kann bitte",
    "fr": "le la les et est un une des du de pas que qui pour dans je vous il elle sur avec "
    "ce au mais comment est-ce",
    "es": "el la los las y es un una de del que en por para con no se lo como qué más "
    "pero su al yo cómo",
    "it": "il la le e è un una di del che per con non si lo come sono gli della anche "
    "questo ma io cosa",
    "pt": "o a os as e é um uma de do da que em para com não se como mais mas por você eu isso são",
    "nl": "de het een en is van dat niet ik je op te met voor zijn wat hoe ook er maar dit kan",
}
_STOPSETS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}

_SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u04FF]")),
    ("el", re.compile(r"[\u0370-\u03FF]")),
    ("ar", re.compile(r"[\u0600-\u06FF]")),
    ("he", re.compile(r"[\u0590-\u05FF]")),
    ("hi", re.compile(r"[\u0900-\u097F]")),
    ("th", re.compile(r"[\u0E00-\u0E7F]")),
    ("ko", re.compile(r"[\uAC00-\uD7AF]")),
    ("ja", re.compile(r"[\u3040-\u30FF]")),
    ("zh", re.compile(r"[\u4E00-\u9FFF]")),
)
_NOT_LETTER = re.compile(r"[\W\d_]+", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)


@dataclass(frozen=True)
class Guess:
    language: str
    confidence: float  # 0..1


def detect_language(text: str) -> Guess:
    letters = len(_NOT_LETTER.sub("", text))
    if not letters:
        return Guess(UNDETERMINED, 0.0)
    if not text.isascii():  # scripts first: count letters of each non-Latin script
        counts = {lang: len(pattern.findall(text)) for lang, pattern in _SCRIPTS}
        if counts["ja"]:  # Japanese mixes kana with Han
            counts["ja"] += counts.pop("zh")
        best_script = max(counts, key=lambda lang: counts[lang])
        if counts[best_script] / letters >= 0.3:
            return Guess(best_script, round(counts[best_script] / letters, 2))
    words = [w.lower() for w in _WORD.findall(text)]
    hits = {lang: sum(w in stops for w in words) for lang, stops in _STOPSETS.items()}
    ranked = sorted(hits.items(), key=lambda item: item[1], reverse=True)
    (lang, top), (_, second) = ranked[0], ranked[1]
    if top < 3 or top < 1.5 * second:
        return Guess(UNDETERMINED, 0.0)
    return Guess(lang, round((top - second) / top, 2))
