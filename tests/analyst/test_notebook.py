"""The analyst notebook runs top to bottom (nbclient, the venv's own kernel) on a DuckDB file built
from the crafted data, and on an empty database, so it never rots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

from .analyst_data import clean_dataset, duckdb_pipeline, load
from bsg_campaigns.analyst.models import build_models

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "campaign_metrics.ipynb"
TIMEOUT_S = 120


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """A `python3` kernelspec that runs this interpreter (the venv's), found first on JUPYTER_PATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (bsg venv)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the notebook switches to inline itself
    return "python3"


def execute(kernel_name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=TIMEOUT_S,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def outputs(nb: nbformat.NotebookNode, kind: str):
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if kind == "error" and output.output_type == "error":
                yield output
            elif kind != "error" and kind in output.get("data", {}):
                yield output


def stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "stream"
    )


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # one markdown line of explanation before each plot
    sources = [c.cell_type for c in nb.cells]
    assert sources.count("markdown") >= 5


def test_notebook_runs_on_crafted_data(tmp_path, monkeypatch, venv_kernel):
    pipeline = duckdb_pipeline(tmp_path, "notebook")
    load(pipeline, clean_dataset())
    build_models(pipeline)
    monkeypatch.setenv("BSG_DUCKDB_PATH", str(tmp_path / "notebook.duckdb"))
    monkeypatch.setenv("BSG_DATASET", pipeline.dataset_name)

    nb = execute(venv_kernel)

    assert list(outputs(nb, "error")) == []
    figures = list(outputs(nb, "image/png"))
    assert len(figures) >= 4  # rates by sender, over time, growth curve, cost per delivered
    text = stream_text(nb)
    assert "8 campaigns" in text
    assert "not built" not in text and "no database" not in text


def test_notebook_handles_an_empty_database(tmp_path, monkeypatch, venv_kernel):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    monkeypatch.setenv("BSG_DUCKDB_PATH", str(empty))
    monkeypatch.delenv("BSG_DATASET", raising=False)

    nb = execute(venv_kernel)

    assert list(outputs(nb, "error")) == []
    assert list(outputs(nb, "image/png")) == []
    text = stream_text(nb)
    assert "views not built yet" in text and "0 campaigns" in text
