import pytest

from labeling.pipeline import pii

# (text, kind): each planted value must be replaced by its placeholder and counted.
PLANTED = [
    ("Write to john.doe@example.co.uk today", pii.EMAIL),
    ("cc jane+filter@mail.example.com please", pii.EMAIL),
    ("Call +1 415-555-0132 after five", pii.PHONE),
    ("Office: (020) 7946 0958", pii.PHONE),
    ("my cell is 415.555.0199", pii.PHONE),
    ("+44 20 7946 0958 is the London desk", pii.PHONE),
    # National numbers without + or brackets: the trunk 0 and 10-11 grouped digits.
    ("text me on 07700 900123 tonight", pii.PHONE),
    ("the desk is 020 7946 0958, ask for Sam", pii.PHONE),
    ("appelle-moi au 06 12 34 56 78 ce soir", pii.PHONE),
    ("ou au 06.12.34.56.78", pii.PHONE),
    ("Berlin: 030 12345678.", pii.PHONE),
    ("+33 6 12 34 56 78 en France", pii.PHONE),
    ("call (415) 555-0132 before noon", pii.PHONE),
    ("or 415-555-0132 after noon", pii.PHONE),
    ("Visa 4111 1111 1111 1111 exp 12/28", pii.CREDIT_CARD),
    ("Mastercard 5500-0000-0000-0004", pii.CREDIT_CARD),
    ("amex 378282246310005", pii.CREDIT_CARD),
    ("the server at 192.168.1.20 is down", pii.IP_ADDRESS),
    ("ping 2001:db8:85a3::8a2e:370:7334 now", pii.IP_ADDRESS),
    ("link-local fe80::1 works", pii.IP_ADDRESS),
    ("IBAN DE89 3704 0044 0532 0130 00 please", pii.IBAN),
    ("pay GB82WEST12345698765432", pii.IBAN),
    ("SSN 123-45-6789 on file", pii.NATIONAL_ID),
    ("NI number AB 12 34 56 C", pii.NATIONAL_ID),
    ("DNI 12345678Z", pii.NATIONAL_ID),
    ("NIE X1234567L", pii.NATIONAL_ID),
    ("export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234", pii.SECRET),
    ("aws AKIAIOSFODNN7EXAMPLE", pii.SECRET),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", pii.SECRET),
    ("slack xoxb-123456789012-abcdefghij", pii.SECRET),
    ("password: hunter2hunter", pii.SECRET),
    ("key AIzaSyA1234567890abcdefghijklmnopqrstuv", pii.SECRET),
    ("random Zx9Kq2LmP8vR4tYw7NbC3dFh6JsA1eGu here", pii.SECRET),
    # A key in a URL's query is still a key (and counted once, not again by `api_key=`).
    (
        "GET https://api.example.com/v1/data?api_key=sk-abcdefghijklmnopqrstuvwx1234&page=2",
        pii.SECRET,
    ),
    ("https://example.com/callback?token=Zx9Kq2LmP8vR&next=/home", pii.SECRET),
    ("client_secret=Zx9Kq2LmP8vR4tYw", pii.SECRET),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", pii.SECRET),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        pii.SECRET,
    ),
]

