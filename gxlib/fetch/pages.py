"""What ``gx fetch`` reads in an HTML page: its text (charset), its links, the pagination
of a report column, the attachments of a report page, and whether the page is a
bot-protection challenge or needs JavaScript.  No network here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from ..readers import ReadError
from ..readers.decode import decode
from ..readers.html import declared_charset

from . import DEFAULT_MATCH  # noqa: F401 - the default of --match
DOCUMENT_SUFFIXES = (".pdf", ".doc", ".docx", ".wps", ".ofd", ".xls", ".xlsx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")
BLOCKED = "blocked by the site's bot protection"
NEEDS_JS = "the page shows its content only with JavaScript (gxlib does not run scripts)"

_GB = {"gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936", "euc-cn", "gb18030"}
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_WS = re.compile(r"\s+")
_NEXT = re.compile(r"^(?:下一页|下页|后一页|下一頁|next|›|»|>|＞)$", re.I)
_LAST = re.compile(r"^(?:尾页|末页|最后一页|尾頁|last|»»)$", re.I)
_INDEX_N = re.compile(r"^(.*/)?(index|default|list)_(\d+)\.(s?html?)$", re.I)
_CREATE_PAGE = re.compile(r"createPageHTML\(\s*['\"]?(\d+)['\"]?\s*,\s*['\"]?(\d+)['\"]?\s*,\s*['\"]([\w-]+)['\"]\s*,"
                          r"\s*['\"](s?html?)['\"]", re.I)
# the content area of an article page (CMS ids and classes seen on government sites)
_CONTENT = re.compile(r"zoom|content|article|trs_editor|trs_ueditor|custom_unionstyle|detail|conter|wzy|"
                      r"main[-_]?text|news[-_]?text|xxgk[-_]?nr|zwnr|nr[-_]?box|fontzoom", re.I)
_CHROME = re.compile(r"header|footer|nav|menu|banner|logo|share|toolbar|breadcrumb|location|sidebar|"
                     r"copyright|qrcode|ewm|related|xgwz|xglj", re.I)
_UI_IMAGE = re.compile(r"icon|logo|banner|btn|button|share|qrcode|erweima|ewm|weixin|wechat|weibo|"
                       r"arrow|bullet|dot\.|blank\.|spacer|jiucuo|conac|print|close|zoom", re.I)
_CHALLENGE = re.compile(r"安全验证|人机验证|滑动验证|拖动滑块|请完成验证|访问验证|安全检查|正在验证|验证您的身份|"
                        r"captcha|checking your browser|verify you are human|are you a robot|"
                        r"enable javascript and cookies", re.I)
_CAPTCHA_WORD = re.compile(r"验证码|verification code", re.I)


def header_charset(content_type: str | None) -> str | None:
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _norm(enc: str) -> str:
    enc = enc.strip().lower()
    return "gb18030" if enc in _GB else enc


def decode_page(data: bytes, content_type: str | None = None) -> str:
    """Text of a page: the charset of the HTTP header, then the ``<meta>`` one, then the
    readers' strict decoder (GBK and GB2312 are read as GB18030).  Raises
    :class:`~gxlib.readers.ReadError` when nothing decodes cleanly."""
    declared = header_charset(content_type)
    if declared:
        try:
            return data.decode(_norm(declared)).lstrip("\ufeff")
        except (UnicodeDecodeError, LookupError):
            pass  # a header that lies: the page's own declaration or the bytes decide
    meta = declared_charset(data)
    return decode(data, _norm(meta) if meta else None)[0]


def looks_html(data: bytes, content_type: str | None) -> bool:
    ct = (content_type or "").lower()
    if "html" in ct:
        return True
    if ct and not ct.startswith(("text/", "application/octet-stream")):
        return False
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<meta", b"<script", b"<body", b"<!--"))


def parse(text: str):
    """An lxml HTML tree of a decoded page (never None)."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        return lxml.html.document_fromstring(text or "<html></html>")
    except (etree.ParserError, ValueError):
        return lxml.html.document_fromstring("<html></html>")


def visible_text(root) -> str:
    """The words a reader sees (no scripts, styles or comments), whitespace collapsed."""
    parts = []
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() not in ("script", "style", "noscript", "template") and el.text:
            parts.append(el.text)
        if el.tail and el.getparent() is not None:
            parts.append(el.tail)
    return _WS.sub(" ", " ".join(parts)).strip()


