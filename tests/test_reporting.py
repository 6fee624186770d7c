"""record_metrics is silent in the notebook and carries the metrics in an invisible output."""

from __future__ import annotations

import json

import pytest

from recsae.course import reporting


def test_record_metrics_prints_nothing_and_writes_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "m.json"
    monkeypatch.setenv(reporting.METRICS_PATH_ENV, str(path))
    reporting.record_metrics({"a.rmse": 0.123456, "n": 3})
    assert capsys.readouterr().out == ""
    assert json.loads(path.read_text()) == {"a.rmse": 0.123, "n": 3}


def test_record_metrics_output_in_a_kernel_is_invisible_but_carries_the_values():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from recsae.course.reporting import record_metrics\n"
        "record_metrics({'x.rmse': 0.98765, 'count': 7})"))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    (output,) = nb.cells[0].outputs
    assert output.output_type == "display_data"
    assert output.data["text/plain"] == ""
    assert output.data[reporting.METRICS_MIMETYPE] == {"x.rmse": 0.988, "count": 7}
