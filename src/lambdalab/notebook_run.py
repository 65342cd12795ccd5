"""Run a lab notebook unattended, with parameters: how the CLI, tests and benchmarks deploy.

The notebooks are the one implementation of each deployment (02 builds the face-blur pipeline,
04 the songs system). Whatever else needs a deployment runs the notebook the learner runs, with
papermill filling in its `parameters` cell (TARGET, PREFIX, ...), so what is taught is what is
tested. The kernel inherits this process's environment: with `AWS_ENDPOINT_URL` set, the local
target in the notebook uses that embedded AWS instead of starting its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdalab.deploy.paths import repo_root

if TYPE_CHECKING:
    import nbformat


class NotebookFailed(RuntimeError):
    """A cell raised: `cell` is its index in the notebook, `error` the exception's one-line form."""

    def __init__(self, notebook: str, cell: int | None, error: str) -> None:
        self.notebook, self.cell, self.error = notebook, cell, error
        where = f"cell [{cell}] of {notebook}" if cell is not None else notebook
        super().__init__(f"{where} failed: {error}")


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def run_notebook(
    name: str,
    parameters: Mapping[str, Any],
    *,
    stop_before_tag: str | None = None,
    timeout_seconds: int = 900,
) -> nbformat.NotebookNode:
    """Execute `notebooks/<name>.ipynb` with `parameters`; returns the executed notebook.

    `stop_before_tag`: run only the cells before the first cell with that tag (e.g. `clean-up`, for
    a caller that uses the deployment and removes it itself). Raises NotebookFailed on an error.
    """
    import signal

    import nbformat  # lazy, as papermill: a second of imports (jsonschema's format checkers)
    import papermill  # lazy: only deployments need it, and it imports a lot

    source = notebooks_dir() / f"{name}.ipynb"
    notebook = nbformat.read(source, as_version=4)
    if stop_before_tag is not None:
        cut = next((i for i, c in enumerate(notebook.cells) if stop_before_tag in c.metadata.get("tags", [])), None)
        if cut is None:
            raise ValueError(f"{source.name} has no cell tagged {stop_before_tag!r}")
        notebook.cells = notebook.cells[:cut]
    with tempfile.TemporaryDirectory(prefix="lambdalab-notebook-") as scratch:
        given, executed = Path(scratch) / source.name, Path(scratch) / f"executed-{source.name}"
        nbformat.write(notebook, given)
        sigint = signal.getsignal(signal.SIGINT)  # the kernel machinery may replace it: Ctrl-C stays the caller's
        try:
            return papermill.execute_notebook(
                str(given),
                str(executed),
                parameters=dict(parameters),
                cwd=str(notebooks_dir()),
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=timeout_seconds,
                extra_arguments=["--log-level=ERROR"],  # the kernel's start-up warnings are not the notebook's output
                # The executed notebook is returned (and written on an error): no copy after every
                # cell, and the kernel, whose work is all in AWS by then, is stopped at once.
                # Measured on notebook 02: 3.5 s -> 2.3 s a run.
                request_save_on_cell_execute=False,
                shutdown_kernel="immediate",
            )
        except papermill.PapermillExecutionError as error:
            raise NotebookFailed(source.name, error.exec_count, f"{error.ename}: {error.evalue}") from None
        finally:
            if signal.getsignal(signal.SIGINT) is not sigint and sigint is not None:
                signal.signal(signal.SIGINT, sigint)
