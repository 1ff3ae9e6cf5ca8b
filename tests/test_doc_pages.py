"""The client docs served as pages (/docs/<name>/), and the Markdown renderer behind them."""

from __future__ import annotations

import pytest

from synthesis.doc_pages import DOC_PAGES, DOCS_DIR, render_markdown


def test_it_serves_the_protocol_as_a_page(client) -> None:
    response = client.get("/docs/protocol/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="the-websocket-protocol">The WebSocket protocol</h1>' in page
    assert '<h2 id="close-codes">Close codes</h2>' in page
    assert '<a href="#close-codes">Close codes</a>' in page  # in "On this page"
    assert "<tr><th>code</th><th>when</th></tr>" in page  # a table
    # Quoted tags show as written instead of vanishing into the page.
    assert "SSML tag &lt;prosody&gt; is not supported" in page
    assert "<prosody>" not in page
    # A doc named in the text links to its page.
    assert '<a href="/docs/voices/"><code>voices.md</code></a>' in page


@pytest.mark.parametrize("name", DOC_PAGES)
def test_each_listed_doc_is_a_page_titled_by_its_first_heading(client, name: str) -> None:
    response = client.get(f"/docs/{name}/")
    assert response.status_code == 200
    first_line = (DOCS_DIR / f"{name}.md").read_text().splitlines()[0]
    assert f"<title>{first_line.removeprefix('# ')} ·" in response.content.decode()


@pytest.mark.parametrize("path", ["/docs/operations/", "/docs/nothing/", "/docs/..%2fREADME/"])
def test_a_doc_not_listed_is_not_found(client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_demo_page_links_to_the_docs_pages(client, settings) -> None:
    settings.TTS_REQUIRE_API_KEY = False
    page = client.get("/").content.decode()
    for name in DOC_PAGES:
        assert f'href="/docs/{name}/"' in page
    assert "docs/protocol.md" not in page


def test_it_escapes_the_text_and_links_only_to_web_addresses() -> None:
    doc = render_markdown(
        "# A <b>title</b>\n\n"
        "Say <script>alert(1)</script> & [this](https://example.com/?a=1&b=2), "
        "not [that](javascript:void).\n\n"
        '```html\n<p class="x">&</p>\n```\n'
    )
    assert doc.title == "A <b>title</b>"
    assert doc.body == (
        '<h1 id="a-b-title-b">A &lt;b&gt;title&lt;/b&gt;</h1>\n'
        "<p>Say &lt;script&gt;alert(1)&lt;/script&gt; &amp; "
        '<a href="https://example.com/?a=1&amp;b=2">this</a>, not that.</p>\n'
        '<pre><code class="language-html">&lt;p class=&quot;x&quot;&gt;&amp;&lt;/p&gt;</code></pre>'
    )


def test_it_renders_lists_tables_and_emphasis_as_the_docs_write_them() -> None:
    doc = render_markdown(
        "- one item that goes on\n"
        "  to a second line, *stressed*\n"
        "- **two**\n\n"
        "1. first\n"
        "2. second\n\n"
        "| field | rule |\n"
        "|---|---|\n"
        "| `a|b` | `x` or `y` |\n"
    )
    assert doc.body == (
        "<ul><li>one item that goes on to a second line, <em>stressed</em></li>"
        "<li><strong>two</strong></li></ul>\n"
        "<ol><li>first</li><li>second</li></ol>\n"
        "<table><thead><tr><th>field</th><th>rule</th></tr></thead><tbody>"
        "<tr><td><code>a|b</code></td><td><code>x</code> or <code>y</code></td></tr>"
        "</tbody></table>"
    )
