"""Find and redact personal data and secrets, replacing each with a typed placeholder.

Detected: e-mail addresses, phone numbers (7-15 digits in groups: with a + country code or
parentheses, the North American 3-3-4 shape, or a national number with its trunk 0 and 10-11
digits such as 020 7946 0958, 07700 900123 or 06 12 34 56 78), credit card numbers (issuer prefix
+ Luhn), IPv4 and IPv6 addresses (validated by `ipaddress`), IBANs (country length + mod-97),
national ids (US SSN with the never-issued ranges excluded, UK National Insurance numbers with the
unused prefixes excluded, Spanish DNI/NIE with their check letter) and secrets (well-known key
prefixes, private key blocks, JWTs, `password=...` assignments and URL query keys, and long
high-entropy tokens outside URLs: a URL's path is mixed-case letters and digits too).

The report says which kinds were found and how many; never the values.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

EMAIL = "email"
PHONE = "phone"
CREDIT_CARD = "credit_card"
IP_ADDRESS = "ip_address"
IBAN = "iban"
NATIONAL_ID = "national_id"
SECRET = "secret"
KINDS = (EMAIL, PHONE, CREDIT_CARD, IP_ADDRESS, IBAN, NATIONAL_ID, SECRET)

PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in KINDS}


@dataclass
class Redaction:
    text: str
    found: Counter[str] = field(default_factory=Counter)  # kind -> count, never the values

    @property
    def kinds(self) -> list[str]:
        return sorted(self.found)


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[re.Match[str]], bool] = lambda match: True
    group: int = 0  # the part of the match that is replaced
    needs: re.Pattern[str] | None = None  # a cheap test that must pass before the full pattern
    outside_urls: bool = False  # leave matches inside a URL alone


# -- validators --------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[068]|6011|65|64[4-9]|35")


def _card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


# Lengths per country for the IBAN countries seen most; others need 15-34 characters.
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "GR": 27, "HU": 28, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "RO": 24, "SE": 24, "SK": 24, "TR": 26,
}  # fmt: skip


def iban_ok(value: str) -> bool:
    iban = value.replace(" ", "").upper()
    expected = _IBAN_LENGTHS.get(iban[:2])
    if (expected and len(iban) != expected) or not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _ssn(match: re.Match[str]) -> bool:
    area, group, serial = match.group("area"), match.group("group"), match.group("serial")
    return (
        area not in {"000", "666"}
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino(match: re.Match[str]) -> bool:
    return match.group()[:2].upper() not in _NINO_BAD_PREFIXES


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(match: re.Match[str]) -> bool:
    body, letter = match.group("body").upper(), match.group("letter").upper()
    number = body.replace("X", "0", 1).replace("Y", "1", 1).replace("Z", "2", 1)
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == letter


def _ipv4(match: re.Match[str]) -> bool:
    try:
        ipaddress.IPv4Address(match.group())
    except ValueError:
        return False
    return True


def _ipv6(match: re.Match[str]) -> bool:
    text = match.group()
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    groups = [g for g in re.split(r"[:.]", text) if g]
    # "a::b" in C++ or Rust is valid IPv6 too; real addresses have more or longer groups.
    return len(groups) >= 3 or any(len(g) >= 3 for g in groups)


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_NORTH_AMERICAN = re.compile(r"\d{3}[-. ]\d{3}[-. ]\d{4}")
# A national number dialled with its trunk 0 (UK, France, Germany...): grouped, 10-11 digits.
_TRUNK = re.compile(r"0[1-9]\d{0,4}(?:[ .-]\d{2,8}){1,4}")


def _phone(match: re.Match[str]) -> bool:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15 or _DATE.fullmatch(text):
        return False
    if text.startswith("+") or "(" in text or _NORTH_AMERICAN.fullmatch(text):
        return True
    return 10 <= len(digits) <= 11 and bool(_TRUNK.fullmatch(text))


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _high_entropy(match: re.Match[str]) -> bool:
    token = match.group()
    return (
        any(c.islower() for c in token)
        and any(c.isupper() for c in token)
        and any(c.isdigit() for c in token)
        and shannon_entropy(token) >= 4.0
    )


# -- the detectors, in the order they run (secrets before the digit patterns they contain) ----

_DIGIT = re.compile(r"\d")
_AT = re.compile("@")
_COLON = re.compile(":")
_DIGITS_4 = re.compile(r"\d\D?\d\D?\d")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{24}")
# A URL with a scheme or www., or a bare domain followed by a path (sciencedirect.com/science/...).
_URL = re.compile(
    r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"'`]*"
)

_DETECTORS: tuple[_Detector, ...] = (
    _Detector(
        SECRET,
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        needs=re.compile("PRIVATE KEY"),
    ),
    _Detector(
        SECRET,
        re.compile(
            r"(?<![\w-])(?:"
            r"sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
            r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
            r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
            r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
            r"|(?:sk|rk)_live_[0-9A-Za-z]{24,}"  # Stripe
            r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
            r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWT
            r")"
        ),
    ),
    _Detector(
        SECRET,
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|access[_-]?token"
            r"|auth[_-]?token|(?<=[?&])(?:key|token))"  # the last two: a URL's query
            # The value stops at a URL's next parameter; a key already redacted is not counted.
            r"\s*[:=]\s*[\"']?(?P<value>(?!\[[A-Z_]+\])[^\s\"',;&]{6,})"
        ),
        group=1,
    ),
    _Detector(
        EMAIL,
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
        ),
        needs=_AT,
    ),
    _Detector(
        IBAN,
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        valid=lambda m: iban_ok(m.group()),
        needs=_DIGITS_4,
    ),
    _Detector(
        CREDIT_CARD,
        re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        valid=_card,
        needs=_DIGITS_4,
    ),
    _Detector(
        NATIONAL_ID,
        re.compile(r"(?<![\d-])(?P<area>\d{3})-(?P<group>\d{2})-(?P<serial>\d{4})(?![\d-])"),
        valid=_ssn,
        needs=_DIGITS_4,
    ),
    _Detector(
        NATIONAL_ID,
        re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        valid=_nino,
        needs=_DIGITS_4,
    ),
    _Detector(
        NATIONAL_ID,
        re.compile(r"\b(?P<body>[XYZ]?\d{7,8})-?(?P<letter>[A-Z])\b"),
        valid=_dni,
        needs=_DIGITS_4,
    ),
    _Detector(
        IP_ADDRESS,
        re.compile(
            r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])"
        ),
        valid=_ipv6,
        needs=_COLON,
    ),
    _Detector(
        IP_ADDRESS,
        re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.]|\.\d)"),
        valid=_ipv4,
        needs=_DIGITS_4,
    ),
    _Detector(
        PHONE,
        re.compile(
            r"(?<![\w+.,/-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
            r"\d{1,5}(?:[ .-]\d{2,8}){1,4}(?![\w-]|[.,/]\d)"
        ),
        valid=_phone,
        needs=_DIGITS_4,
    ),
    _Detector(
        SECRET,
        re.compile(r"(?<![\w/+=-])[A-Za-z0-9+/_=-]{24,}(?![\w/+=-])"),
        valid=_high_entropy,
        needs=_LONG_TOKEN,
        outside_urls=True,
    ),
)


def redact(text: str, *, kinds: tuple[str, ...] = KINDS) -> Redaction:
    """Replace every detected item of the given kinds with its placeholder."""
    found: Counter[str] = Counter()
    if not text:
        return Redaction(text=text, found=found)
    for detector in _DETECTORS:
        if detector.kind not in kinds or (detector.needs and not detector.needs.search(text)):
            continue
        urls = [m.span() for m in _URL.finditer(text)] if detector.outside_urls else []

        def replace(
            match: re.Match[str], detector: _Detector = detector, urls: list[tuple[int, int]] = urls
        ) -> str:
            if any(start <= match.start() < end for start, end in urls):
                return match.group()
            if not detector.valid(match):
                return match.group()
            found[detector.kind] += 1
            placeholder = PLACEHOLDERS[detector.kind]
            if detector.group:
                start, end = match.span(detector.group)
                offset = match.start()
                whole = match.group()
                return whole[: start - offset] + placeholder + whole[end - offset :]
            return placeholder

        text = detector.pattern.sub(replace, text)
    return Redaction(text=text, found=found)


def detect(text: str) -> Counter[str]:
    """Which kinds occur, and how often (redaction without keeping the text)."""
    return redact(text).found
