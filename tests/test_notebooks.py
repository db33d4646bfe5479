"""Each notebook executes under papermill on the five seed reports (the top-level files of
data/raw, parsed into a temporary folder once per module) and its key figures are asserted;
the start-here notebook also runs on the committed data/processed (seeds and the shipped
corpus, with non-zero applications).

The notebooks print their key figures as one JSON line (gxlib.plotting.record_figures);
gxlib.render.read_figures reads them back from the executed notebook.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import gxlib
from gxlib import render
from gxlib.store import write

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    seeds = tmp_path_factory.mktemp("seeds")
    for path in sorted((REPO / "data" / "raw").glob("0*.txt")):  # not data/raw/corpus
        shutil.copy(path, seeds / path.name)
    out = tmp_path_factory.mktemp("processed")
    write(gxlib.parse_dir(seeds, jobs=1, progress=False), out)
    return out


@pytest.fixture(scope="module")
def grid_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("grid")


@pytest.fixture(scope="module")
def runs(processed, grid_out) -> dict[str, render.Result]:
    """Every notebook once with its defaults, plus two edge cases, on two processes."""
    folder = grid_out
    lines = ["defaults: {lang: zh}", "reports:"]
    for nb in NOTEBOOKS:
        lines += [f"  - notebook: {nb.as_posix()}", f"    name: {nb.stem}"]
    # an empty selection and English labels: the notebook must still run to the end
    lines += [f"  - notebook: {(REPO / 'notebooks' / '03_applications.ipynb').as_posix()}",
              "    name: empty_en", "    parameters: {lang: en, year_from: 2090}"]
    lines += [f"  - notebook: {(REPO / 'notebooks' / '05_agency_profile.ipynb').as_posix()}",
              "    name: unknown_agency", "    parameters: {agency: 不存在的机关}"]
    config = folder / "grid.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = render.render_grid(config, processed, folder / "reports", jobs=2,
                                 log=lambda *_: None)
    return {r.job.name: r for r in results}


def test_the_notebooks_exist():
    assert [nb.stem[:2] for nb in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("name", [nb.stem for nb in NOTEBOOKS] + ["empty_en", "unknown_agency"])
def test_notebook_runs_to_the_end(runs, name):
    res = runs[name]
    assert res.status == "ok", res.error
    assert res.figures, "the notebook recorded no key figures"
    assert res.html


def test_zero_application_rate_is_five_of_five(runs):
    f = runs["01_zero_applications"].figures
    assert (f["zero_application_numerator"], f["zero_application_denominator"]) == (5, 5)
    assert f["zero_application_rate"] == 1.0 and f["n_excluded"] == 0
    assert f["zero_application_strict_rate"] == 1.0


def test_procurement_matches_the_tidy_table(runs, processed):
    t = gxlib.load(processed)
    layout = t.reports["template"].astype("str") == "2019"
    ids = t.reports.loc[layout, "report_id"]
    own = t.reports.loc[layout & (t.reports["scope"].astype("str") == "own"), "report_id"]
    d = t.disclosure
    amount = d[(d["item"] == "procurement") & (d["measure"] == "amount")]
    f = runs["02_procurement"].figures
    assert f["scope"] == "own" and f["n_reports_2019_layout"] == len(ids)
    # the amounts of the own reports only; the others are counted apart, never added in
    assert f["n_procurement_reports"] == len(amount[amount["report_id"].isin(own)]["value"].dropna())
    assert f["n_procurement_reports_other_scope"] == len(ids) - len(own) > 0
    assert f["procurement_amount_total"] == pytest.approx(float(amount[amount["report_id"].isin(own)]["value"].sum()))


def test_applications_without_requests(runs):
    f = runs["03_applications"].figures
    # scope own: 3 seeds are own by rule, 2 say nothing on whose applications they count
    # (unknown): shown apart, never added in
    assert f["scope"] == "own" and f["n_reports_other_scope"] == 2
    assert f["applications_new_total"] == 0 and f["n_reports_with_section3"] == 3
    assert f["substantive_disclosure_denominator"] == 0
    assert f["substantive_disclosure_rate"] is None       # 0/0 is undefined, not 0


def test_reviews(runs):
    f = runs["04_review_litigation"].figures
    assert f["reviews_total"] == 0 and f["review_correction_rate"] is None
    assert f["scope"] == "own" and f["n_reports_other_scope"] == 2     # as 03: the seeds of unknown scope


def test_agency_profile_picks_an_agency(runs, processed):
    from gxlib import agencies

    f = runs["05_agency_profile"].figures
    ids = set(agencies.assign(gxlib.load(processed).reports).dropna())
    assert f["agency"] in ids and f["n_reports"] >= 1      # keyed on agency_id, not a name
    assert runs["unknown_agency"].figures["n_reports"] == 0


def test_data_quality(runs, processed):
    t = gxlib.load(processed)
    f = runs["06_data_quality"].figures
    assert f["n_reports"] == 5 == f["n_ok"] + f["n_partial"] + f["n_failed"]
    assert f["n_checks"] == len(t.checks)
    assert f["n_na_cells"] == sum(int(getattr(t, n)["value"].isna().sum())
                                  for n in ("disclosure", "applications", "reviews"))


def test_start_here_on_the_seeds(runs):
    f = runs["00_start_here"].figures
    assert f["n_reports"] == f["n_selected"] == f["duckdb_reports"] == 5
    assert f["duckdb_new_applications_own"] == f["duckdb_new_applications_unknown"] == 0
    assert f["granted_rate"] is None      # no application handled: 0/0 is undefined, not 0


def test_start_here_on_the_committed_corpus(tmp_path):
    """00_start_here on data/processed filtered to 福建省: its figures are those of the
    library and of the tables, with real (non-zero) applications."""
    import papermill

    from gxlib import metrics as gm

    data = REPO / "data" / "processed"
    out = tmp_path / "00.ipynb"
    papermill.execute_notebook(str(REPO / "notebooks" / "00_start_here.ipynb"), str(out),
                               parameters={"data_dir": str(data), "province": "福建省",
                                           "year_from": 2020},
                               kernel_name="python3", cwd=str(REPO / "notebooks"),
                               progress_bar=False)
    f = render.read_figures(out)
    t = gxlib.load(data)
    sel = gm.select(t, province="福建省", year_from=2020)
    assert f["n_reports"] == len(t.reports) and f["n_selected"] == len(sel.reports) > 50
    a = sel.applications
    new = a[(a["row"] == "new") & (a["applicant"] == "total")]["value"].dropna()
    assert f["duckdb_reports"] == len(sel.reports)
    scope = sel.reports.set_index("report_id")["scope"].astype("str").fillna("unknown").replace("", "unknown")
    by_scope = new.groupby(a.loc[new.index, "report_id"].astype("str").map(scope)).sum()
    for sc in ("own", "area", "unknown"):     # one row per scope in the query, never added
        assert f[f"duckdb_new_applications_{sc}"] == pytest.approx(float(by_scope.get(sc, 0.0))), sc
    assert by_scope["own"] > 0 and by_scope["area"] > 0
    g = gm.rates(sel, ["granted_rate"], by="year").dropna(subset=["value"]).iloc[-1]
    assert f["granted_rate_last_year"] == g["year"]
    assert (f["granted_rate"], f["granted_rate_ci_low"], f["granted_rate_ci_high"]) == pytest.approx(
        (g["value"], g["ci_low"], g["ci_high"]))
    assert 0 < f["granted_rate"] < 1 and f["n_checks"] == len(sel.checks) > 0


def test_empty_selection(runs):
    assert runs["empty_en"].figures["n_reports"] == 0


def test_html_has_figures_and_no_code(runs, grid_out):
    for name in [nb.stem for nb in NOTEBOOKS]:
        page = (grid_out / "reports" / runs[name].html).read_text(encoding="utf-8")
        assert "<img" in page, name                     # the charts are there
        assert "gm.rates" not in page and "gxlib.load" not in page, name  # code hidden
        assert "GXLIB-KEY-FIGURES" not in page, name    # the figures cell is removed


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert sum("parameters" in t for t in tags) == 1, path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
                assert "def " not in cell.source, f"{path.name}: functions belong in gxlib"


def test_parameters_are_typed_and_commented():
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        lines = [ln for ln in cell.source.splitlines() if ln and not ln.startswith("#")]
        for ln in lines:
            assert ": " in ln.split("=")[0] and "#" in ln, f"{path.name}: {ln}"
        names = {ln.split(":")[0] for ln in lines}
        assert {"data_dir", "year_from", "year_to", "province", "prefecture", "level",
                "lang"} <= names


def test_seed_table_shapes(processed):
    """Guard for the fixture: five seed reports, all with a section 三 table."""
    t = gxlib.load(processed)
    assert len(t.reports) == 5
    assert t.applications["report_id"].nunique() == 5
    assert isinstance(t.applications["row"].dtype, pd.CategoricalDtype)
