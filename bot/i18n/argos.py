"""Offline machine translation with Argos Translate: packages under ``var/argos``, nothing
fetched.

Argos reads its directories from the environment when it is first imported, and would
otherwise create and read ``~/.local/share/argos-translate`` and look for a package index
on the internet. ``offline_environment`` points every one of those at ``var/argos`` and at
a package index that does not exist, and is applied before the first import (``_argos``).
A package must carry its own sentence splitter (``minisbd/`` or ``stanza/``): without one,
Argos would try to download a splitter the first time it translates.

Everything here fails soft: a missing, broken or corrupt package makes ``translate``
return None, logged once, and Haven answers from its catalogs or in English.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from bot.settings import ensure_private_dir, get_settings

logger = logging.getLogger(__name__)

PIVOT = "en"
SENTENCE_SPLITTERS = ("minisbd", "stanza")
MAX_PACKAGE_BYTES = 2_000_000_000  # a real model is 50-150 MB; refuse absurd archives


class PackageError(ValueError):
    """A package that cannot be installed (its message is shown to the operator)."""


@dataclass(frozen=True)
class InstalledPackage:
    from_code: str
    to_code: str
    version: str
    path: Path

    @property
    def pair(self) -> str:
        return f"{self.from_code}→{self.to_code}"


def argos_dir() -> Path:
    return get_settings().var_dir / "argos"


def offline_environment(root: Path) -> dict[str, str]:
    """The environment that keeps Argos (and MiniSBD) inside ``root`` and offline."""
    return {
        "ARGOS_PACKAGES_DIR": str(root / "packages"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_CONFIG_HOME": str(root / "config"),
        # Never contacted: only ``update_package_index`` reads it, and Haven never calls it.
        "ARGOS_PACKAGE_INDEX": "file:///nonexistent/haven-offline/",
        "ARGOS_CHUNK_TYPE": "MINISBD",  # the package's own splitter; no spaCy, no stanza
        "ARGOS_DEVICE_TYPE": "cpu",
        "ARGOS_DEBUG": "0",  # its debug mode prints every text translated
        "ARGOS_INTER_THREADS": "1",
        "ARGOS_INTRA_THREADS": "1",  # one core per translation: Rasa shares the machine
    }


_import_lock = threading.Lock()
_translate_lock = threading.Lock()  # CTranslate2 models are loaded once and shared


@lru_cache(maxsize=1)
def _argos() -> tuple[ModuleType, ModuleType]:
    """Import argostranslate with its environment set first (once per process)."""
    with _import_lock:
        root = ensure_private_dir(argos_dir())
        for sub in ("packages", "data", "cache", "config"):
            ensure_private_dir(root / sub)
        os.environ.update(offline_environment(root))
        import argostranslate.package as package
        import argostranslate.translate as translate

        # Argos logs the text it translates at INFO (its utils module sets that level
        # itself, at import): a user's words must never reach a log.
        for name in ("argostranslate", "argostranslate.utils"):
            logging.getLogger(name).setLevel(logging.WARNING)

        return package, translate


def _read_metadata(directory: Path) -> dict:
    try:
        return json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def installed_packages() -> list[InstalledPackage]:
    """The translation packages under var/argos, read from disk (no import of Argos)."""
    folder = argos_dir() / "packages"
    if not folder.is_dir():
        return []
    found = []
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        meta = _read_metadata(directory)
        if meta.get("type", "translate") != "translate" or not meta.get("from_code"):
            continue
        found.append(
            InstalledPackage(
                from_code=str(meta["from_code"]),
                to_code=str(meta.get("to_code", "")),
                version=str(meta.get("package_version", "")),
                path=directory,
            )
        )
    return found


def package_state() -> tuple:
    """Changes whenever a package is installed or removed (by any process)."""
    folder = argos_dir() / "packages"
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()))
    except OSError:
        return ()


def check_package(path: Path) -> dict:
    """Read an ``.argosmodel`` archive's metadata and refuse what Haven cannot use."""
    if not path.is_file():
        raise PackageError(f"{path}: no such file")
    if path.stat().st_size > MAX_PACKAGE_BYTES:
        raise PackageError(f"{path}: too large to be a translation package")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            bad = archive.testzip()
            if bad is not None:
                raise PackageError(f"{path}: corrupt archive (bad entry {bad})")
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) != 1 or any(n.startswith("/") or ".." in n.split("/") for n in names):
                raise PackageError(f"{path}: not an Argos package (one top folder expected)")
            top = tops.pop()
            try:
                meta = json.loads(archive.read(f"{top}/metadata.json"))
            except (KeyError, ValueError) as error:
                raise PackageError(f"{path}: no readable metadata.json") from error
            entries = set(names)
    except zipfile.BadZipFile as error:
        raise PackageError(f"{path}: not a zip archive (corrupt or not a package)") from error
    if meta.get("type", "translate") != "translate":
        raise PackageError(f"{path}: a {meta.get('type')!r} package, not a translation model")
    for key in ("from_code", "to_code"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise PackageError(f"{path}: metadata.json lacks {key}")
    if not any(n.startswith(f"{top}/model/") for n in entries):
        raise PackageError(f"{path}: no model/ folder")
    if not any(n.startswith(f"{top}/{s}/") for s in SENTENCE_SPLITTERS for n in entries):
        raise PackageError(
            f"{path}: no sentence splitter (minisbd/ or stanza/) in the package; Argos would "
            "try to download one. Use a package built with its splitter (Argos 1.9 or later)."
        )
    return meta


def install(path: Path) -> InstalledPackage:
    """Check, then unpack a package file into var/argos/packages, replacing an older copy
    of the same pair (what Argos's own installer does, into Haven's folder)."""
    meta = check_package(path)
    folder = ensure_private_dir(argos_dir() / "packages")
    for old in installed_packages():
        if (old.from_code, old.to_code) == (meta["from_code"], meta["to_code"]):
            shutil.rmtree(old.path)
    try:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)  # names checked: one top folder, no "..", no "/"
    except (OSError, zipfile.BadZipFile) as error:
        raise PackageError(f"{path}: could not be unpacked ({error})") from error
    _translator.cache_clear()
    for new in installed_packages():
        if (new.from_code, new.to_code) == (meta["from_code"], meta["to_code"]):
            return new
    raise PackageError(f"{path}: unpacked, but no package found under {folder}")