# Look-alikes that must survive untouched.
LOOK_ALIKES = [
    "card 4111 1111 1111 1112 fails Luhn",
    "order number 1234567812345678 is not a card",  # passes no issuer prefix + Luhn
    "IBAN DE89 3704 0044 0532 0130 01 has a bad check",
    "SSNs 000-12-3456, 666-12-3456, 912-12-3456 and 123-00-4567 were never issued",
    "GB123456A and QQ123456Z are not NI numbers",
    "DNI 12345678A has the wrong letter",
    "addresses 999.1.1.1 and 1.2.3 and 10.0.0.256 are not IPs",
    "C++ std::vector and a::b and 12:30:45 are not IPv6",
    "dates 2024-01-15 and 12/31/2023 and ISBN 978-3-16-148410-0",
    "user@localhost and @handle and name at example dot com",
    "task-oriented sk-short and ask-me",
    "git 3f786850e387550fdab836ed7e6dc881de23001b and uuid 550e8400-e29b-41d4-a716-446655440000",
    "ThisIsAVeryLongCamelCaseIdentifierName and snake_case_variable_name_that_is_long",
    "the year 1999 and 3.14159 and version 2.0.1",
    # URLs from the HH-RLHF test file: mixed-case paths are not secrets.
    "see https://www.sciencedirect.com/science/article/pii/S096098220600021X for the study",
    "it: https://www.dailymail.co.uk/news/article-4528990/How-drink-dose-toxic-strychnine.html ).",
    "(https://www.cia.gov/library/readingroom/docs/CIA-RDP97-00505R0070600330001-6.pdf), which",
    "found at https://www.zillow.com/homes/United-States/CA/Los-Angeles-CA/land_value/1",
    "bare sciencedirect.com/science/article/pii/S096098220600021X",
    "and www.example.com/AbC123xYz789QwE456rTy0 without a scheme",
    # Phone look-alikes: dates, versions, prices, order and ISBN numbers, years, times.
    "on 2024-03-15, 15.03.2024 and 03/15/2024 we shipped 1.2.3 and 10.15.7",
    "it costs $1,299.99 or 1 299 000 EUR or 1.299.000,00 EUR",
    "order 2024-0042-17, ref 20240315-0001, ISBN 978-0-306-40615-7 and 0-306-40615-2",
    "the years 1999 2000 2001 and 1990-2020, from 10:30-11:45 or 09 30",
    "ticket 1234 5678 9012 and tracking 9400 1000 0000 0000",
    "page 0 of 10, 0.5 0.25 and 001 002 003",
]


@pytest.mark.parametrize(("text", "kind"), PLANTED)
def test_planted_pii_is_redacted_with_its_placeholder(text, kind):
    result = pii.redact(text)
    assert result.found == {kind: 1}, result.text
    assert pii.PLACEHOLDERS[kind] in result.text


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_left_alone(text):
    result = pii.redact(text)
    assert result.found == {}
    assert result.text == text


def test_report_names_kinds_and_counts_never_values():
    text = "Mail a@example.com or b@example.org, card 4111111111111111, from 10.1.2.3"
    result = pii.redact(text)
    assert result.text == "Mail [EMAIL] or [EMAIL], card [CREDIT_CARD], from [IP_ADDRESS]"
    assert result.found == {"email": 2, "credit_card": 1, "ip_address": 1}
    assert result.kinds == ["credit_card", "email", "ip_address"]
    assert "example" not in repr(result.found)


def test_assignment_keeps_the_key_name_and_redacts_the_value():
    assert pii.redact("api_key = 'abc123def456'").text == "api_key = '[SECRET]'"
    assert pii.redact("client_secret=Zx9Kq2LmP8vR4tYw").text == "client_secret=[SECRET]"


def test_a_url_keeps_its_path_and_loses_only_the_key_in_its_query():
    url = "https://api.example.com/v1/Reports/S096098220600021X?api_key=sk-abcdefghijklmnopqrstuvwx1234&page=2"
    result = pii.redact(f"fetch {url} now")
    assert result.text == (
        "fetch https://api.example.com/v1/Reports/S096098220600021X?api_key=[SECRET]&page=2 now"
    )
    assert result.found == {pii.SECRET: 1}


def test_a_high_entropy_token_next_to_a_url_is_still_a_secret():
    result = pii.redact("see https://example.com/docs then use Zx9Kq2LmP8vR4tYw7NbC3dFh6JsA1eGu")
    assert result.text == "see https://example.com/docs then use [SECRET]"


def test_redaction_can_be_limited_to_some_kinds():
    result = pii.redact("a@example.com 192.168.0.1", kinds=(pii.EMAIL,))
    assert result.text == "[EMAIL] 192.168.0.1"


def test_validators():
    assert pii.luhn_ok("79927398713") and not pii.luhn_ok("79927398710")
    assert pii.iban_ok("NL91 ABNA 0417 1643 00") and not pii.iban_ok("NL91ABNA0417164301")
    assert pii.shannon_entropy("aaaa") == 0
