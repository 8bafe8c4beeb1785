"""The project explains itself: every document or path that code, data or docs refer to is in
the repository (a user's clone has nothing else)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Files that hold such names on purpose, to test that they never reach a reader.
DETECTORS = {"tests/unit/test_content.py", "tests/unit/test_references.py"}
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".md", ".cfg", ".toml", ".json", ".ini", ".txt", ""}
# A design document named in capitals ("DESIGN-BRIEF.md", "TEAM-NOTES.md").
DOCUMENT = re.compile(r"\b[A-Z][A-Z0-9_-]{2,}\.md\b")
# Paths outside the repository ("../shared/…", "/work/…", "design/…", "sources/…").
OUTSIDE = re.compile(r"\.\./(?:shared|sources|design)\b|/work/(?:shared|main)\b|\bdesign/[A-Z]")
# A repository path as prose cites it: `bot/...`, docs/x.md, data/knowledge/*.yml.
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:bot|data|docs|tests|scripts|locales|deploy|web)/[\w./*-]*[\w*])"
)
MARKDOWN_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = []
    for name in listed:
        path = ROOT / name
        if name in DETECTORS or path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        if name.startswith("tests/heldout/"):
            continue  # people's messages, not references
        files.append(path)
    return files


FILES = tracked_files()


def exists(reference: str, base: Path) -> bool:
    reference = reference.rstrip(".,:;)")
    for candidate in (ROOT / reference, base / reference):
        if "*" in reference:
            try:
                if any(ROOT.glob(reference)):
                    return True
            except ValueError:  # "bot/**.py" is not a glob pathlib takes: read as prose
                return True
        elif candidate.exists():
            return True
    return False


def test_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "domain.yml", "bot/nlu/danger.py"} <= names


@pytest.mark.parametrize("pattern", [DOCUMENT, OUTSIDE], ids=["documents", "outside paths"])
def test_no_reference_to_a_document_outside_the_repository(pattern: re.Pattern) -> None:
    found = []
    for path in FILES:
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in pattern.finditer(text):
            name = match.group(0)
            if pattern is DOCUMENT and any(ROOT.rglob(name)):
                continue  # a document that is in the repository (README.md, CHANGELOG.md…)
            found.append(f"{path.relative_to(ROOT)}: {name}")
    assert not found, found


def test_every_repository_path_named_exists() -> None:
    missing = []
    for path in FILES:
        if path.suffix not in (".py", ".md", ".yml", ".yaml", ".cfg", ".toml", ""):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        references = REPO_PATH.findall(text)
        if path.suffix == ".md":
            references += MARKDOWN_LINK.findall(text)
        for reference in references:
            if reference.endswith("/") or "{" in reference or "<" in reference:
                continue
            if not exists(reference, path.parent):
                missing.append(f"{path.relative_to(ROOT)}: {reference}")
    assert not missing, missing


def test_the_check_catches_a_missing_reference(tmp_path: Path) -> None:
    assert DOCUMENT.search("see DESIGN-BRIEF.md rule 8") and not any(ROOT.rglob("DESIGN-BRIEF.md"))
    assert OUTSIDE.search("read ../shared/design/brief.md first")
    assert REPO_PATH.findall("see `docs/nowhere.md`") == ["docs/nowhere.md"]
    assert not exists("docs/nowhere.md", tmp_path)
