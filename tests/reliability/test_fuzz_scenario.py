"""Property-based tests: scenario YAML and ``--set`` overrides (issue 7, item 5).

Whatever the input, loading a scenario gives a :class:`Scenario` or raises
:class:`ScenarioError` (one line, non-empty); never another exception. Inputs:

- random YAML documents (random nested data dumped as YAML, and random text);
- random structural mutations of a valid scenario (a value replaced by a
  random one, a key deleted, an unknown key added, at any depth);
- random character edits of a valid scenario's text;
- random ``--set`` strings, and well-formed keys from the schema with random values.

Budgets: the hypothesis profile loaded by ``tests/conftest.py`` (10,000 examples
for the loader and 10,000 for ``--set`` in the full suite, a tenth in the fast
tier), split over the properties of each parser.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from cosim.errors import ScenarioError
from cosim.scenario import Scenario, load_scenario
from tests.conftest import fuzz_settings
from tests.sim.conftest import TINY_REAL

LOADER = fuzz_settings(share=4)    # four properties fuzz the scenario loader
OVERRIDES = fuzz_settings(share=2)  # two fuzz --set overrides

VALID = yaml.safe_load(TINY_REAL)
VALID["channel"] = {"trace": "t.csv", "loop": True}
VALID["data"]["user_files"] = ["notes.txt"]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e9", "nan", "../../etc", "/etc/passwd", "~", "a\x00b",
                     "{name}", "{0}", "%s", "tiny-llama", "kjv/law", "user/x", "auto", "uma",
                     "rayleigh", "trace", "ewma", "dask", "${HOME}"]),
)
_data = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=20,
)

# Every key path in the valid document (for mutations and overrides).
def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(VALID)
SCHEMA_KEYS = sorted({".".join(str(p) for p in path if isinstance(p, str)) for path in PATHS}
                     | {"wireless.mac.scheduler", "server.selection", "distillation.k_policy",
                        "wireless.fading.distribution", "channel.traces", "data.cache_dir",
                        "allow_path_escape", "clients[0].count", "clients[1].model.preset",
                        "channel.columns.time_unit", "compute.profiles.x.effective_flops_per_s"})


def _load_text(text: str, overrides: list[str] | None = None) -> None:
    """Load ``text`` as a scenario file next to a trace and a user file."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "t.csv").write_text("time_s,snr_db\n0,10\n1,12\n")
        Path(folder, "notes.txt").write_text("a\n\nb\n")
        path = Path(folder, "s.yaml")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        _check(path, overrides or [])


def _check(path: Path, overrides: list[str]) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. trust_remote_code: true
            loaded = load_scenario(path, overrides)
    except ScenarioError as exc:
        message = str(exc)
        assert message.strip(), "empty error message"
        return
    assert isinstance(loaded.config, Scenario)


# libyaml's emitter: the pure-Python one took longer than the load under test.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any, **style: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, **style)


VALID_TEXT = _dump(VALID)


@LOADER
@given(doc=_data)
def test_random_yaml_documents(doc: Any) -> None:
    _load_text(_dump(doc))


@LOADER
@given(text=st.text(max_size=300))
def test_random_text(text: str) -> None:
    _load_text(text)


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _delete(node: Any, path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


@LOADER
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(["replace", "delete", "add"]),
                  st.sampled_from(PATHS), _data, st.text(min_size=1, max_size=10)),
        min_size=1, max_size=4,
    )
)
def test_mutations_of_a_valid_scenario(edits: list[tuple[str, tuple[Any, ...], Any, str]]) -> None:
    doc = copy.deepcopy(VALID)
    for op, path, value, key in edits:
        try:
            if op == "replace":
                _set(doc, path, value)
            elif op == "delete":
                _delete(doc, path)
            else:
                parent = doc
                for part in path[:-1]:
                    parent = parent[part]
                if isinstance(parent, dict):
                    parent[key] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    _load_text(_dump(doc))


@LOADER
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.text(max_size=3)),
                   min_size=1, max_size=5)
)
def test_character_edits_of_a_valid_scenario(edits: list[tuple[int, int, str]]) -> None:
    text = VALID_TEXT
    for pos, cut, insert in edits:
        pos %= len(text) + 1
        text = text[:pos] + insert + text[pos + cut:]
    _load_text(text)


_override_values = st.one_of(
    _data.map(lambda v: _dump(v, default_flow_style=True).strip().removesuffix("...")
              .strip()),
    st.text(max_size=20),
)


@OVERRIDES
@given(overrides=st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_random_override_strings(overrides: list[str]) -> None:
    _load_text(VALID_TEXT, overrides)


@OVERRIDES
@given(
    overrides=st.lists(
        st.tuples(st.sampled_from(SCHEMA_KEYS), _override_values).map(lambda kv: "=".join(kv)),
        min_size=1, max_size=3,
    )
)
def test_schema_keys_with_random_values(overrides: list[str]) -> None:
    _load_text(VALID_TEXT, overrides)


def test_the_unmutated_scenario_loads() -> None:
    """The base of the mutations is valid (else every mutation would trivially fail)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "t.csv").write_text("time_s,snr_db\n0,10\n1,12\n")
        Path(folder, "notes.txt").write_text("a\n\nb\n")
        path = Path(folder, "s.yaml")
        path.write_text(_dump(VALID))
        loaded = load_scenario(path)
        assert loaded.config.channel is not None
        assert os.path.isabs(loaded.config.channel.trace)