# --------------------------------------------------------------------------------------
# bot protection and JavaScript-only pages

def refusal(status: int | None, data: bytes, content_type: str | None) -> str | None:
    """:data:`BLOCKED` or :data:`NEEDS_JS` when an answer is a challenge or an empty
    JavaScript shell rather than the document; None otherwise.

    A challenge is a 403/412/521 (or 2xx, 429, 503) answer whose page is scripts only,
    or a short page asking for a security check or a captcha."""
    if not data or not looks_html(data, content_type):
        return None
    try:
        text = decode_page(data, content_type)
    except ReadError:
        return None
    root = parse(text)
    words = visible_text(root)
    title = " ".join(t.text_content() for t in root.iter("title"))
    scripts = sum(1 for _ in root.iter("script")) + len(re.findall(r"http-equiv=[\"']?refresh", text, re.I))
    script_only = scripts > 0 and len(words.replace(title, "")) < 40
    if _CHALLENGE.search(words) or _CHALLENGE.search(title):
        if "年度报告" not in words and len(words) < 2000:
            return BLOCKED
    if _CAPTCHA_WORD.search(words) and len(words) < 200:
        return BLOCKED
    if script_only:
        if status in (403, 412, 429, 503, 521, 202) or (status is not None and status >= 400):
            return BLOCKED
        return NEEDS_JS
    return None


_REFRESH = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?refresh[\"']?[^>]*?content\s*=\s*[\"']?\s*\d*\s*[;,]?\s*"
                      r"url\s*=\s*[\"']?([^\"'>\s]+)", re.I)
_JS_LOCATION = re.compile(r"(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*[\"']([^\"']+)[\"']|"
                          r"location\.(?:replace|assign)\(\s*[\"']([^\"']+)[\"']\s*\)", re.I)


def redirect_target(data: bytes, content_type: str | None, page_url: str) -> str | None:
    """Where a page that only forwards the reader (``<meta http-equiv="refresh">`` or a
    one-line ``location.href = ...`` script, and next to no text) sends them; None for
    any other page."""
    if len(data) > 20_000:
        return None
    try:
        text = decode_page(data, content_type)
    except ReadError:
        return None
    m = _REFRESH.search(text)
    target = m.group(1) if m else None
    if target is None:
        m = _JS_LOCATION.search(text)
        target = (m.group(1) or m.group(2)) if m else None
    if target is None or len(visible_text(parse(text))) >= 40:
        return None
    return _absolute(page_url, target)


# --------------------------------------------------------------------------------------
# links

@dataclass(frozen=True)
class Link:
    url: str
    text: str


def _base(root, page_url: str) -> str:
    for b in root.iter("base"):
        href = (b.get("href") or "").strip()
        if href:
            return urljoin(page_url, href)
    return page_url


def _absolute(base: str, href: str | None) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith("#") or re.match(r"(?i)(javascript|mailto|tel|data):", href):
        return None
    url = urljoin(base, href)
    p = urlsplit(url)
    if p.scheme not in ("http", "https") or not p.netloc:
        return None
    return urlunsplit((p.scheme, p.netloc, p.path or "/", p.query, ""))  # no #fragment


def links(root, page_url: str) -> list[Link]:
    """Every ``<a href>`` of the page as an absolute URL with its text (or its ``title``
    when the text is cut short with an ellipsis), in page order."""
    base = _base(root, page_url)
    out = []
    for a in root.iter("a"):
        url = _absolute(base, a.get("href"))
        if url is None:
            continue
        text = _WS.sub(" ", a.text_content()).strip()
        title = _WS.sub(" ", a.get("title") or "").strip()
        if title and (not text or text.endswith(("...", "…", "..")) or len(title) > len(text)):
            text = title
        out.append(Link(url, text))
    return out


def report_links(root, page_url: str, match: re.Pattern) -> tuple[list[Link], int]:
    """The links of a report column whose text matches ``match`` (first occurrence of each
    URL), and how many other links the page has."""
    chosen: dict[str, Link] = {}
    others = 0
    for link in links(root, page_url):
        if link.text and match.search(link.text):
            chosen.setdefault(link.url, link)
        else:
            others += 1
    return list(chosen.values()), others


