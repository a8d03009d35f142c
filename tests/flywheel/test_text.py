"""The one markdown helper renders and sanitizes; real XSS payloads come out inert."""

from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from flywheel.text import render_markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<iframe src="https://evil.example"></iframe>',
    "<div style=\"background:url('javascript:alert(1)')\">x</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style>"
    "</mglyph></table></mtext></math>",
]


class _Elements(HTMLParser):
    """Collects the elements a browser would build from the HTML (text is not an element)."""

    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


DANGEROUS_TAGS = {"script", "svg", "iframe", "style", "math", "object", "embed", "form", "div"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_cannot_run(payload):
    parser = _Elements()
    parser.feed(str(render_markdown(payload)))
    for tag, attrs in parser.elements:
        assert tag not in DANGEROUS_TAGS, (payload, tag)
        for name, value in attrs.items():
            assert not name.startswith("on"), (payload, name)
            assert name != "style" or "url(" not in (value or ""), (payload, value)
            if name in {"href", "src"}:
                assert (value or "").lower().split(":")[0] in {"http", "https", "mailto", "x"}, (
                    payload,
                    value,
                )


def test_raw_html_shows_as_text():
    html = str(render_markdown("<img src=x onerror=alert(1)>"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_markdown_renders():
    html = str(
        render_markdown(
            "**bold** and `code`\n\n```python\nprint(1)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
        )
    )
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert '<code class="language-python">print(1)' in html
    assert "<table>" in html


def test_safe_links_keep_rel_noopener():
    html = str(render_markdown("[docs](https://example.org/x)"))
    assert 'href="https://example.org/x"' in html
    assert "noopener" in html


def test_template_filter_uses_the_helper_and_escapes_nothing_twice():
    out = Template("{{ text|markdown }}").render(Context({"text": "a < b & <b>c</b>"}))
    assert "a &lt; b &amp; &lt;b&gt;c&lt;/b&gt;" in out


def test_empty_text_renders_empty():
    assert render_markdown(None) == ""
    assert render_markdown("") == ""
