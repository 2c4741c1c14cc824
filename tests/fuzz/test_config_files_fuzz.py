"""The rules file and on-call roster loaders under any TOML text: each gives a validated config
or its one error type (``RulesFileError``, ``RosterError``) naming the file and the problem,
never another exception. Inputs: the shipped documents with values changed, removed, added or
retyped; any text; the shipped text with edits."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from streams.alerting.roster import Roster, RosterError, load_roster, parse_roster
from streams.clinical.rules_file import DEFAULT_RULES_FILE, RulesConfig, load_rules
from streams.exceptions import RulesFileError
from tests.fuzz import toml_text
from tests.fuzz.budget import budget
from tests.support.alerting import roster_toml

SHIPPED_RULES = DEFAULT_RULES_FILE.read_text(encoding="utf-8")
ROSTER = (
    roster_toml(channels=["pager", "am", "acm"])
    + '\n[channels.pager]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
    + '\n[channels.am]\ntype = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
    + 'priorities = ["high"]\n'
    + '\n[channels.acm]\ntype = "hl7-mllp"\nhost = "127.0.0.1"\nport = 2575\n'
    + '\n[wards.day-unit]\nchain = [{ role = "bedside_nurse", name = "N", contact = "c" }]\n'
)

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),  # nan and inf included: TOML has both
    st.text(max_size=40),
    st.datetimes(),
    st.dates(),
    st.sampled_from(["high", "medium", "low", "", "HIGH", "webhook", "hl7-mllp", "x" * 500]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, item in document.items():
        found.append((*prefix, name))
        if isinstance(item, dict):
            found += _paths(item, (*prefix, name))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn, text: str) -> str:
    """``text`` parsed, one to four changes made (a value set to anything, a key removed, an
    unknown key added), written again."""
    document: dict[str, Any] = tomllib.loads(text)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths)) if paths else ("x",)
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "set":
            parent[path[-1]] = draw(toml_values)
        elif action == "drop":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(max_size=12))] = draw(toml_values)
    return toml_text.dumps(document)


@st.composite
def edited_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a stretch deleted or replaced by any characters."""
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    return text[:start] + draw(st.text(max_size=20)) + text[end:]


def any_toml(shipped: str) -> st.SearchStrategy[str]:
    return st.one_of(
        mutated_documents(shipped), edited_text(shipped), st.text(max_size=300), st.just(shipped)
    )


def _load_rules(path: Path, text: str) -> RulesConfig | RulesFileError:
    path.write_text(text, encoding="utf-8")
    try:
        return load_rules(path)
    except RulesFileError as exc:
        return exc


@budget(300)
@given(text=any_toml(SHIPPED_RULES))
def test_any_rules_text_is_a_config_or_a_rules_file_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-rules.toml"
    outcome = _load_rules(path, text)
    if isinstance(outcome, RulesFileError):
        event("rejected")
        message = str(outcome)
        assert message.startswith(f"rules file {path}:")
        assert message.removeprefix(f"rules file {path}:").strip()
    else:
        event("valid")
        assert RulesConfig.model_validate(outcome.model_dump()) == outcome


def _parse_roster(text: str, source: str) -> Roster | RosterError:
    try:
        return parse_roster(text, source)
    except RosterError as exc:
        return exc


@budget(300)
@given(text=any_toml(ROSTER))
def test_any_roster_text_is_a_roster_or_a_roster_error(text: str) -> None:
    outcome = _parse_roster(text, "fuzz-roster.toml")
    if isinstance(outcome, RosterError):
        event("rejected")
        assert "fuzz-roster.toml: " in str(outcome)
    else:
        event("valid")
        assert Roster.model_validate(outcome.model_dump()) == outcome
        assert outcome.default_ward in outcome.wards


@budget(40)
@given(text=any_toml(ROSTER))
def test_a_roster_file_loads_as_its_text_parses(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-roster.toml"
    path.write_text(text, encoding="utf-8")
    from_text = _parse_roster(text, str(path))
    try:
        from_file: Roster | RosterError = load_roster(path)
    except RosterError as exc:
        from_file = exc
    assert str(from_file) == str(from_text)
    assert type(from_file) is type(from_text)


# Found by fuzzing, reported, not fixed here (streams/clinical/ and streams/alerting/ are not this
# harness's files). strict: once fixed, these fail until the marker is removed.
NOT_UTF8 = b'version = "caf\xe9"\n'
DEEP_ARRAY = "x = " + "[" * 5000 + "]" * 5000 + "\n"


def test_a_rules_file_that_is_not_utf8_is_a_rules_file_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(RulesFileError, match=r"rules\.toml"):
        load_rules(path)


def test_a_deeply_nested_rules_file_is_a_rules_file_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(DEEP_ARRAY, encoding="utf-8")
    with pytest.raises(RulesFileError, match=r"rules\.toml"):
        load_rules(path)


def test_a_roster_file_that_is_not_utf8_is_a_roster_error(tmp_path: Path) -> None:
    path = tmp_path / "roster.toml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(RosterError, match=r"roster\.toml"):
        load_roster(path)


def test_a_deeply_nested_roster_is_a_roster_error() -> None:
    with pytest.raises(RosterError, match="roster"):
        parse_roster(DEEP_ARRAY)
