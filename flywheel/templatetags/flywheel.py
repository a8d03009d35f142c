from django import template

from flywheel.text import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(value: str | None):
    """{{ answer.text|markdown }}: rendered and sanitized; never use |safe on model text."""
    return render_markdown(value)
