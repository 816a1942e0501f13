"""HTML: readable text with structure, no scripts or styles, encoding from the page."""

from __future__ import annotations

import time

from .builders import parsed, pdf, unreadable

PAGE = """<!DOCTYPE html>
<html><head>
  <title>  员工手册  </title>
  <meta name="author" content="HR 部门">
  <style>body { color: red }</style>
  <script>var secret = "do not show";</script>
</head>
<body>
  <nav><a href="/">Home</a> | <a href="/about">About us</a></nav>
  <h1>Welcome</h1>
  <p>Vacation is
     25 days.   See <a href="/policy">the <b>policy</b></a>.<br>Second line.</p>
  <noscript>Enable JavaScript</noscript>
  <template><p>template text</p></template>
  <h2>Lists</h2>
  <ul><li>one</li><li>two <em>items</em></li></ul>
  <ol start="3"><li>three</li><li>four</li></ol>
  <table>
    <tr><th>Name</th><th>Days</th></tr>
    <tr><td>张三</td><td><p>25</p><p>paid</p></td></tr>
  </table>
  <pre>def f():
    return 1</pre>
  <!-- a comment -->
  <div>last <span>block</span></div>
  <script>document.write("no")</script>
</body></html>
"""


def test_html_is_readable_text_with_structure() -> None:
    document = parsed(PAGE.encode(), "handbook.html")
    assert document.text == (
        "Home | About us\n\n"
        "# Welcome\n\n"
        "Vacation is 25 days. See the policy.\nSecond line.\n\n"
        "## Lists\n\n"
        "- one\n- two items\n\n"
        "3. three\n4. four\n\n"
        "| Name | Days |\n| --- | --- |\n| 张三 | 25<br>paid |\n\n"
        "def f():\n    return 1\n\n"
        "last block"
    )
    assert document.metadata.title == "员工手册"
    assert document.metadata.author == "HR 部门"


def test_script_style_and_noscript_text_never_appears() -> None:
    text = parsed(PAGE.encode(), "handbook.htm").text
    for hidden in ("do not show", "color: red", "Enable JavaScript", "template text", "a comment", "document.write"):
        assert hidden not in text


def test_the_page_declared_encoding_is_used() -> None:
    page = '<html><head><meta charset="gbk"></head><body><p>你好，世界</p></body></html>'.encode("gbk")  # noqa: RUF001
    document = parsed(page, "gbk.html")
    assert document.text == "你好，世界"  # noqa: RUF001
    assert document.metadata.encoding == "gbk"


def test_a_wrong_declaration_loses_to_valid_utf8() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body>Ünïcödé 中文</body></html>'.encode()
    assert parsed(page, "mislabelled.html").text == "Ünïcödé 中文"


def test_nested_tables_stay_inside_their_cell() -> None:
    page = b"<table><tr><td>outer</td><td><table><tr><td>in1</td></tr><tr><td>in2</td></tr></table></td></tr></table>"
    assert parsed(page, "nested.html").text == "| outer | \\| in1 \\|<br>\\| --- \\|<br>\\| in2 \\| |\n| --- | --- |"


def test_a_page_of_only_scripts_is_empty() -> None:
    unreadable("empty", b"<html><head><script>x()</script></head><body><script>y()</script></body></html>", "app.html")


def test_a_pdf_named_html_is_a_type_mismatch() -> None:
    error = unreadable("type_mismatch", pdf(["x"]), "page.html")
    assert error.message == "page.html is not an HTML page (its content is a PDF)"


def test_deeply_nested_markup_is_read_in_linear_time() -> None:
    # Editing the tree block by block was quadratic in the depth: 10,000 nested <div> took minutes.
    page = b"<div>" * 10_000 + b"deep" + b"</div>" * 10_000
    started = time.perf_counter()
    assert parsed(page, "deep.html").text == "deep"
    assert time.perf_counter() - started < 10


def test_comments_doctypes_and_drawings_are_not_text() -> None:
    page = b"<!DOCTYPE html><p>a<!-- hidden -->b</p><svg><text>drawn</text></svg><p>c</p>"
    assert parsed(page, "bits.html").text == "ab\n\nc"
