"""A 2021-layout report with non-zero values, written as DOCX and as OFD by the tests.

``REPORT`` is a list of blocks: a paragraph (str) or a table (list of rows, each a list
of cell texts; a row shorter than the table spans its last cell to the right edge).  All
identities hold (row sums, outcome sums, the balance, section-四 sums), so a parse of any
faithful copy is ``ok`` with these exact cells.
"""
from __future__ import annotations

import io
import zipfile

APPLICANTS = [37, 6, 2, 1, 3, 4]  # new applications by applicant (natural person .. other)
CARRIED = [4, 1, 0, 0, 0, 1]
OUTCOMES = [  # 20 outcome rows (2021): per applicant
    ("（一）予以公开", [12, 3, 1, 0, 1, 2]),
    ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", [5, 1, 0, 0, 0, 0]),
    ("（三）不予公开 1.属于国家秘密", [0, 0, 0, 0, 0, 0]),
    ("2.其他法律行政法规禁止公开", [1, 0, 0, 0, 0, 0]),
    ("3.危及“三安全一稳定”", [0, 0, 0, 0, 0, 0]),
    ("4.保护第三方合法权益", [2, 0, 0, 0, 0, 0]),
    ("5.属于三类内部事务信息", [1, 0, 0, 0, 0, 0]),
    ("6.属于四类过程性信息", [2, 0, 0, 0, 0, 1]),
    ("7.属于行政执法案卷", [1, 0, 0, 0, 0, 0]),
    ("8.属于行政查询事项", [0, 0, 0, 0, 0, 0]),
    ("（四）无法提供 1.本机关不掌握相关政府信息", [8, 1, 1, 0, 1, 0]),
    ("2.没有现成信息需要另行制作", [2, 0, 0, 0, 0, 0]),
    ("3.补正后申请内容仍不明确", [1, 0, 0, 0, 0, 0]),
    ("（五）不予处理 1.信访举报投诉类申请", [1, 0, 0, 0, 0, 0]),
    ("2.重复申请", [1, 1, 0, 0, 0, 0]),
    ("3.要求提供公开出版物", [0, 0, 0, 0, 0, 0]),
    ("4.无正当理由大量反复申请", [0, 0, 0, 0, 0, 0]),
    ("5.要求行政机关确认或重新出具已获取信息", [0, 0, 0, 0, 0, 0]),
    ("（六）其他处理 1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", [1, 0, 0, 1, 0, 0]),
    ("2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", [0, 0, 0, 0, 0, 0]),
    ("3.其他", [1, 0, 0, 0, 1, 1]),
]
HANDLED = [sum(v[i] for _, v in OUTCOMES) for i in range(6)]
FORWARD = [APPLICANTS[i] + CARRIED[i] - HANDLED[i] for i in range(6)]
REVIEWS = [[3, 1, 0, 1, 5], [2, 0, 1, 0, 3], [1, 1, 0, 0, 2]]


def _row(label: str, vals: list[int]) -> list[str]:
    return [label, *map(str, vals), str(sum(vals))]


def report() -> list:
    assert all(v >= 0 for v in FORWARD)
    section3 = [
        ["（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", "申请人情况"],
        ["", "自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计"],
        _row("一、本年新收政府信息公开申请数量", APPLICANTS),
        _row("二、上年结转政府信息公开申请数量", CARRIED),
        *(_row(label, vals) for label, vals in OUTCOMES),
        _row("（七）总计", HANDLED),
        _row("四、结转下年度继续办理", FORWARD),
    ]
    section4 = [
        ["行政复议", "行政诉讼"],
        ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] * 3,
        [str(v) for block in REVIEWS for v in block],
    ]
    return [
        "某某县人民政府2023年政府信息公开工作年度报告",
        "本报告依据《中华人民共和国政府信息公开条例》编制。",
        "一、总体情况",
        "2023年，我县认真贯彻落实政府信息公开工作要求。",
        "二、主动公开政府信息情况",
        [
            ["第二十条第（一）项"],
            ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
            ["规章", "2", "1", "15"],
            ["行政规范性文件", "7", "3", "42"],
            ["第二十条第（五）项"],
            ["信息内容", "本年处理决定数量"],
            ["行政许可", "1263"],
            ["第二十条第（六）项"],
            ["信息内容", "本年处理决定数量"],
            ["行政处罚", "418"],
            ["行政强制", "27"],
            ["第二十条第（八）项"],
            ["信息内容", "本年收费金额（单位：万元）"],
            ["行政事业性收费", "35.6"],
        ],
        "三、收到和处理政府信息公开申请情况",
        section3,
        "四、政府信息公开行政复议、行政诉讼情况",
        section4,
        "五、存在的主要问题及改进情况",
        "一是公开质量有待提高。",
    ]


def docx_bytes(blocks=None) -> bytes:
    """The report as a .docx (python-docx); short rows span their last cell."""
    import docx

    d = docx.Document()
    for block in blocks or report():
        if isinstance(block, str):
            d.add_paragraph(block)
            continue
        ncols = max(len(r) for r in block)
        table = d.add_table(rows=len(block), cols=ncols)
        for i, row in enumerate(block):
            cells = table.rows[i].cells
            for j, text in enumerate(row):
                cells[j].text = text
            if len(row) < ncols:
                cells[len(row) - 1].merge(cells[ncols - 1])
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# OFD (GB/T 33190): OFD.xml -> Doc_0/Document.xml -> Doc_0/Pages/Page_N/Content.xml

