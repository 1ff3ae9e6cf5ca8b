"""The client-facing docs (docs/*.md) as pages of the server, and the small Markdown renderer
they need.

Only the docs named in `DOC_PAGES` are served. The renderer knows the Markdown these files use
(headings, paragraphs, lists, pipe tables, fenced code, inline code, emphasis and links) and
escapes all of their text: the docs quote HTML and SSML (`<speak>`, "SSML tag <prosody> is not
supported") that must show as written, not vanish into the page as tags.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

# The docs a client needs, by the name in their URL: docs/<name>.md, and its label in the menu.
DOC_PAGES = {
    "protocol": "WebSocket protocol",
    "http": "HTTP API",
    "voices": "Voices",
    "text": "Text and SSML",
}


@dataclass
class Heading:
    level: int
    anchor: str
    html: str


@dataclass
class RenderedDoc:
    title: str
    body: str  # HTML, every piece of the file's text escaped
    headings: list[Heading] = field(default_factory=list)


def read_doc(name: str) -> RenderedDoc | None:
    """The doc called `name` as HTML, or None when it is not one of `DOC_PAGES`."""
    return _rendered(name) if name in DOC_PAGES else None


# The files are part of the release: each is read and rendered once per process, not on every
# request on the thread that Django's sync views share. Only DOC_PAGES' names reach it.
@functools.cache
def _rendered(name: str) -> RenderedDoc:
    text = (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8")
    return render_markdown(text, link_doc=_doc_link)


def _doc_link(code: str) -> str | None:
    """The page of a doc that a code span names (`voices.md`, `docs/text.md`), if it is served."""
    found = re.fullmatch(r"(?:docs/)?([a-z]+)\.md", code)
    if found and found[1] in DOC_PAGES:
        return f"/docs/{found[1]}/"
    return None


FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^(?:[-*]|(\d+)\.)\s+(.*)$")
TABLE_RULE = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
STRONG = re.compile(r"\*\*(.+?)\*\*")
EMPHASIS = re.compile(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])")
SAFE_URL = re.compile(r"^(https?://|/|#)")


def render_markdown(text: str, link_doc: Callable[[str], str | None] | None = None) -> RenderedDoc:
    """`text` as HTML; `link_doc` turns a code span that names another doc into a link."""
    return _Renderer(link_doc or (lambda code: None)).render(text)


class _Renderer:
    def __init__(self, link_doc: Callable[[str], str | None]) -> None:
        self.link_doc = link_doc
        self.anchors: set[str] = set()

    def render(self, text: str) -> RenderedDoc:
        lines = text.splitlines()
        out: list[str] = []
        headings: list[Heading] = []
        title = ""
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
            elif fence := FENCE.match(line):
                end = i + 1
                while end < len(lines) and not lines[end].startswith("```"):
                    end += 1
                code = html.escape("\n".join(lines[i + 1 : end]))
                language = f' class="language-{fence[1]}"' if fence[1] else ""
                out.append(f"<pre><code{language}>{code}</code></pre>")
                i = end + 1
            elif heading := HEADING.match(line):
                level, inner = len(heading[1]), self.inline(heading[2])
                anchor = self.anchor(heading[2])
                out.append(f'<h{level} id="{anchor}">{inner}</h{level}>')
                headings.append(Heading(level, anchor, inner))
                title = title or _plain(heading[2])
                i += 1
            elif line.startswith("|") and i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1]):
                i = self.table_block(lines, i, out)
            elif LIST_ITEM.match(line):
                i = self.list_block(lines, i, out)
            else:
                paragraph = []
                while i < len(lines) and lines[i].strip() and not _starts_block(lines, i):
                    paragraph.append(lines[i].strip())
                    i += 1
                out.append(f"<p>{self.inline(' '.join(paragraph))}</p>")
        return RenderedDoc(title, "\n".join(out), headings)

    def table_block(self, lines: list[str], i: int, out: list[str]) -> int:
        header = _cells(lines[i])
        rows = []
        i += 2
        while i < len(lines) and lines[i].startswith("|"):
            rows.append(_cells(lines[i]))
            i += 1
        head = "".join(f"<th>{self.inline(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{self.inline(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return i

    def list_block(self, lines: list[str], i: int, out: list[str]) -> int:
        first = LIST_ITEM.match(lines[i])
        assert first is not None  # render() saw the item
        ordered = bool(first[1])
        items: list[list[str]] = []
        while i < len(lines):
            item = LIST_ITEM.match(lines[i])
            if item and bool(item[1]) == ordered:
                items.append([item[2].strip()])
            elif lines[i].strip() and items and not _starts_block(lines, i):
                items[-1].append(lines[i].strip())  # a continuation line of the item
            elif not lines[i].strip() and _next_is_item(lines, i, ordered):
                pass  # a blank line between two items of the same list
            else:
                break
            i += 1
        tag = "ol" if ordered else "ul"
        body = "".join(f"<li>{self.inline(' '.join(item))}</li>" for item in items)
        out.append(f"<{tag}>{body}</{tag}>")
        return i

    def inline(self, text: str) -> str:
        """A line's Markdown as HTML: code spans as they are, the rest escaped, then marked up."""
        codes: list[str] = []

        def hold_code(span: re.Match[str]) -> str:
            code = span[2].strip() or span[2]
            element = f"<code>{html.escape(code)}</code>"
            target = self.link_doc(code)
            codes.append(f'<a href="{html.escape(target)}">{element}</a>' if target else element)
            return f"\0{len(codes) - 1}\0"

        # Code spans are set aside first, so that emphasis around one (**`/readyz`:**) holds.
        escaped = html.escape(CODE_SPAN.sub(hold_code, text.replace("\0", "")), quote=False)
        escaped = LINK.sub(_link, escaped)
        escaped = STRONG.sub(r"<strong>\1</strong>", escaped)
        escaped = EMPHASIS.sub(r"<em>\1</em>", escaped)
        return re.sub("\0(\\d+)\0", lambda held: codes[int(held[1])], escaped)

    def anchor(self, heading: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", _plain(heading).lower()).strip("-") or "section"
        anchor, n = base, 2
        while anchor in self.anchors:
            anchor, n = f"{base}-{n}", n + 1
        self.anchors.add(anchor)
        return anchor


def _link(match: re.Match[str]) -> str:
    url = html.unescape(match[2])
    if not SAFE_URL.match(url):
        return match[1]  # a relative or unknown link leads nowhere on this server: just the words
    return f'<a href="{html.escape(url)}">{match[1]}</a>'


def _plain(markdown: str) -> str:
    """A heading's words without its Markdown."""
    return re.sub(r"[`*]", "", LINK.sub(r"\1", markdown))


def _cells(row: str) -> list[str]:
    """A table row's cells; a `|` inside a code span is part of the cell."""
    cells, current, in_code = [], "", False
    for character in row.strip().strip("|"):
        if character == "`":
            in_code = not in_code
        if character == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += character
    cells.append(current.strip())
    return cells


def _starts_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    return bool(
        FENCE.match(line)
        or HEADING.match(line)
        or LIST_ITEM.match(line)
        or (line.startswith("|") and i + 1 < len(lines) and TABLE_RULE.match(lines[i + 1]))
    )


def _next_is_item(lines: list[str], i: int, ordered: bool) -> bool:
    while i < len(lines) and not lines[i].strip():
        i += 1
    item = LIST_ITEM.match(lines[i]) if i < len(lines) else None
    return item is not None and bool(item[1]) == ordered