def remove(from_code: str, to_code: str) -> bool:
    """Remove the package for one pair; False when there was none."""
    removed = False
    for old in installed_packages():
        if (old.from_code, old.to_code) == (from_code, to_code):
            shutil.rmtree(old.path)
            removed = True
    _translator.cache_clear()
    return removed


def pairs() -> frozenset[tuple[str, str]]:
    """The direct pairs installed (English is the pivot: xx→en and en→xx)."""
    return _pairs(package_state())


@lru_cache(maxsize=4)
def _pairs(state: tuple) -> frozenset[tuple[str, str]]:
    return frozenset((p.from_code, p.to_code) for p in installed_packages())


def pivot_languages() -> frozenset[str]:
    """Languages with a package to English installed (their messages can be understood)."""
    return frozenset(source for source, target in pairs() if target == PIVOT)


def can_translate(from_code: str, to_code: str) -> bool:
    return (from_code, to_code) in pairs()


@lru_cache(maxsize=64)
def _translator(from_code: str, to_code: str, state: tuple):
    """Argos's translation object for one installed pair (read from var/argos, never from
    Argos's own package list), loaded once per installed state."""
    package, translate = _argos()
    for found in installed_packages():
        if (found.from_code, found.to_code) == (from_code, to_code):
            return translate.PackageTranslation(
                translate.Language(from_code, from_code),
                translate.Language(to_code, to_code),
                package.Package(found.path),
            )
    return None


_failed: set[tuple[str, str]] = set()


def translate_text(text: str, from_code: str, to_code: str) -> str | None:
    """``text`` translated by an installed direct package, or None (no package, an error)."""
    if not text.strip() or not can_translate(from_code, to_code):
        return None
    try:
        with _translate_lock:
            translation = _translator(from_code, to_code, package_state())
            if translation is None:
                return None
            result = translation.translate(text)
    except Exception:  # noqa: BLE001 - a broken package must never stop a reply
        if (from_code, to_code) not in _failed:
            _failed.add((from_code, to_code))
            logger.exception("Argos package %s→%s failed; answering without it", from_code, to_code)
        return None
    return result if isinstance(result, str) and result.strip() else None