NS = "http://www.ofdspec.org/2016"
PAGE_W, PAGE_H, MARGIN = 210.0, 297.0, 20.0
SIZE = 3.5  # font size, mm
ROW_H = 8.0


class _Ids:
    def __init__(self):
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _text(ids, x: float, y: float, text: str, size: float = SIZE) -> str:
    """A TextObject whose boundary starts at (x, y); the baseline sits near its bottom."""
    width = max(1.0, size * len(text))
    deltas = " ".join(f"{(size if ord(c) > 0x2E7F else size * 0.5):g}" for c in text[:-1])
    delta = f' DeltaX="{deltas}"' if deltas else ""
    esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<ofd:TextObject ID="{ids()}" Boundary="{x:g} {y:g} {width:g} {size * 1.4:g}" Font="2" Size="{size:g}">'
            f'<ofd:FillColor Value="0 0 0"/><ofd:TextCode X="0" Y="{size * 1.1:g}"{delta}>{esc}</ofd:TextCode>'
            f"</ofd:TextObject>")


def _line(ids, x0: float, y0: float, x1: float, y1: float) -> str:
    bx, by = min(x0, x1), min(y0, y1)
    return (f'<ofd:PathObject ID="{ids()}" Boundary="{bx:g} {by:g} {abs(x1 - x0) + 0.2:g} {abs(y1 - y0) + 0.2:g}" '
            f'LineWidth="0.2"><ofd:AbbreviatedData>M {x0 - bx:g} {y0 - by:g} L {x1 - bx:g} {y1 - by:g}'
            f"</ofd:AbbreviatedData></ofd:PathObject>")


def _table(ids, block, y: float) -> tuple[list[str], float]:
    """Objects of a ruled table whose top is at ``y``: columns of equal width after a wide
    first column; a short row's last cell spans to the right edge."""
    ncols = max(len(r) for r in block)
    width = PAGE_W - 2 * MARGIN
    first = width * 0.4 if ncols > 2 else width / 2
    rest = (width - first) / max(1, ncols - 1)
    xs = [MARGIN] + [MARGIN + first + k * rest for k in range(ncols)]
    objs = []
    top = y
    for row in block:
        objs.append(_line(ids, MARGIN, y, MARGIN + width, y))
        bounds = [xs[j] for j in range(len(row))] + [MARGIN + width]
        for j, text in enumerate(row):
            if text:
                cell_w = bounds[j + 1] - bounds[j]
                size = SIZE if SIZE * len(text) <= cell_w - 1 else max(1.0, (cell_w - 1) / len(text))
                objs.append(_text(ids, bounds[j] + 0.5, y + 1.5, text, size))
        for x in bounds:
            objs.append(_line(ids, x, y, x, y + ROW_H))
        y += ROW_H
    objs.append(_line(ids, MARGIN, y, MARGIN + width, y))
    del top
    return objs, y


def ofd_bytes(blocks=None) -> bytes:
    """The report as a minimal OFD package; tables run on over pages (a page break inside
    a table leaves its rows on the next page, each page's part ruled on its own)."""
    ids = _Ids()
    pages: list[list[str]] = [[]]
    y = MARGIN
    limit = PAGE_H - MARGIN

    def new_page():
        nonlocal y
        pages.append([])
        y = MARGIN

    for block in blocks or report():
        if isinstance(block, str):
            if y + ROW_H > limit:
                new_page()
            pages[-1].append(_text(ids, MARGIN, y, block))
            y += ROW_H
            continue
        rows = list(block)
        while rows:
            room = max(1, int((limit - y) // ROW_H) - 1)
            part, rows = rows[:room], rows[room:]
            objs, y = _table(ids, part, y)
            pages[-1].extend(objs)
            y += ROW_H / 2
            if rows:
                new_page()
    files = {
        "OFD.xml": (f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD">'
                    "<ofd:DocBody><ofd:DocInfo><ofd:DocID>0c8a2d0e5d4b4a8e9d0f1a2b3c4d5e6f</ofd:DocID>"
                    "<ofd:Title>某某县人民政府2023年政府信息公开工作年度报告</ofd:Title></ofd:DocInfo>"
                    "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"),
        "Doc_0/Document.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{NS}"><ofd:CommonData>'
            f"<ofd:MaxUnitID>{ids.n + 10}</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 {PAGE_W:g} {PAGE_H:g}"
            "</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData><ofd:Pages>"
            + "".join(f'<ofd:Page ID="{1000 + k}" BaseLoc="Pages/Page_{k}/Content.xml"/>' for k in range(len(pages)))
            + "</ofd:Pages></ofd:Document>"),
        "Doc_0/PublicRes.xml": (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res xmlns:ofd="{NS}" BaseLoc="Res">'
                                '<ofd:Fonts><ofd:Font ID="2" FontName="宋体" FamilyName="宋体"/></ofd:Fonts></ofd:Res>'),
    }
    for k, objs in enumerate(pages):
        files[f"Doc_0/Pages/Page_{k}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{NS}"><ofd:Content>'
            f'<ofd:Layer ID="{2000 + k}">' + "".join(objs) + "</ofd:Layer></ofd:Content></ofd:Page>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text.encode("utf-8"))
    return buf.getvalue()
