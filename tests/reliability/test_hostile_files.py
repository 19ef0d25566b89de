"""Hostile scenario files (issue 16, items 1-6): bombs, sizes, magnitudes, names, templates, code.

Every case runs the real command line in-process (:func:`cosim.cli.main`) and
must end in exactly one ``cosim: error:`` line on stderr with exit code 2,
quickly: no traceback, no hang, no ``internal error``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cosim.cli import main
from cosim.config.limits import MAX_CLIENTS
from cosim.config.yaml_source import MAX_DOCUMENT_BYTES

OK = "clients:\n  - {name: a}\n"
LAUGHS = "a0: &a0 [lol]\n" + "".join(
    f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))


def expect_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                    fragment: str, seconds: float = 10.0) -> str:
    """Run ``cosim argv``; assert exit ``code`` and one stderr line containing ``fragment``."""
    start = time.monotonic()
    got = main(argv)
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert got == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("cosim: error: "), lines[0]
    assert "internal error" not in err and "Traceback" not in err
    assert fragment in lines[0], lines[0]
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    return lines[0]


# ------------------------------------------------------------------ 1, 2: bombs and sizes
BOMBS = {
    "billion laughs (9x9 aliases)": (OK + LAUGHS, "aliases are expanded"),
    "recursive list alias": (OK + "x: &a [*a]\n", "recursive alias"),
    "recursive map alias": (OK + "x: &a {b: *a}\n", "recursive alias"),
    "5k-deep flow maps": ("x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nesting deeper"),
    "50k-deep flow lists": ("x: " + "[" * 50000 + "]" * 50000 + "\n", "nesting deeper"),
    "deep block maps": ("".join(" " * i + "a:\n" for i in range(400)), "nesting deeper"),
    "5000-digit integer": (OK + "seed: " + "9" * 5000 + "\n", "seed: unreadable value"),
    "python tag": (OK + "name: !!python/name:os.system\n", "name:"),
    "merge-key bomb": (OK + "x: &a {b: 1}\ny: {<<: *a}\n", "merge"),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_yaml_bombs(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, fragment = BOMBS[case]
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    expect_one_line(capsys, ["validate", str(path)], 2, fragment)


def test_a_scenario_over_the_size_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(OK + ("# padding\n" * (MAX_DOCUMENT_BYTES // 10 + 1)))
    expect_one_line(capsys, ["validate", str(path)], 2, "too large for a scenario file")


def test_a_50_mb_sparse_scenario_is_refused_unread(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(50 << 20)
    expect_one_line(capsys, ["validate", str(path)], 2, "too large", seconds=2.0)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_special_files_as_scenarios(special: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    if special == "fifo":
        path = str(tmp_path / "fifo.yaml")
        os.mkfifo(path)  # opening it would block until a writer comes: it must not be opened
    elif special == "directory":
        path = str(tmp_path)
    else:
        path = special
    expect_one_line(capsys, ["validate", path], 2, "not a regular file", seconds=5.0)
    expect_one_line(capsys, ["run", path, "--no-progress"], 2, "not a regular file", seconds=5.0)


def test_a_study_file_check_is_bounded_too(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("base: x.yaml\n" + LAUGHS)
    expect_one_line(capsys, ["validate", str(path)], 2, "aliases are expanded")


# ------------------------------------------------------------------ 3: magnitudes
@pytest.mark.parametrize("override", [
    "wireless.mac.slot_s=1e308", "wireless.packets.mtu_bytes=1e308",
    "distillation.rounds=1e308", "distillation.batch_size=1e308", "data.public_tokens=1e308",
    "distillation.rounds=1000000000000000", "wireless.mac.slot_s=1e3",
    "clients[0].speed_mps=1e308", "seed=1e308", "distillation.rounds=2.0",
])
def test_absurd_magnitudes(override: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(OK)
    key = override.split("=")[0]
    line = expect_one_line(capsys, ["validate", str(path), "--set", override], 2, key)
    assert "plausible range" in line or "must be an integer" in line


@pytest.mark.slow
def test_client_total_is_capped_before_allocation(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """1e8 clients in 10001 groups of 10000: refused in well under a second per group."""
    groups = MAX_CLIENTS + 1
    path = tmp_path / "crowd.yaml"
    path.write_text("clients:\n" + "".join(f"  - {{name: g{i}, count: {MAX_CLIENTS}}}\n"
                                           for i in range(groups)))
    expect_one_line(capsys, ["validate", str(path)], 2,
                    f"{groups * MAX_CLIENTS} clients in all; at most {MAX_CLIENTS}", seconds=20)


# ------------------------------------------------------------------ 4, 5: names and templates
@pytest.mark.parametrize("name", ["../../escaped", "a/b", "line\\nbreak", "nul\\0byte", "..",
                                  "-rf", "", "x" * 65, "{name}"])
def test_unsafe_run_names(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(f'name: "{name}"\n' + OK)
    expect_one_line(capsys, ["run", str(path), "--no-progress"], 2, "name: must be 1-64")
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name == "escaped") == []
    assert [p.name for p in tmp_path.iterdir()] == ["s.yaml"]  # no stray file


def test_unsafe_group_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text('clients:\n  - {name: "a\\nb"}\n')
    expect_one_line(capsys, ["validate", str(path)], 2, "clients[0].name: must be 1-64")


@pytest.mark.parametrize("template", [
    "{0}", "runs/{name:>999999999}.h5", "{name.__class__.__name__}", "{name!r}.h5",
    "{seed[0]}", "{home}/x.h5", "runs/{name", "runs/}x.h5", "a\\tb.h5",
])
def test_trace_path_templates(template: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(OK + f'output: {{trace_path: "{template}"}}\n')
    expect_one_line(capsys, ["validate", str(path)], 2, "output.trace_path", seconds=2.0)


@pytest.mark.parametrize("template", ["../x.h5", "runs/../../x.h5", "/tmp/x.h5"])
def test_a_scenario_trace_path_stays_below_the_working_directory(
        template: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(OK + f'output: {{trace_path: "{template}"}}\n')
    expect_one_line(capsys, ["validate", str(path)], 2, "leaves the current directory")
    # The user's own command line may point anywhere.
    assert main(["validate", str(path), "--set", "output.trace_path=runs/x.h5"]) == 0


def test_documented_template_keys_and_literal_braces() -> None:
    from cosim.scenario import parse_scenario

    text = OK + 'name: n1\nseed: 4\noutput: {trace_path: "o/{{x}}/{name}-{seed}.h5"}\n'
    scenario = parse_scenario(text)
    assert str(scenario.trace_path()) == "o/{x}/n1-4.h5"


# ------------------------------------------------------------------ 6: code from a scenario
def test_trust_remote_code_needs_the_command_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "evil-model"
    model.mkdir()
    marker = tmp_path / "pwned"
    (model / "config.json").write_text(
        '{"model_type": "evil", "auto_map": {"AutoConfig": "evil.EvilConfig",'
        ' "AutoModelForCausalLM": "evil.EvilModel"}}')
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    path = tmp_path / "s.yaml"
    path.write_text("clients:\n  - {name: a, model: {preset: ./evil-model, "
                    "trust_remote_code: true}}\n")
    for argv in (["run", str(path), "--no-progress", "--out", str(tmp_path / "r.h5")],
                 ["validate", str(path)],
                 ["validate", str(tmp_path / "s.yaml"), "--set",
                  "clients[0].model.trust_remote_code=true"]):
        expect_one_line(capsys, argv, 2, "pass --trust-remote-code")
    assert not marker.exists()
    with pytest.warns(UserWarning, match="runs code shipped with the model"):
        assert main(["validate", str(path), "--trust-remote-code"]) == 0
