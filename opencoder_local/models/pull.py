"""`opencoder pull`: a Hub repository -> a verified GGUF in the models store.

A checkpoint is downloaded (safetensors and tokenizer files only), converted, quantized and
verified by our converter; a GGUF repository's file is downloaded and checked. Downloads wait in
the downloads folder, so a pull cut short resumes where it stopped; the model appears in the
store only when it is complete (see installed.py).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from opencoder_local import locations
from opencoder_local.errors import UserError
from opencoder_local.models import installed
from opencoder_local.models.catalog import BITS_PER_WEIGHT, PullTarget, parse_target
from opencoder_local.progress import Bars, silent_bars

# What conversion reads. Never weights in pickle formats (*.bin, *.pt), never code.
CHECKPOINT_FILES = ("config.json", "generation_config.json", "tokenizer.model", "tokenizer.json",
                    "tokenizer_config.json", "added_tokens.json", "special_tokens_map.json",
                    "model.safetensors.index.json")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


class PullError(UserError):
    pass


@dataclass(frozen=True)
class PullResult:
    model: installed.InstalledModel
    fetched: int  # bytes that came over the network in this pull
    freed: int  # bytes of downloaded checkpoint deleted afterwards
    kept: Path | None  # the checkpoint folder, with --keep-checkpoint
    already: bool = False  # it was installed before: nothing was done


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def by_hand(name: str) -> str:
    """How to bring a model in without the Hub."""
    return (f"bring it in by hand: `opencoder pull {name} --from-dir CHECKPOINT_FOLDER`, "
            "or chat with a GGUF file: `opencoder-chat --model FILE.gguf`")


def free_bytes(path: Path) -> int:
    """Free space on the filesystem that holds `path` (or would hold it)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return shutil.disk_usage("/").free


def _device(path: Path) -> int:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder.stat().st_dev
    return -1


def check_space(needs: dict[Path, int]) -> None:
    """Each folder's bytes, summed per filesystem, against that filesystem's free space."""
    per_device: dict[int, tuple[Path, int]] = {}
    for folder, n in needs.items():
        first, total = per_device.get(_device(folder), (folder, 0))
        per_device[_device(folder)] = (first, total + n)
    for folder, total in per_device.values():
        free = free_bytes(folder)
        if total > free:
            raise PullError(f"not enough disk space: this pull needs {total / 1e9:.2f} GB in {folder}, "
                            f"{free / 1e9:.2f} GB is free; free some space and run it again")


def pull(name: str, bars: Bars = silent_bars, stop: Callable[[], bool] | None = None,
         keep_checkpoint: bool = False, force: bool = False) -> PullResult:
    """Download, convert, verify and install `name`; an installed model is not pulled again."""
    target = parse_target(name)
    with installed.pull_lock(target.repo):
        return _pull(target, bars, stop, keep_checkpoint, force)


def _pull(target: PullTarget, bars: Bars, stop: Callable[[], bool] | None, keep_checkpoint: bool,
          force: bool) -> PullResult:
    existing = installed.find_installed(target.name, target.tag)
    if existing is not None and not force:
        return PullResult(existing, 0, 0, None, already=True)
    if offline():
        raise PullError(f"offline (HF_HUB_OFFLINE is set), so {target.name} cannot be downloaded; "
                        + by_hand(target.name))
    from opencoder_local.models import hub  # huggingface_hub loads only when something is pulled

    installed.sweep()
    repo = hub.resolve_repo(target.repo)
    ggufs = [f for f in repo.files if f.path.endswith(".gguf")]
    has_weights = any(f.path.endswith(".safetensors") for f in repo.files)
    if ggufs and (not has_weights or target.catalog is None and target.tag.lower() not in BITS_PER_WEIGHT):
        return _pull_gguf(target, repo, _pick_gguf(target, ggufs), bars, stop)
    if not has_weights:
        raise PullError(f"{target.repo} has neither safetensors weights nor GGUF files "
                        "(weights in pickle formats are never loaded)")
    if target.tag.lower() not in BITS_PER_WEIGHT:
        raise PullError(f"{target.name}: unknown quantization {target.tag!r}; choose one of "
                        f"{', '.join(BITS_PER_WEIGHT)}")
    return _pull_checkpoint(target, repo, bars, stop, keep_checkpoint)


def _download_folder(repo) -> Path:
    return locations.downloads_dir() / installed.slug(repo.repo_id) / repo.revision


def _download(repo, files, bars: Bars, stop, needs_after: int) -> tuple[Path, int]:
    from opencoder_local.models import download

    folder = _download_folder(repo)
    _drop_other_revisions(folder)
    check_space({folder: download.missing_bytes(files, folder), locations.models_dir(): needs_after})
    folder.mkdir(parents=True, exist_ok=True)
    bar = bars("downloading", sum(f.size for f in files), "B")
    try:
        fetched = download.download(repo, files, folder, bar, stop)
    finally:
        bar.close()
    return folder, fetched


def _drop_other_revisions(folder: Path) -> None:
    """Partial files of an older revision of the same repository can never be resumed."""
    if folder.parent.is_dir():
        for other in folder.parent.iterdir():
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)