def pagination(root, text: str, page_url: str) -> list[str]:
    """The other pages of a report column linked from this one: 下一页 / 尾页 links,
    numbered ``index_N.html`` pages (every number up to the last one named), and the
    ``createPageHTML(total, current, "index", "html")`` script many CMSs use.  Same site
    only."""
    site = urlsplit(page_url).netloc.lower()
    out: list[str] = []
    base = _base(root, page_url)
    here = urlsplit(page_url)
    folder = here.path.rsplit("/", 1)[0] + "/"

    def add(url: str | None) -> None:
        if url and urlsplit(url).netloc.lower() == site and url not in out and url != page_url:
            out.append(url)

    numbered: dict[tuple[str, str, str], int] = {}
    for a in root.iter("a"):
        url = _absolute(base, a.get("href"))
        if url is None:
            continue
        label = _WS.sub("", a.text_content())
        title = _WS.sub("", a.get("title") or "")
        if _NEXT.match(label) or _LAST.match(label) or _NEXT.match(title) or _LAST.match(title):
            add(url)
        m = _INDEX_N.match(urlsplit(url).path)
        if m and urlsplit(url).netloc.lower() == site:
            key = (m.group(1) or "/", m.group(2), m.group(4))
            numbered[key] = max(numbered.get(key, 0), int(m.group(3)))
            add(url)
    for m in _CREATE_PAGE.finditer(text):
        total, stem, ext = int(m.group(1)), m.group(3), m.group(4)
        key = (folder, stem, ext)
        numbered[key] = max(numbered.get(key, 0), total - 1)  # page 1 is stem.ext, then stem_1 ...
        add(urljoin(page_url, f"{stem}.{ext}"))
    for (path, stem, ext), last in numbered.items():
        for n in range(1, last + 1):
            add(urlunsplit((here.scheme, here.netloc, f"{path}{stem}_{n}.{ext}", "", "")))
    return out


def _suffix(url: str) -> str:
    path = unquote(urlsplit(url).path).lower()
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def _in(el, pattern: re.Pattern) -> bool:
    while el is not None:
        if isinstance(el.tag, str) and pattern.search(f"{el.get('id') or ''} {el.get('class') or ''}"):
            return True
        el = el.getparent()
    return False


def attachment_links(root, page_url: str) -> list[str]:
    """Report files linked from a report page: links to .pdf .doc .docx .wps .ofd .xls
    .xlsx (by the URL, or by the link text for download scripts), PDFs shown in an
    ``<iframe>``/``<embed>``/``<object>`` (also through a ``viewer.html?file=`` PDF viewer),
    and images inside the content area.  Links in the page's header, footer and
    navigation are left alone.  Absolute URLs, each once, in page order."""
    base = _base(root, page_url)
    out: list[str] = []

    def add(url: str | None) -> None:
        if url and url not in out and url != page_url:
            out.append(url)

    for a in root.iter("a"):
        url = _absolute(base, a.get("href"))
        if url is None or _in(a, _CHROME):
            continue
        text = _WS.sub("", a.text_content() + " " + (a.get("title") or "")).lower()
        if _suffix(url) in DOCUMENT_SUFFIXES or any(text.endswith(s) for s in DOCUMENT_SUFFIXES):
            add(url)
        else:
            add(_viewer_file(url))
    for tag, attr in (("iframe", "src"), ("embed", "src"), ("object", "data")):
        for el in root.iter(tag):
            url = _absolute(base, el.get(attr))
            if url is None:
                continue
            if _suffix(url) in DOCUMENT_SUFFIXES:
                add(url)
            else:
                add(_viewer_file(url))
    for img in root.iter("img"):
        src = img.get("src") or img.get("data-src") or img.get("original")
        url = _absolute(base, src)
        if url is None or not _in(img, _CONTENT) or _in(img, _CHROME) or _UI_IMAGE.search(url):
            continue
        if _suffix(url) in IMAGE_SUFFIXES or not _suffix(url):
            add(url)
    return out


def _viewer_file(url: str) -> str | None:
    """The document behind a PDF viewer URL (``.../viewer.html?file=/a/b.pdf``)."""
    p = urlsplit(url)
    for values in parse_qs(p.query).values():
        for v in values:
            if _suffix(v) in DOCUMENT_SUFFIXES:
                return urljoin(url, v)
    return None
