"""The notebook runner (`make run`): parameters, notebook selection, the metrics files and
interrupted runs.

Most tests replace papermill by a fake ``execute`` over toy notebooks (no kernel, fast);
one runs a toy notebook through papermill for real.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import nbformat
import pytest

from recsae.course import reporting, runner

ROOT = Path(__file__).resolve().parent.parent


def write_notebook(path: Path, parameters: str, *body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata.tags = ["parameters"]
    nb.cells = [cell, *(nbformat.v4.new_code_cell(source) for source in body)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Two toy notebooks in place of notebooks/, no download, and a fake papermill that
    records its calls; ``toy.behaviour[stem]`` makes one "fail" or be "interrupted"."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_a.ipynb", "x = 1  # shared\nepochs = 200  # training length",
                   "print(x)")
    write_notebook(folder / "02_b.ipynb", "x = 1  # shared\nuser = 3  # whose list",
                   "print(user)", "print('end')")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(runner.download, "fetch", lambda *args, **kwargs: None)
    monkeypatch.setattr(runner, "pin_cpu_env", lambda: {})

    class Toy:
        out = tmp_path / "build"
        calls: dict[str, dict] = {}
        behaviour: dict[str, str] = {}

    def fake_execute(notebook, output, parameters, metrics_path):
        Toy.calls[notebook.stem] = dict(parameters)
        nb = nbformat.read(notebook, as_version=4)
        nbformat.write(nb, output)  # papermill writes the output as it goes
        what = Toy.behaviour.get(notebook.stem)
        if what == "interrupted":
            raise KeyboardInterrupt
        if what == "fail":
            raise RuntimeError("cell 2 raised")
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps({"n": len(notebook.stem), **parameters}))
        return 1.25

    monkeypatch.setattr(runner, "execute", fake_execute)
    return Toy


def read(path: Path) -> dict:
    return json.loads(path.read_text())


# 1. parameters -----------------------------------------------------------------------------

def test_notebook_parameters_from_the_parameters_cell(toy):
    assert runner.notebook_parameters(runner.NOTEBOOK_DIR / "01_a.ipynb") == {
        "x": "1", "epochs": "200"}


def test_a_misspelt_parameter_is_refused_before_running(toy, capsys):
    assert runner.main(["run", "-p", "epoch", "5", "--output-dir", str(toy.out)]) == 2
    err = capsys.readouterr().err
    assert "Unknown parameter 'epoch'" in err and "did you mean 'epochs'?" in err
    assert "01_a: x=1, epochs=200" in err and "02_b: x=1, user=3" in err
    assert toy.calls == {} and not (toy.out / "metrics.json").exists()


def test_a_parameter_goes_only_to_the_notebooks_that_define_it(toy, capsys):
    args = ["run", "-p", "epochs", "5", "-p", "x", "2", "--output-dir", str(toy.out)]
    assert runner.main(args) == 0
    assert toy.calls == {"01_a": {"epochs": 5, "x": 2}, "02_b": {"x": 2}}
    assert "'epochs' is passed only to 01_a" in capsys.readouterr().out


def test_a_parameter_of_an_unselected_notebook_is_refused(toy, capsys):
    assert runner.main(["run", "02", "-p", "epochs", "5", "--output-dir", str(toy.out)]) == 2
    assert "02_b: x=1, user=3" in capsys.readouterr().err
    assert toy.calls == {}


@pytest.mark.parametrize("notebook", runner.list_notebooks(folder=ROOT / "notebooks"),
                         ids=lambda p: p.stem)
def test_committed_parameters_cells_parse_cleanly_for_papermill(notebook, caplog):
    """papermill infers parameters line by line and skips (with a warning) any line with a
    second ``=``, as in a comment ``# None = ...``: every parameter must parse."""
    import papermill

    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = papermill.inspect_notebook(str(notebook))
    assert [r.getMessage() for r in caplog.records] == []
    assert list(inferred) == list(runner.notebook_parameters(notebook))


# 2. the metrics files ----------------------------------------------------------------------

def test_a_truncated_metrics_file_is_refused_not_emptied(toy, capsys):
    toy.out.mkdir()
    truncated = '{\n  "05_experiment_table": {\n    "as_publ'
    (toy.out / "metrics.json").write_text(truncated)
    assert runner.main(["run", "01", "--output-dir", str(toy.out)]) == 2
    err = capsys.readouterr().err
    assert str(toy.out / "metrics.json") in err and "Delete it or fix it" in err
    assert (toy.out / "metrics.json").read_text() == truncated
    assert toy.calls == {}


