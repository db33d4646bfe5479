"""Batch rendering: grid expansion, a deliberately failing notebook that does not stop the
others, and HTML escaping of values taken from data (a malicious agency name)."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from gxlib import render
import contract_frames as cf  # tests/ is on sys.path (pytest rootdir-relative import)

REPO = Path(__file__).resolve().parents[1]
EVIL_AGENCY = '<script>alert("agency")</script>局'
EVIL_PROVINCE = "<img src=x onerror=alert(1)>省"
FAILING_MESSAGE = "boom <b>not bold</b>"


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """Two zero-application reports: one from an agency whose name is an XSS attempt."""
    reps = [cf.report("e1", EVIL_AGENCY, 2021, "2021", province=EVIL_PROVINCE),
            cf.report("e2", "正常局", 2022, "2021", province="福建省")]
    apps = cf.full_section3("e1") + cf.full_section3("e2")
    t = cf.tables(reps, [], apps, cf.review_rows("e1") + cf.review_rows("e2"))
    return cf.write_processed(t, tmp_path_factory.mktemp("evil") / "processed")


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("grid")
    bad = new_notebook(cells=[
        new_code_cell('lang: str = "zh"  # label language', metadata={"tags": ["parameters"]}),
        new_code_cell(f"raise RuntimeError({FAILING_MESSAGE!r})"),
    ])
    bad.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}
    nbformat.write(bad, folder / "fails.ipynb")
    profile = (REPO / "notebooks" / "05_agency_profile.ipynb").as_posix()
    (folder / "grid.yml").write_text(f"""
defaults:
  lang: zh
reports:
  - notebook: fails.ipynb
    title: 故意失败 / fails on purpose
  - notebook: {profile}
    title: 机关概况
    for_each: agency
""", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rendered(grid, processed):
    out = grid / "reports"
    results = render.render_grid(grid / "grid.yml", processed, out, jobs=2, log=lambda *_: None)
    return out, results


def test_load_grid_expands_for_each(grid, processed):
    jobs = render.load_grid(grid / "grid.yml", processed, {"lang": "en"})
    assert [j.title for j in jobs] == ["故意失败 / fails on purpose",
                                       f"机关概况 · {EVIL_AGENCY}", "机关概况 · 正常局"]
    assert jobs[1].parameters["agency"] == EVIL_AGENCY
    assert all(j.parameters["lang"] == "en" for j in jobs)          # override wins
    assert all(Path(j.parameters["data_dir"]).is_absolute() for j in jobs)
    for j in jobs:
        assert re.fullmatch(r"[\w\-]+", j.name), j.name                # safe file names


def test_repo_grid_lists_every_notebook(tmp_path):
    from gxlib import agencies as ga

    t = cf.seed_like()
    codes = {"濉溪县公共资源交易中心": "340621", "市公共资源交易中心": "411700"}   # the seeds' own codes
    t.reports = t.reports.assign(division_code=t.reports["agency"].map(codes).fillna(t.reports["division_code"])
                                 .astype("str"))
    t.reports = t.reports.assign(agency_id=ga.assign(t.reports))   # as gx parse writes it
    data = cf.write_processed(t, tmp_path / "p")
    jobs = render.load_grid(REPO / "notebooks" / "render.yml", data)
    stems = {Path(j.notebook).stem for j in jobs}
    assert {p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")} <= stems
    # the profiles run per agency_id (reports of unknown place have none, so no profile)
    profiles = {j.parameters.get("agency") for j in jobs if "agency" in j.parameters}
    assert profiles == set(t.reports["agency_id"].dropna()) and profiles
    provinces = {j.parameters.get("province") for j in jobs} - {None}
    assert provinces == set(t.reports["province"]) - {""}


def test_slug_is_collision_resistant():
    assert render.slug("a/b") != render.slug("a_b")
    assert re.fullmatch(r"[\w\-]+", render.slug("../../etc/passwd"))


def test_failing_notebook_does_not_stop_the_others(rendered):
    out, results = rendered
    status = {r.job.title: r.status for r in results}
    assert status["故意失败 / fails on purpose"] == "failed"
    assert status[f"机关概况 · {EVIL_AGENCY}"] == "ok"
    assert status["机关概况 · 正常局"] == "ok"
    failed = next(r for r in results if r.status == "failed")
    assert "RuntimeError" in failed.error and "boom" in failed.error
    assert (out / failed.executed).is_file()                       # kept for debugging
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="failed"' in index
    assert "boom &lt;b&gt;not bold&lt;/b&gt;" in index              # error shown, escaped
    records = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in records] == [r.status for r in results]


def test_every_html_output_escapes_data_values(rendered):
    out, results = rendered
    pages = [out / "index.html"] + sorted((out / "html").glob("*.html"))
    assert len(pages) == 1 + len(results)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert '<script>alert("agency")' not in text, page.name
        assert "<img src=x onerror" not in text, page.name
        assert "<b>not bold</b>" not in text, page.name
    evil = next(r for r in results if r.job.parameters.get("agency") == EVIL_AGENCY)
    page = (out / evil.html).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in page                           # shown, as text
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in index
    assert evil.figures["agency"] == EVIL_AGENCY and evil.figures["n_reports"] == 1


def test_cli_exit_codes(grid, processed, tmp_path):
    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    base = ["--config", str(grid / "grid.yml"), "--data", str(processed),
            "--out", str(tmp_path / "r"), "--jobs", "1", "--only", "fails"]
    assert render.run(parser.parse_args(base)) == 1
    assert render.run(parser.parse_args(base + ["--allow-failures"])) == 0
    assert render.run(parser.parse_args(base[:3] + [str(tmp_path / "nowhere")] + base[4:])) == 2
    assert render.run(parser.parse_args(base[:-1] + ["no-such-entry"])) == 2


def _agency_grid(folder: Path, limit: int) -> Path:
    profile = (REPO / "notebooks" / "05_agency_profile.ipynb").as_posix()
    config = folder / "limit.yml"
    config.write_text(f"""
