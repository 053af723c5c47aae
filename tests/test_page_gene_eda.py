"""Gene explorer page under AppTest (tiny dataset)."""
from __future__ import annotations

from pages.common import Keys
from tests.discovery_pages import page


def test_gene_eda_default_gene(tiny_parquet):
    at = page("pages/gene_eda.py", tiny_parquet).run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.title[0].value == "Gene explorer"
    assert at.text_input(key=Keys.GENE).value == "CD69"
    assert len(at.get("vega_lite_chart")) == 3  # box, histogram, heatmap
    assert any("Strongest compounds" in s.value for s in at.subheader)
    assert len(at.dataframe) >= 3


def test_gene_eda_unknown_gene_offers_suggestions(tiny_parquet):
    at = page("pages/gene_eda.py", tiny_parquet, **{Keys.GENE: "cd6999"}).run()
    assert not at.exception
    assert at.error[0].value.startswith("unknown gene: 'cd6999' (did you mean CD69")
    use = [b for b in at.button if b.label == "Use CD69"]
    assert use
    use[0].click().run()
    assert not at.exception and not at.error
    assert at.text_input(key=Keys.GENE).value == "CD69"


def test_gene_eda_lowercase_and_heatmap_errors(tiny_parquet):
    at = page("pages/gene_eda.py", tiny_parquet, **{Keys.GENE: "cd69", Keys.EDA_HEATMAP_GENES: "CD69, QQQQQ"}).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["unknown gene: 'QQQQQ'"]
    at.selectbox(key=Keys.EDA_HEATMAP_CELL_TYPE).select("NK cells").run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 3
