"""Renderers: terminal (Rich), Markdown and JSON views of an Assessment."""

from mcrc.render.json import render_json
from mcrc.render.markdown import render_markdown
from mcrc.render.text import render_text

__all__ = ["render_json", "render_markdown", "render_text"]