def test_record_metrics_refuses_to_merge_into_a_broken_file(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text("[1, 2")
    monkeypatch.setenv(reporting.METRICS_PATH_ENV, str(path))
    with pytest.raises(reporting.MetricsFileError, match="m.json"):
        reporting.record_metrics({"a": 1.0}, echo=False)
    assert path.read_text() == "[1, 2"


def test_write_text_atomic_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_text('{"old": 1}')

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(reporting.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        reporting.write_text_atomic(path, '{"new": 2}')
    assert path.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left


def test_write_text_atomic_respects_the_umask_and_existing_modes(tmp_path):
    old = os.umask(0o027)
    try:
        reporting.write_text_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    existing.chmod(0o604)
    reporting.write_text_atomic(existing, '{"a": 1}')
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604
    assert read(existing) == {"a": 1}


def test_partial_run_keeps_the_other_notebooks_results(toy):
    toy.out.mkdir()
    (toy.out / "metrics.json").write_text('{"99_other": {"x": 1}}')
    (toy.out / "timings.json").write_text('{"99_other": 5.0}')
    assert runner.main(["run", "01", "--output-dir", str(toy.out)]) == 0
    assert read(toy.out / "metrics.json") == {"01_a": {"n": 4}, "99_other": {"x": 1}}
    assert read(toy.out / "timings.json") == {"01_a": 1.2, "99_other": 5.0}
    assert "## 99_other" in (toy.out / "metrics.md").read_text()


def test_a_complete_run_drops_notebooks_that_no_longer_exist(toy):
    toy.out.mkdir()
    (toy.out / "metrics.json").write_text('{"99_gone": {"x": 1}}')
    assert runner.main(["run", "--output-dir", str(toy.out)]) == 0
    assert set(read(toy.out / "metrics.json")) == {"01_a", "02_b"}
    assert set(read(toy.out / "timings.json")) == {"01_a", "02_b"}


# 3. a run that fails part-way --------------------------------------------------------------

def test_a_failed_run_records_the_notebooks_that_completed(toy, capsys):
    toy.out.mkdir()
    (toy.out / "metrics.json").write_text('{"02_b": {"n": 0}, "99_other": {"x": 1}}')
    toy.behaviour["02_b"] = "fail"
    assert runner.main(["run", "--output-dir", str(toy.out)]) == 1
    # 01_a is recorded; the others keep their last results (02_b's did not change).
    assert read(toy.out / "metrics.json") == {"01_a": {"n": 4}, "02_b": {"n": 0},
                                              "99_other": {"x": 1}}
    assert read(toy.out / "timings.json") == {"01_a": 1.2}
    err = capsys.readouterr().err
    assert "[02_b] FAILED: cell 2 raised" in err and "metrics of 01_a are recorded" in err


# 4. Ctrl-C ---------------------------------------------------------------------------------

def test_an_interrupted_notebook_is_marked_and_the_exit_code_says_so(toy, capsys):
    stale = toy.out / "notebooks" / "02_b.ipynb"  # a finished earlier run's output
    stale.parent.mkdir(parents=True)
    write_notebook(stale, "x = 1", "print('finished')")
    toy.behaviour["02_b"] = "interrupted"
    assert runner.main(["run", "--output-dir", str(toy.out)]) == runner.INTERRUPTED_EXIT_CODE
    marked = toy.out / "notebooks" / "02_b.interrupted.ipynb"
    assert not stale.exists() and marked.is_file()
    nb = nbformat.read(marked, as_version=4)
    assert nb.metadata.recsae["interrupted"] is True
    assert nb.cells[0].cell_type == "markdown" and "INTERRUPTED" in nb.cells[0].source
    assert read(toy.out / "metrics.json") == {"01_a": {"n": 4}}
    err = capsys.readouterr().err
    assert "[02_b] INTERRUPTED" in err and str(marked) in err
    # The next run replaces the marked notebook by a real output.
    toy.behaviour.clear()
    assert runner.main(["run", "02", "--output-dir", str(toy.out)]) == 0
    assert not marked.exists() and stale.is_file()


def test_an_interrupted_refresh_marks_the_notebook_in_place(toy):
    toy.behaviour["01_a"] = "interrupted"
    assert runner.main(["refresh", "01", "--output-dir", str(toy.out)]) == 130
    nb = nbformat.read(runner.NOTEBOOK_DIR / "01_a.ipynb", as_version=4)
    assert nb.metadata.recsae["interrupted"] is True


# 5. notebook names -------------------------------------------------------------------------

@pytest.mark.parametrize("names", [["9"], ["01", "03"]])
def test_an_unknown_notebook_name_lists_the_available_ones(toy, capsys, names):
    assert runner.main(["run", *names, "--output-dir", str(toy.out)]) == 2
    err = capsys.readouterr().err
    assert f"matches '{names[-1]}'" in err and "Available: 01_a, 02_b." in err
    assert toy.calls == {}


def test_list_notebooks_raises_a_usage_error(toy):
    with pytest.raises(runner.UsageError, match="Available: 01_a, 02_b"):
        runner.list_notebooks(["7"])


# The kernel's transport ----------------------------------------------------------------------

def test_kernels_get_curve_encryption_where_libzmq_has_it():
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    config = runner._kernel_config()
    if not zmq.has("curve"):
        pytest.skip("libzmq without CurveZMQ: the kernel manager keeps its default")
    assert AsyncKernelManager(config=config).transport_encryption == "auto"


@pytest.mark.notebooks
def test_a_real_run_of_a_toy_notebook(tmp_path, monkeypatch, capfd):
    """Through papermill and a python3 kernel: parameters, metrics, and no "Kernel is running
    over TCP without encryption" from the kernel."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_toy.ipynb", "x = 1  # a value",
                   "from recsae.course.reporting import record_metrics\n"
                   "record_metrics({'twice_x': 2 * x})")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setattr(runner.download, "fetch", lambda *args, **kwargs: None)
    assert runner.main(["run", "-p", "x", "21", "--output-dir", str(tmp_path / "build")]) == 0
    assert read(tmp_path / "build" / "metrics.json") == {"01_toy": {"twice_x": 42}}
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