def _pull_checkpoint(target: PullTarget, repo, bars: Bars, stop, keep: bool) -> PullResult:
    files = [f for f in repo.files if f.path in CHECKPOINT_FILES or
             (f.path.endswith(".safetensors") and "/" not in f.path)]
    weights = sum(f.size for f in files if f.path.endswith(".safetensors"))
    quantized = int(weights / 2 * BITS_PER_WEIGHT[target.tag] / 8)  # weights are 16-bit on the Hub
    intermediate = weights if target.tag not in ("f32", "f16", "bf16", "q8_0") else 0
    folder, fetched = _download(repo, files, bars, stop, intermediate + quantized)
    display = target.catalog.display_name if target.catalog else repo.repo_id.split("/", 1)[1]
    model = convert_and_install(folder, target.name, target.tag, display, repo.repo_id, repo.revision, bars)
    return _finish(model, fetched, folder.parent, keep)


def convert_and_install(folder: Path, name: str, quant: str, display: str, source: str,
                        revision: str | None, bars: Bars) -> installed.InstalledModel:
    """Convert a checkpoint folder at `quant`, verify it against the checkpoint, install it as `name`."""
    from opencoder_convert.pipeline import prepare, run
    from opencoder_convert.verify import verify

    with installed.incoming(name) as building:
        job = prepare(folder, quant, building / "model.gguf", display)
        path = run(job, bars)
        report = verify(job.checkpoint, path, quant, bars=bars)
        if not report.passed:
            raise PullError(f"the converted model did not match its checkpoint, so it was not installed: "
                            f"{report.failure()}")
        return installed.install(building, _manifest(name, path, source, revision, quant, report.summary()))


def pull_from_dir(name: str, folder: str, bars: Bars = silent_bars, force: bool = False) -> PullResult:
    """Convert, verify and install a checkpoint folder brought in by hand, under `name`."""
    target = parse_target(name)
    with installed.pull_lock(target.repo):
        return _pull_from_dir(target, folder, bars, force)


def _pull_from_dir(target: PullTarget, folder: str, bars: Bars, force: bool) -> PullResult:
    from opencoder_local.files import user_path

    existing = installed.find_installed(target.name, target.tag)
    if existing is not None and not force:
        return PullResult(existing, 0, 0, None, already=True)
    if target.tag.lower() not in BITS_PER_WEIGHT:
        raise PullError(f"{target.name}: unknown quantization {target.tag!r}; choose one of "
                        f"{', '.join(BITS_PER_WEIGHT)}")
    path = Path(os.path.abspath(user_path(folder)))
    if not path.is_dir():
        raise PullError(f"--from-dir {folder}: no such folder (give a checkpoint folder with config.json, "
                        "*.safetensors and the tokenizer files)")
    installed.sweep()
    display = target.catalog.display_name if target.catalog else target.repo.split("/", 1)[1]
    model = convert_and_install(path, target.name, target.tag.lower(), display, str(path), None, bars)
    return PullResult(model, 0, 0, path)


def _finish(model: installed.InstalledModel, fetched: int, downloads: Path, keep: bool) -> PullResult:
    if keep:
        return PullResult(model, fetched, 0, downloads)
    freed = installed.folder_size(downloads) if downloads.is_dir() else 0
    shutil.rmtree(downloads, ignore_errors=True)
    return PullResult(model, fetched, freed, None)


def _manifest(name: str, path: Path, source: str, revision: str | None, quant: str,
              verification: str) -> installed.Manifest:
    import gguf

    from opencoder_local.engine.gguf_file import read_gguf

    info = read_gguf(path)
    context = info.arch_key(gguf.Keys.LLM.CONTEXT_LENGTH)
    size = sum(p.stat().st_size for p in path.parent.glob("*.gguf"))
    return installed.Manifest(name, path.name, source, revision, quant, size,
                              context if isinstance(context, int) else None, verification,
                              datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _pick_gguf(target: PullTarget, ggufs: list) -> list:
    """The file (or the parts of a split file) of a GGUF repository that the tag names."""
    tag = re.compile(rf"(?<![A-Za-z0-9]){re.escape(target.tag)}(?![A-Za-z0-9])", re.IGNORECASE)
    chosen = [f for f in ggufs if tag.search(f.path.rsplit("/", 1)[-1])]
    stems = {_SPLIT.sub("", f.path) for f in chosen}
    if len(stems) == 1:
        return sorted(chosen, key=lambda f: f.path)
    available = ", ".join(sorted(f.path for f in ggufs))
    if not chosen:
        raise PullError(f"{target.repo} has no GGUF file tagged {target.tag}: it has {available}")
    raise PullError(f"{target.repo}: more than one GGUF file is tagged {target.tag} ({available}); "
                    "name the tag more precisely")


def _pull_gguf(target: PullTarget, repo, files: list, bars: Bars, stop) -> PullResult:
    from opencoder_local.engine.model_file import check_model
    from opencoder_local.models.download import target_path

    folder, fetched = _download(repo, files, bars, stop, sum(f.size for f in files))
    first = target_path(folder, files[0])
    info = check_model(first)  # damaged, truncated or not a model we run: one line, nothing installed
    with installed.incoming(target.name) as building:
        for f in files:
            shutil.move(target_path(folder, f), building / Path(f.path).name)
        path = building / first.name
        manifest = _manifest(target.name, path, repo.repo_id, repo.revision, target.tag.lower(),
                             f"GGUF structure checked ({info.file_type_name}); prebuilt, not compared "
                             "with a checkpoint")
        model = installed.install(building, manifest)
    return _finish(model, fetched, folder.parent, False)
