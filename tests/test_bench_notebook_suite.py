"""``bench/notebook_suite.py``: the "Notebook suite" section of docs/benchmarks.md (no wall
times asserted: only how a measurement is rendered and put in place)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("notebook_suite", ROOT / "bench" / "notebook_suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

RESULT = {"source": "a test", "date": "2026-01-01 00:00 UTC", "commit": "abc", "cpu": "a CPU",
          "usable_cores": 2, "load_average_start": [0.1, 0.2, 0.3],
          "load_average_end": [1.9, 1.0, 0.5],
          "per_notebook_seconds": {"02_b": 200.0, "01_a": 10.0}}


def test_section_lists_every_notebook_the_total_and_the_targets():
    text = "\n".join(suite.section_lines(RESULT))
    assert text.index("`01_a` | 10.0") < text.index("`02_b` | 200.0")  # in notebook order
    assert "**210.0**" in text and "[0.1, 0.2, 0.3]" in text and "[1.9, 1.0, 0.5]" in text
    assert "under 8 minutes (met)" in text and "not met: 02_b" in text


def test_replace_section_keeps_the_other_sections():
    doc = "# B\n\n## A\n\nold a\n\n## Notebook suite\n\nold\n\n## GPU\n\ngpu\n"
    new = suite.replace_section(doc, ["new body", ""])
    assert new == "# B\n\n## A\n\nold a\n\n## Notebook suite\n\nnew body\n\n## GPU\n\ngpu\n"
    assert suite.replace_section("# B\n", ["x"]).endswith("## Notebook suite\n\nx")


def test_timings_mode_writes_json_and_section(tmp_path):
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"01_a": 1.5}))
    (tmp_path / "benchmarks.md").write_text("# B\n\n## Notebook suite\n\nold\n\n## GPU\n\ng\n")
    assert suite.main(["--timings", str(timings), "--output", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / suite.RESULT_NAME).read_text())
    assert saved["per_notebook_seconds"] == {"01_a": 1.5}
    report = (tmp_path / "benchmarks.md").read_text()
    assert "| `01_a` | 1.5 |" in report and "old" not in report and report.endswith("## GPU\n\ng\n")


def test_children_cpu_seconds_counts_a_finished_child():
    import subprocess
    import sys

    before = suite._children_cpu_seconds()
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)
    assert suite._children_cpu_seconds() > before


def test_section_shows_cpu_seconds_when_measured():
    text = "\n".join(suite.section_lines({**RESULT, "per_notebook_cpu_seconds":
                                          {"01_a": 9.0, "02_b": 350.0}}))
    assert "| `02_b` | 200.0 | 3.3 | 350.0 |" in text and "**359.0**" in text
