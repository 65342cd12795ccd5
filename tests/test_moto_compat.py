"""The offline AWS refuses a moto whose internals differ from those it patches or relies on.

Each entry of moto_compat.INTERNALS is broken in turn (removed, or changed the way a moto release
would change it) and the check must name it; the pinned moto must pass; and the server itself,
started the ways a learner starts it, must exit with the one message instead of serving.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import os
import re
import socket
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from lambdalab.localaws import moto_compat
from lambdalab.localaws.moto_compat import ABSENT, ATTRIBUTE, INTERNALS, KEY

REPO = Path(__file__).resolve().parents[1]


def _stub(signature: inspect.Signature):
    """A callable that does nothing and reports `signature` (what a moto rewrite could leave)."""

    def stub(*args, **kwargs):
        return None

    stub.__signature__ = signature
    return stub


def _remove(monkeypatch: pytest.MonkeyPatch, path: str, expected: str) -> None:
    """Make `path` disappear from moto as a release that dropped or renamed it would."""
    if expected == KEY:
        *keys, last = re.findall(r"\['([^']*)'\]", path)
        _, container = moto_compat.resolve(path.split("[", 1)[0])
        for key in keys:
            container = container[key]
        monkeypatch.delitem(container, last)
        return
    owner, _ = moto_compat.resolve(path)
    name = path.rsplit(".", 1)[1]
    if isinstance(owner, enum.EnumMeta):  # members cannot be deleted: the enum without it
        members = {m.name: m.value for m in owner if m.name != name}
        trimmed = enum.Enum(owner.__name__, members, module=owner.__module__)
        monkeypatch.setattr(importlib.import_module(owner.__module__), owner.__name__, trimmed)
        return
    if not inspect.isclass(owner):
        monkeypatch.delattr(owner, name)
        return
    moto_classes = [k for k in owner.__mro__ if k.__module__.startswith("moto")]
    for klass in moto_classes:
        if name in vars(klass):
            monkeypatch.delattr(klass, name)
    for klass in moto_classes:  # and no method assigns self.<name> any more
        for member_name, member in list(vars(klass).items()):
            if inspect.isfunction(member) and name in moto_compat._stores_on_self(member.__code__):
                monkeypatch.setattr(klass, member_name, _stub(inspect.signature(member)))


def _change(monkeypatch: pytest.MonkeyPatch, path: str, expected: str) -> None:
    """Change `path` as a moto release could: a parameter inserted, or an action moto now has."""
    owner, value = moto_compat.resolve(path)
    name = path.rsplit(".", 1)[1]
    if expected == ABSENT:

        def own_action(self):
            return "{}"

        own_action.__module__ = owner.__module__
        monkeypatch.setattr(owner, name, own_action, raising=False)
        return
    signature = inspect.signature(value)
    params = list(signature.parameters.values())
    added = inspect.Parameter("added_by_moto", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params.insert(min(1, len(params)), added)  # shifts every later positional argument
    monkeypatch.setattr(owner, name, _stub(signature.replace(parameters=params)))


def _assert_named(path: str) -> None:
    found = moto_compat.problems()
    named = [line for line in found if line.startswith((f"{path}:", f"{path} "))]
    assert named, f"the check missed {path}; it reported {found}"
    with pytest.raises(moto_compat.IncompatibleMoto) as stopped:
        moto_compat.require_compatible()
    text = str(stopped.value)
    assert f"built for moto {moto_compat.BUILT_FOR}" in text
    assert f"installed moto {moto_compat.installed_version()}" in text
    assert path in text
    assert stopped.value.code == text  # SystemExit with a message: exit status 1, text on stderr


@pytest.mark.parametrize(("path", "expected"), [pytest.param(*e, id=e[0]) for e in INTERNALS if e[1] != ABSENT])
def test_each_check_fires_when_its_internal_disappears(monkeypatch, path, expected):
    _remove(monkeypatch, path, expected)
    _assert_named(path)


@pytest.mark.parametrize(
    ("path", "expected"), [pytest.param(*e, id=e[0]) for e in INTERNALS if e[1] not in (ATTRIBUTE, KEY)]
)
def test_each_check_fires_when_its_internal_changes(monkeypatch, path, expected):
    _change(monkeypatch, path, expected)
    _assert_named(path)


def test_the_change_is_reported_with_both_parameter_lists(monkeypatch):
    path = "moto.sqs.models.SQSBackend.receive_message"
    _change(monkeypatch, path, dict(INTERNALS)[path])
    expected_line = (
        f"{path}: expected parameters (self, queue_name, count, wait_seconds_timeout, visibility_timeout, "
        "message_attribute_names=None), found (self, added_by_moto, queue_name, count, wait_seconds_timeout, "
        "visibility_timeout, message_attribute_names=None)"
    )
    assert moto_compat.problems() == [expected_line]


def test_the_pinned_moto_passes_every_check():
    # A fresh interpreter: in this one other tests may already have added the lab's Rekognition actions.
    script = (
        "from lambdalab.localaws import moto_compat as m; print(m.installed_version(), len(m.INTERNALS), m.problems())"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [moto_compat.BUILT_FOR, str(len(INTERNALS)), "[]"]


def test_every_patch_target_and_imported_moto_name_is_in_the_table():
    """What a localaws module assigns into moto (`Class.method = ...`) must be guarded, and every
    moto name it imports must lead to a guarded internal: a tripwire for a new patch or reliance."""
    paths = {path for path, _ in INTERNALS}
    assigned, imported = set(), set()
    for source in (REPO / "src/lambdalab/localaws").glob("*.py"):
        tree = ast.parse(source.read_text())
        aliases = {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("moto")
            for alias in node.names
        }
        imported |= set(aliases.values())
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and ast.unparse(target).split(".")[0] in aliases:
                    head, _, rest = ast.unparse(target).partition(".")
                    assigned.add(f"{aliases[head]}.{rest}")
    assert len(assigned) >= 12, f"the scan found only {sorted(assigned)}"
    assert assigned <= paths, sorted(assigned - paths)
    unguarded = {
        name for name in imported if not any(p == name or p.startswith((f"{name}.", f"{name}[")) for p in paths)
    }
    assert len(imported) >= 15 and not unguarded, sorted(unguarded)


def _broken_moto(tmp_path: Path) -> dict[str, str]:
    """An environment whose moto reports 9.9.9 and whose receive_message gained a parameter."""
    site = tmp_path / "site"
    dist = site / "moto-9.9.9.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: moto\nVersion: 9.9.9\n")
    (site / "sitecustomize.py").write_text(
        textwrap.dedent("""
        from moto.sqs.models import SQSBackend

        def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                            message_attribute_names=None, message_system_attribute_names=None):
            raise AssertionError("the server must not run on this moto")

        SQSBackend.receive_message = receive_message
    """)
    )
    return {**os.environ, "PYTHONPATH": str(site)}


def _assert_refusal(text: str) -> None:
    assert "it was built for moto 5.2.5, and the installed moto 9.9.9 changed" in text
    assert (
        "moto.sqs.models.SQSBackend.receive_message: expected parameters (self, queue_name, count, "
        "wait_seconds_timeout, visibility_timeout, message_attribute_names=None), found (self, queue_name, "
        "count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None, "
        "message_system_attribute_names=None)"
    ) in text
    assert 'pip install "moto==5.2.5"' in text
    assert "Traceback" not in text


def test_serve_exits_with_the_message_instead_of_serving(tmp_path):
    ready = tmp_path / "ready.json"
    done = subprocess.run(
        [sys.executable, "-m", "lambdalab", "serve", "--port", "0", "--ready-file", str(ready)],
        env=_broken_moto(tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    _assert_refusal(done.stderr)
    assert "listening" not in done.stdout
    assert not ready.exists()


def test_background_start_fails_and_its_log_holds_the_message(tmp_path, monkeypatch):
    """`python -m lambdalab start` and the notebooks start the server this way."""
    from lambdalab.localaws import ensure_running

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in _broken_moto(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path / "home"))
    with pytest.raises(RuntimeError, match="exited with code 1 while starting") as failed:
        ensure_running(port)
    log = tmp_path / "home" / f"server-{port}.log"
    assert str(log) in str(failed.value)
    _assert_refusal(log.read_text())


def test_environment_yml_and_pyproject_pin_the_moto_the_lab_was_built_for():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pinned = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "moto"]
    assert [str(r.specifier) for r in pinned] == [f"=={moto_compat.BUILT_FOR}"]

    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_moto = [d for d in environment["dependencies"] if isinstance(d, str) and d.split("=")[0] == "moto"]
    assert conda_moto == []  # conda must not resolve its own moto beside pip's
    pip_moto = [Requirement(d) for d in pip_section if not d.startswith("-") and Requirement(d).name == "moto"]
    assert [str(r.specifier) for r in pip_moto] == [f"=={moto_compat.BUILT_FOR}"]

    constraints = (REPO / "constraints.txt").read_text().splitlines()
    assert f"moto=={moto_compat.BUILT_FOR}" in constraints
