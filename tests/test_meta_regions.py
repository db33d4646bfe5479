"""Metadata, regions (year-aware, never guessing) and decoding."""
from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gxlib.meta import body_year, extract
from gxlib.readers import ReadError
from gxlib.readers.decode import decode
from gxlib.regions import infer, resolve_code


@pytest.mark.parametrize("agency,year,expected", [
    ("濉溪县公共资源交易中心", 2023, ("安徽省", "淮北市", "濉溪县", "340621", "county")),
    ("共青城市政府办公室", 2023, ("江西省", "九江市", "共青城市", "360482", "county")),
    ("驻马店市公共资源交易中心", 2023, ("河南省", "驻马店市", "", "411700", "prefecture")),
    ("鼓楼区人民政府", 2023, ("", "", "", "", "unknown")),  # four 鼓楼区: never a guess
    ("朝阳区财政局", 2023, ("", "", "", "", "unknown")),
    ("福州市鼓楼区人民政府", 2023, ("福建省", "福州市", "鼓楼区", "350102", "county")),
    ("市场监督管理局", 2023, ("", "", "", "", "unknown")),
    ("上海市人民政府办公厅", 2019, ("上海市", "", "", "310000", "province")),
    ("淮安市洪泽区人民政府", 2024, ("江苏省", "淮安市", "洪泽区", "320813", "county")),
    ("平潭综合实验区农业农村局", 2022, ("福建省", "福州市", "平潭县", "350128", "county")),
])
def test_regions_from_agency(agency, year, expected):
    r = infer(agency, "", year)
    assert (r.province, r.prefecture, r.county, r.division_code, r.level) == expected


def test_region_is_year_aware():
    # 莱芜市 was merged into 济南 in January 2019
    assert infer("莱芜市人民政府", "", 2017).division_code == "371200"
    assert infer("莱芜市人民政府", "", 2020).division_code == ""


def test_region_from_body_only_when_one_place():
    assert infer("市公共资源交易中心", "2024年，圆满完成了驻马店市数字政府演练。", 2024).division_code == "411700"
    assert infer("市公共资源交易中心", "学习了驻马店市和信阳市的经验。", 2024).division_code == ""
    # a 县 agency whose body names only a province: the region stays at the province
    r = infer("县商务局", "按照河南省要求", 2024)
    assert (r.province, r.county, r.level) == ("河南省", "", "county")


def test_manifest_code():
    r = resolve_code("340621", 2020)
    assert (r.province, r.prefecture, r.county, r.level) == ("安徽省", "淮北市", "濉溪县", "county")


@pytest.mark.parametrize("text,expected", [
    ("本报告中使用数据统计期限为2019年1月1日至2019年12月31日。", (2019, "period")),
    ("一、总体情况\n2024年,市公共资源交易中心立足交易工作实际", (2024, "body")),
    ("今年以来，我局…\n2022年，我局将采取以下措施加以改进：", (2021, "body")),
    ("今年以来，我局认真贯彻落实。", (None, "")),
])
def test_body_year(text, expected):
    assert body_year(text) == expected


def test_year_from_publication_date():
    m = extract("发布时间：2021-01-25 11:23\n今年以来，我局认真贯彻落实。")
    assert (m.year, m.year_source, m.published) == (2020, "publication", "2021-01-25")


def test_title_variants():
    m = extract("标题: 自然资源部2024年政府信息公开工作报告\n正文")
    assert (m.agency, m.year) == ("自然资源部", 2024)
    m = extract("平潭综合实验区苏平片区管理局关于报送2020年度政府信息公开工作年度报告\n")
    assert m.agency == "平潭综合实验区苏平片区管理局"


