"""Installed models: one folder each in the models store, holding the GGUF and a manifest.

A model is built in a hidden `.incoming-*` folder and appears by renaming that folder into
place, so the store never shows a half-written model: a folder counts only with its manifest,
and the manifest is written before the rename. One pull of a repository runs at a time: it holds
a lock on a hidden `.pull-*.lock` file in the store. GGUF files dropped into the store by hand are
listed too, under their file name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from opencoder_local import locations
from opencoder_local.documents import DocumentError, read_json
from opencoder_local.errors import UnknownModelError, UserError
from opencoder_local.files import write_atomic

MANIFEST = "manifest.json"
_INCOMING = ".incoming-"
_LOCK_ATTEMPTS = 10


class StoreBusyError(UserError):
    """Another pull of the same repository is running."""


@dataclass(frozen=True)
class Manifest:
    name: str  # opencoder-1.5b-instruct:q4_k_m
    gguf: str  # file name inside the model's folder
    source: str  # infly/OpenCoder-1.5B-Instruct, or the folder or file it was brought in from
    revision: str | None  # the Hub commit it was pulled at
    quantization: str
    size: int  # bytes of the GGUF file(s)
    context: int | None
    verification: str  # one line: what was checked and the result
    installed: str  # ISO time

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path  # the GGUF llama.cpp opens
    folder: Path | None  # None for a GGUF put in the store by hand
    manifest: Manifest | None


def slug(name: str) -> str:
    """A folder name for a model name: `owner/name:q4_k_m` -> `owner--name--q4_k_m`."""
    return name.replace("/", "--").replace(":", "--").lower()


def _read_manifest(folder: Path) -> Manifest | None:
    try:
        raw = read_json(folder / MANIFEST)
        manifest = Manifest(**{k: raw[k] for k in Manifest.__dataclass_fields__})
    except (DocumentError, KeyError, TypeError):
        return None  # not ours, or damaged: listed by nothing, removed by nothing
    if not isinstance(manifest.gguf, str) or "/" in manifest.gguf or not (folder / manifest.gguf).is_file():
        return None
    return manifest


def installed_models() -> list[InstalledModel]:
    """Every complete model in the store, by name."""
    store = locations.models_dir()
    if not store.is_dir():
        return []
    models = []
    for entry in sorted(store.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            manifest = _read_manifest(entry)
            if manifest is not None:
                models.append(InstalledModel(manifest.name, entry / manifest.gguf, entry, manifest))
        elif entry.suffix == ".gguf" and entry.is_file():
            models.append(InstalledModel(entry.stem, entry, None, None))
    return sorted(models, key=lambda m: m.name)


def find_installed(name: str, default_tag: str) -> InstalledModel | None:
    """The installed model a name means: exact, or a name without a tag -> its `default_tag`
    build, else its only build."""
    models = installed_models()
    wanted = name.lower()
    exact = [m for m in models if m.name.lower() == wanted]
    if exact or ":" in name:
        return exact[0] if exact else None
    same = [m for m in models if m.name.lower().split(":", 1)[0] == wanted]
    preferred = [m for m in same if m.name.lower().endswith(":" + default_tag)]
    if preferred:
        return preferred[0]
    return same[0] if len(same) == 1 else None


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@contextlib.contextmanager
def incoming(name: str) -> Iterator[Path]:
    """A hidden folder to build a model in; removed unless `install` moved it into place."""
    store = locations.models_dir()
    store.mkdir(parents=True, exist_ok=True)
    folder = store / f"{_INCOMING}{os.getpid()}-{secrets.token_hex(3)}-{slug(name)}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def pull_lock(repo: str) -> Iterator[None]:
    """Hold the store's lock for pulls of `repo` (they share its downloads folder and its model's
    folder); refused at once, in one line, while another process holds it. The kernel lets go of
    it when the holder exits, however it exits; a holder that ends normally removes the file."""
    store = locations.models_dir()
    store.mkdir(parents=True, exist_ok=True)
    path = store / f".pull-{slug(repo)}.lock"
    for _ in range(_LOCK_ATTEMPTS):
        with open(path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusyError(f"another pull of {repo} is running; wait for it to finish "
                                     "(or stop it), then run this again") from None
            if not _same_file(lock, path):
                continue  # its holder removed it between our open and our lock: take the new one
            try:
                yield
            finally:
                path.unlink(missing_ok=True)  # while still locked: a waiter on this file sees it gone
            return
    raise StoreBusyError(f"other pulls of {repo} keep starting and ending; run this again")


def _same_file(lock, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(lock.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def install(folder: Path, manifest: Manifest) -> InstalledModel:
    """Write the manifest into a built folder and move it into the store in one rename."""
    write_atomic(folder / MANIFEST, manifest.to_json())
    dest = locations.models_dir() / slug(manifest.name)
    old = None
    if dest.exists():  # a reinstall: the old build steps aside, then goes
        old = dest.with_name(f".removing-{dest.name}-{secrets.token_hex(4)}")
        os.replace(dest, old)
    os.replace(folder, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return InstalledModel(manifest.name, dest / manifest.gguf, dest, manifest)


def remove(model: InstalledModel) -> int:
    """Delete an installed model; returns the bytes freed."""
    if model.folder is None:
        size = model.path.stat().st_size
        model.path.unlink()
        return size
    size = folder_size(model.folder)
    doomed = model.folder.with_name(f".removing-{model.folder.name}-{secrets.token_hex(4)}")
    os.replace(model.folder, doomed)  # gone from the listing at once, even if the delete is cut short
    shutil.rmtree(doomed, ignore_errors=True)
    return size


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def sweep() -> None:
    """Remove what killed pulls and removals left behind: folders whose process is gone."""
    store = locations.models_dir()
    if not store.is_dir():
        return
    for entry in store.iterdir():
        if entry.name.startswith(".removing-"):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(_INCOMING):
            pid = entry.name[len(_INCOMING):].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def require(name: str, default_tag: str) -> InstalledModel:
    model = find_installed(name, default_tag)
    if model is None:
        known = ", ".join(m.name for m in installed_models()) or "none"
        raise UnknownModelError(f"no installed model {name!r} (installed: {known})")
    return model
