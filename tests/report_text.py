"""A whole 2021-layout report as real bodies write it, with non-zero values, for tests.

``report(...)`` returns the text of a report (title, section 一 prose, the tables of 二, 三
and 四, section 五) in one of the shapes readers write: ``pipe`` (one table row per line,
``|`` between cells, as the HTML/DOCX readers and PDF-to-Markdown converters give) or
``lines`` (one cell per line, as text captures of web pages give).  ``APPS`` and
``REVIEWS`` are the values it writes; tests change the text and compare with them.
"""
from __future__ import annotations

APPLICANT_COLS = ["natural_person", "commercial_enterprise", "research_institution",
                  "social_welfare_org", "legal_service_org", "other_org", "total"]

# (row code, label as printed, values: natural person, 5 organisations, total)
APP_ROWS = [
    ("new", "一、本年新收政府信息公开申请数量", [41, 6, 1, 0, 2, 3, 53]),
    ("carried_over", "二、上年结转政府信息公开申请数量", [4, 1, 0, 0, 0, 0, 5]),
    ("granted", "（一）予以公开", [17, 3, 1, 0, 1, 2, 24]),
    ("partly_granted", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）", [5, 1, 0, 0, 0, 0, 6]),
    ("withheld_state_secret", "1.属于国家秘密", [1, 0, 0, 0, 0, 0, 1]),
    ("withheld_prohibited", "2.其他法律行政法规禁止公开", [0, 0, 0, 0, 0, 0, 0]),
    ("withheld_security", "3.危及“三安全一稳定”", [0, 0, 0, 0, 0, 0, 0]),
    ("withheld_third_party", "4.保护第三方合法权益", [2, 0, 0, 0, 0, 0, 2]),
    ("withheld_internal", "5.属于三类内部事务信息", [0, 0, 0, 0, 0, 0, 0]),
    ("withheld_process", "6.属于四类过程性信息", [3, 0, 0, 0, 0, 0, 3]),
    ("withheld_enforcement", "7.属于行政执法案卷", [0, 0, 0, 0, 0, 0, 0]),
    ("withheld_query", "8.属于行政查询事项", [1, 0, 0, 0, 0, 0, 1]),
    ("unavailable_not_held", "1.本机关不掌握相关政府信息", [9, 2, 0, 0, 1, 1, 13]),
    ("unavailable_needs_creation", "2.没有现成信息需要另行制作", [2, 0, 0, 0, 0, 0, 2]),
    ("unavailable_unclear", "3.补正后申请内容仍不明确", [1, 0, 0, 0, 0, 0, 1]),
    ("rejected_petition", "1.信访举报投诉类申请", [2, 0, 0, 0, 0, 0, 2]),
    ("rejected_duplicate", "2.重复申请", [1, 0, 0, 0, 0, 0, 1]),
    ("rejected_publication", "3.要求提供公开出版物", [0, 0, 0, 0, 0, 0, 0]),
    ("rejected_excessive", "4.无正当理由大量反复申请", [0, 0, 0, 0, 0, 0, 0]),
    ("rejected_confirmation", "5.要求行政机关确认或重新出具已获取信息", [0, 0, 0, 0, 0, 0, 0]),
    ("other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", [1, 0, 0, 0, 0, 0, 1]),
    ("other_no_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", [0, 0, 0, 0, 0, 0, 0]),
    ("other_misc", "3.其他", [0, 0, 0, 0, 0, 0, 0]),
    ("handled_total", "（七）总计", [45, 6, 1, 0, 2, 3, 57]),
    ("carried_forward", "四、结转下年度继续办理", [0, 1, 0, 0, 0, 0, 1]),
]
APPS = {code: dict(zip(APPLICANT_COLS, vals)) for code, _label, vals in APP_ROWS}

PROCEEDINGS = ["review", "litigation_direct", "litigation_after_review"]
OUTCOMES = ["upheld", "corrected", "other", "pending", "total"]
REVIEW_VALUES = [3, 1, 0, 1, 5, 2, 0, 1, 0, 3, 1, 0, 0, 1, 2]
REVIEWS = {(PROCEEDINGS[j // 5], OUTCOMES[j % 5]): v for j, v in enumerate(REVIEW_VALUES)}

# section 二 of the 2021 layout: (item, label, values)
DISC_ROWS = [
    ("regulations", "规章", [2, 1, 14]),
    ("normative_documents", "规范性文件", [7, 3, 52]),
    ("licensing", "行政许可", [1264]),
    ("penalty", "行政处罚", [386]),
    ("coercion", "行政强制", [12]),
]
FEES = 35.6  # 万元

TITLE = "某县人民政府2021年政府信息公开工作年度报告"
INTRO = (
    "本报告由某县人民政府办公室根据《中华人民共和国政府信息公开条例》编制。\n"
    "一、总体情况\n"
    "2021年，某县人民政府认真贯彻落实政府信息公开工作要求。\n"
)


def _row(label: str, vals, shape: str) -> str:
    if shape == "pipe":
        return "| " + " | ".join([label, *map(str, vals)]) + " |\n"
    return label + "\n" + "".join(f"{v}\n" for v in vals)


def section2(shape: str = "pipe") -> str:
    out = "二、主动公开政府信息情况\n"
    out += _row("第二十条第（一）项", [], shape)
    out += _row("信息内容", ["本年制发件数", "本年废止件数", "现行有效件数"], shape)
    out += "".join(_row(label, vals, shape) for code, label, vals in DISC_ROWS[:2])
    out += _row("第二十条第（五）项", [], shape)
    out += _row("信息内容", ["本年处理决定数量"], shape)
    out += _row(DISC_ROWS[2][1], DISC_ROWS[2][2], shape)
    out += _row("第二十条第（六）项", [], shape)
    out += _row("信息内容", ["本年处理决定数量"], shape)
    out += "".join(_row(label, vals, shape) for code, label, vals in DISC_ROWS[3:])
    out += _row("第二十条第（八）项", [], shape)
    out += _row("信息内容", ["本年收费金额（单位：万元）"], shape)
    out += _row("行政事业性收费", [FEES], shape)
    return out


def section3(shape: str = "pipe", rows=None) -> str:
    out = "三、收到和处理政府信息公开申请情况\n"
    out += _row("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）",
                ["申请人情况"], shape)
    out += _row("", ["自然人", "法人或其他组织", "", "", "", "", "总计"], shape)
    out += _row("", ["", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", ""], shape)
    for code, label, vals in rows or APP_ROWS:
        if code == "granted":
            out += _row("三、本年度办理结果", [], shape)
        if code == "withheld_state_secret":
            out += _row("（三）不予公开", [], shape)
        if code == "unavailable_not_held":
            out += _row("（四）无法提供", [], shape)
        if code == "rejected_petition":
            out += _row("（五）不予处理", [], shape)
        if code == "other_no_correction":
            out += _row("（六）其他处理", [], shape)
        out += _row(label, vals, shape)
    return out


def section4(shape: str = "pipe", values=None) -> str:
    vals = REVIEW_VALUES if values is None else values
    out = "四、政府信息公开行政复议、行政诉讼情况\n"
    out += _row("行政复议", ["", "", "", "", "行政诉讼"], shape)
    out += _row("结果维持", ["结果纠正", "其他结果", "尚未审结", "总计", "未经复议直接起诉", "复议后起诉"], shape)
    out += _row("结果维持", ["结果纠正", "其他结果", "尚未审结", "总计"] * 2, shape)
    if shape == "pipe":
        out += "| " + " | ".join(map(str, vals)) + " |\n"
    else:
        out += "".join(f"{v}\n" for v in vals)
    return out


OUTRO = ("五、存在的主要问题及改进情况\n"
         "2022年，我县将进一步加强政府信息公开工作。\n"
         "六、其他需要报告的事项\n本机关未收取信息处理费。\n")


def report(shape: str = "pipe", intro: str = INTRO, rows=None, reviews=None) -> str:
    return TITLE + "\n" + intro + section2(shape) + section3(shape, rows) + section4(shape, reviews) + OUTRO