reports:
  - notebook: {profile}
    title: 机关概况
    for_each: agency
    limit: {limit}
""", encoding="utf-8")
    return config


def test_for_each_limit_keeps_the_values_with_most_reports(tmp_path):
    reps = ([cf.report(f"a{i}", "多局", 2019 + i, "2021") for i in range(3)]
            + [cf.report("b1", "少局", 2020, "2021"), cf.report("c1", "中局", 2020, "2021"),
               cf.report("c2", "中局", 2021, "2021"), cf.report("d1", EVIL_AGENCY, 2020)])
    data = cf.write_processed(cf.tables(reps), tmp_path / "p")
    config = _agency_grid(tmp_path, 2)
    jobs, omitted = render.expand_grid(config, data)
    assert sorted(j.parameters["agency"] for j in jobs) == ["中局", "多局"]
    assert [(o.column, o.shown, o.total) for o in omitted] == [("agency", 2, 4)]
    # any single value can still be asked for: --only (before the limit) or -p agency=...
    assert [j.parameters["agency"] for j in render.load_grid(config, data, only="少局")] == ["少局"]
    one = render.load_grid(config, data, {"agency": "少局"})
    assert [j.parameters["agency"] for j in one] == ["少局"]
    assert render.expand_grid(config, data, only="少局")[1] == []
    # the index says what was left out and how to render it, escaped
    page = render.write_index([], tmp_path / "out", config=config, data_dir=data,
                              omitted=omitted)
    text = page.read_text(encoding="utf-8")
    assert "2 of 4 values rendered" in text and "--only" in text
    assert json.loads((tmp_path / "out" / "index-omitted.json").read_text())[0]["total"] == 4
    assert render.expand_grid(_agency_grid(tmp_path, 10), data)[1] == []


def test_reused_kernel_starts_every_notebook_clean(tmp_path, processed):
    """Workers reuse their kernel: nothing a notebook defines may reach the next one."""
    folder = tmp_path / "nb"
    folder.mkdir()
    for name, code in (("a_sets", "leak = 1\nimport os\nos.chdir('/')"),
                       ("b_checks", "import os\nassert 'leak' not in dir(), 'state leaked'\n"
                                    f"assert os.getcwd() == {str(folder)!r}, os.getcwd()")):
        nb = new_notebook(cells=[new_code_cell('lang: str = "zh"  # label language',
                                               metadata={"tags": ["parameters"]}),
                                 new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "grid.yml").write_text("reports:\n  - notebook: a_sets.ipynb\n"
                                     "  - notebook: b_checks.ipynb\n", encoding="utf-8")
    results = render.render_grid(folder / "grid.yml", processed, tmp_path / "out", jobs=1,
                                 log=lambda *_: None)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    executed = nbformat.read(tmp_path / "out" / results[1].executed, as_version=4)
    assert executed.cells[1].metadata["tags"] == ["injected-parameters"]   # papermill's record


def test_reused_kernel_prints_nothing_of_its_own(tmp_path, processed):
    """The kernel's own machinery stays out of the reports: its input history refused the
    execution count restarting at 1 in each notebook ("ERROR! Session/line number was not
    unique in database"), and that line landed in the page. A displayed result is not
    kept in ``Out`` for the next notebook."""
    folder = tmp_path / "nb"
    folder.mkdir()
    names = [f"n{i}" for i in range(3)]
    for name in names:
        nb = new_notebook(cells=[new_code_cell('lang: str = "zh"  # label language',
                                               metadata={"tags": ["parameters"]}),
                                 new_code_cell("import time\ntime.sleep(0.3)"),  # the history thread writes
                                 new_code_cell("x = 1\nx"), new_code_cell("print('done')"),
                                 new_code_cell("len(Out)")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "grid.yml").write_text("reports:\n" + "".join(f"  - notebook: {n}.ipynb\n" for n in names),
                                     encoding="utf-8")
    results = render.render_grid(folder / "grid.yml", processed, tmp_path / "out", jobs=1,
                                 log=lambda *_: None)
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    for r in results:
        executed = nbformat.read(tmp_path / "out" / r.executed, as_version=4)
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        texts = [o.get("text") or o.get("data", {}).get("text/plain") for o in outputs]
        assert texts == ["1", "done\n", "0"], texts


def test_key_figures_read_as_people_read_them():
    assert render.figure_value("zero_application_rate", 0.384) == "38.4%"
    assert render.figure_value("granted_rate_ci_high", 0.5) == "50.0%"
    assert render.figure_value("review_correction_rate", None) == "—"      # never "None"
    assert render.figure_value("applications_new_total", 5306.0) == "5,306"
    assert render.figure_value("procurement_amount_total", 398.3675) == "398.4"
    assert render.figure_value("dispute_conversion_rate", 0.25) == "0.25"  # a ratio, not a share
    assert render.figure_value("years", [2019, 2020]) == "2019、2020"
    assert render.figure_label("zero_application_rate") == "零申请率"
    assert render.figure_label("granted_rate_ci_low") == "予以公开率（95%下限）"
    assert render.figure_label("n_reports") == "报告数"


def test_index_groups_by_notebook_with_failures_first(tmp_path):
    ok = render.Result(render.Job("/x/01_zero_applications.ipynb", "a", "零申请率 · 福建省",
                                  {"province": "福建省", "data_dir": "/d"}), html="html/a.html",
                       figures={"zero_application_rate": 0.384, "review_correction_rate": None})
    bad = render.Result(render.Job("/x/05_agency_profile.ipynb", "b", "机关概况 · 某局",
                                   {"agency": "某局"}), status="failed", error="boom")
    page = render.write_index([ok, bad], tmp_path).read_text(encoding="utf-8")
    assert page.index('id="failed"') < page.index('id="01_zero_applications"')
    assert "38.4%" in page and "0.384" not in page and "None" not in page
    assert 'data-province="福建省"' in page and '<option value="某局">' in page
    assert 'id="gx-q"' in page and "<pre>boom</pre>" in page


def test_tables_lose_only_a_meaningless_row_index():
    import pandas as pd

    from gxlib.plotting import _html_table

    df = pd.DataFrame({"省份": ["福建省", "江苏省"], "n": [3, 1]})
    assert "<th>0</th>" not in _html_table(df) and "福建省" in _html_table(df)
    assert "<th>0</th>" not in _html_table(df[df["n"] > 0])            # filtered: still no index
    assert ">2021</th>" in _html_table(pd.DataFrame({"n": [1]}, index=pd.Index([2021], name="year")))


def test_thumbnail_of_the_first_figure(tmp_path):
    import base64
    import io

    import nbformat
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (800, 400), "red").save(buf, "PNG")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", {"image/png": base64.b64encode(buf.getvalue()).decode()})])])
    assert render.thumbnail(nb, tmp_path / "t.png")
    assert Image.open(tmp_path / "t.png").size == (240, 120)
    assert not render.thumbnail(nbformat.v4.new_notebook(), tmp_path / "none.png")