@pytest.mark.parametrize("enc", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_decode_encodings(enc):
    text = "濉溪县公共资源交易中心2020年政府信息公开工作年度报告 一、本年新收政府信息公开申请数量 0"
    got, _ = decode(text.encode(enc))
    assert got == text


def test_decode_truncated_multibyte_tail():
    data = "政府信息公开".encode("utf-8")[:-1]
    assert decode(data)[0] == "政府信息公"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_decode_never_silently_wrong(data):
    try:
        text, enc = decode(data)
    except ReadError:
        return
    assert "\ufffd" not in text or enc.startswith("utf-16")


def _find_title_all_candidates(text, hint=None):
    """find_title before candidates were made lazily and long lines skipped (oracle)."""
    from gxlib.meta import _HEADER_TITLE, _TITLE, _TITLE_YEAR_FIRST
    from gxlib.tables import normalize

    candidates = [normalize(hint)] if hint else []
    candidates += [m.group(1) for m in _HEADER_TITLE.finditer(text[:3000])]
    candidates += [ln.strip() for ln in text[:6000].split("\n") if ln.strip()]
    for c in candidates:
        if "报告" not in c:
            continue
        m = _TITLE.search(c)
        if m is None or not m.group("agency").strip():
            m = _TITLE_YEAR_FIRST.search(c) or m
        if m and len(c) <= 120:
            start = min(m.start("agency") if m.group("agency") else m.start("year"), m.start("year"))
            return c[start:m.end()].strip(), m
    return "", None


_TITLE_PIECES = st.sampled_from([
    "通州区政务服务管理局", "2019", "2020年", "年度", "政府信息公开", "工作", "年度报告", "报告", "\n", " ", "|", "标题：",
    "名称:", "题名 ： ", "关于", "的", "本报告依据《条例》编制", "一、总体情况", "x" * 50, "２０２１", "　"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_TITLE_PIECES, max_size=40).map("".join), st.none() | st.lists(_TITLE_PIECES, max_size=8).map("".join))
@example("说明\n名称：通州区政务服务管理局2019年政府信息公开工作年度报告\n", None)
@example("标题:2020年度政府信息公开工作报告", None)
@example("x\n 题名 ：关于2021年政务公开报告\n", "报告")
def test_find_title_matches_the_eager_version(text, hint):
    from gxlib.meta import find_title

    got, m = find_title(text, hint)
    want, m0 = _find_title_all_candidates(text, hint)
    assert got == want and (m is None) == (m0 is None)
    if m:
        assert m.group(0) == m0.group(0) and m.groupdict() == m0.groupdict()


def _matches_by_automaton(text, year, min_len):
    """regions._matches as it was: an Aho-Corasick scan over every division name (oracle)."""
    import ahocorasick

    from gxlib.regions import _GENERIC, _names

    names = _names(year)
    auto = ahocorasick.Automaton()
    for name in names:
        if name not in _GENERIC:
            auto.add_word(name, name)
    auto.make_automaton()
    found = [(end - len(name) + 1, end + 1, name) for end, name in auto.iter(text) if len(name) >= min_len]
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    out, last = [], -1
    for a, b, s in found:
        if a >= last:
            out.append((a, s, names[s]))
            last = b
    return out


_PLACE_PIECES = st.sampled_from([
    "福建省", "福州市", "鼓楼区", "朝阳区", "平潭县", "市", "区", "县", "省", "州", "旗", "盟", "福州", "鼓楼", "内蒙古自治区",
    "阿拉善盟", "额济纳旗", "延边朝鲜族自治州", "城区", "新区", "市场监督管理局", "我局", "\n", " ", "2020年", "驻马店市", "信阳市"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PLACE_PIECES, max_size=30).map("".join), st.sampled_from([2015, 2019, 2024]), st.sampled_from([2, 3]))
def test_name_matches_equal_the_automaton_scan(text, year, min_len):
    from gxlib.regions import _matches

    assert _matches(text, year, min_len) == _matches_by_automaton(text, year, min_len)


def test_warm_builds_the_years_a_parse_would():
    """A parse worker builds the division tables as it starts; a parse afterwards finds
    them built and gets the same answer."""
    from gxlib import regions, workers

    regions._year_table.cache_clear()
    regions._name_ends.cache_clear()
    workers.warm_worker()
    years = {regions._clamp(y) for y in range(2019, regions.LAST_YEAR + 1)}
    assert regions._name_ends.cache_info().currsize == len(years)
    built = regions._year_table.cache_info().currsize
    assert infer("福州市鼓楼区人民政府", "", 2021).division_code == "350102"
    assert regions._year_table.cache_info().currsize == built
