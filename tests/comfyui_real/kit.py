"""The real ComfyUI kit (``../shared/comfyui-real``) and the environment built from it.

The kit holds ComfyUI's source, a CPU torchvision wheel and a script that makes a
random-weight SD 1.5 checkpoint. ``build()`` installs it, following the kit's README,
into ``.comfyui-real/`` at the repository root (git ignores it), keyed on a hash of the
kit's files and of this recipe: an environment built from another kit is rebuilt.

    PYTHONPATH=tests python -m comfyui_real      builds it when missing or stale
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KIT_ENV = "COMFYUI_REAL_KIT"
"""Where the kit lies, when not at ``../shared/comfyui-real`` beside the repository."""
ENVIRONMENT_ENV = "COMFYUI_REAL_ENV"
"""Where the kit is installed, when not in ``.comfyui-real/`` at the repository's root (e.g.
one installation shared by several checkouts)."""

RECIPE = "3"
"""Bumped whenever ``build()`` changes what it makes."""

SOURCE_TARBALL = "ComfyUI-0.33.0.tar.gz"
SOURCE_FOLDER = "ComfyUI-0.33.0"
TORCHVISION_WHEEL = "torchvision-0.28.0-cp311-cp311-linux_x86_64.whl"
CHECKPOINT_SCRIPT = "build_ckpt.py"
TORCH = "torch==2.13.0"
TORCHAUDIO = "torchaudio==2.11.1"
CHECKPOINT = "sdrand15.safetensors"
CHECKPOINT_ALIASES = ("v1-5-pruned-emaonly-fp16.safetensors",)
"""Names the bundled SD 1.5 workflows load; all point at the random checkpoint."""


_IGNORED_LOCATION = re.compile(r"^WARNING: Location .* is ignored")


def kit_folder() -> Path:
    """The kit named by ``COMFYUI_REAL_KIT``, else the one in ``shared/`` beside this checkout
    or, in a git worktree, beside the main checkout."""
    configured = os.environ.get(KIT_ENV)
    if configured:
        return Path(configured)
    candidates = [checkout.parent / "shared" / "comfyui-real" for checkout in _checkouts()]
    return next((folder for folder in candidates if kit_present(folder)), candidates[0])


def _checkouts() -> list[Path]:
    checkouts = [REPO_ROOT]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return checkouts
    main_checkout = Path(common).parent
    return checkouts if main_checkout == REPO_ROOT else [*checkouts, main_checkout]


def kit_present(folder: Path | None = None) -> bool:
    folder = folder or kit_folder()
    return all(
        (folder / name).is_file() for name in (SOURCE_TARBALL, TORCHVISION_WHEEL, CHECKPOINT_SCRIPT)
    )


@dataclass(frozen=True)
class KitEnvironment:
    """The installed kit: a virtualenv, ComfyUI's source and its checkpoint."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def comfyui(self) -> Path:
        return self.root / SOURCE_FOLDER

    @property
    def checkpoints(self) -> Path:
        return self.comfyui / "models" / "checkpoints"

    @property
    def key_file(self) -> Path:
        return self.root / "KEY"

    def is_built_from(self, kit: Path) -> bool:
        return self.key_file.is_file() and self.key_file.read_text() == kit_key(kit)


def default_environment() -> KitEnvironment:
    configured = os.environ.get(ENVIRONMENT_ENV)
    return KitEnvironment(Path(configured) if configured else REPO_ROOT / ".comfyui-real")


def kit_key(kit: Path) -> str:
    digest = hashlib.sha256(f"recipe {RECIPE}\n".encode())
    for path in sorted(p for p in kit.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def build(kit: Path, env: KitEnvironment) -> None:
    """Install the kit into ``env`` unless it was built from this kit already."""
    with _exclusive(env.root.with_name(env.root.name + ".lock")):
        if env.is_built_from(kit):
            return
        shutil.rmtree(env.root, ignore_errors=True)
        env.root.mkdir(parents=True)
        with _phase("install"):
            _install(kit, env)
        with _phase("checkpoint"):
            _make_checkpoint(kit, env)
        env.key_file.write_text(kit_key(kit))


def _install(kit: Path, env: KitEnvironment) -> None:
    with tarfile.open(kit / SOURCE_TARBALL) as tarball:
        tarball.extractall(env.root, filter="data")
    _run(sys.executable, "-m", "venv", str(env.root / "venv"))
    pip = (str(env.python), "-m", "pip", "install", "-q", "--no-input")
    _run(*pip, TORCH)
    _run(*pip, str(kit / TORCHVISION_WHEEL))
    _run(*pip, TORCHAUDIO)
    _disable_torchaudio_native_libraries(env)
    requirements = env.root / "requirements.txt"
    requirements.write_text(
        "".join(
            line + "\n"
            for line in (env.comfyui / "requirements.txt").read_text().splitlines()
            if not _is_torch_requirement(line)
        )
    )
    _run(*pip, "-r", str(requirements), "spandrel")


def _is_torch_requirement(line: str) -> bool:
    name = line.strip().split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
    return name in ("torch", "torchvision", "torchaudio")


def _disable_torchaudio_native_libraries(env: KitEnvironment) -> None:
    """torchaudio's native libraries are linked against CUDA and cannot load with the CPU
    torch; without them torchaudio runs in pure Python, which is all ComfyUI needs (its
    ``comfy/sd.py`` imports torchaudio at the top)."""
    [site_packages] = (env.root / "venv" / "lib").glob("python3*/site-packages")
    native = site_packages / "torchaudio" / "lib"
    native.rename(native.with_name("lib.cuda-disabled"))
    native.mkdir()
    (native / "__init__.py").touch()


def _make_checkpoint(kit: Path, env: KitEnvironment) -> None:
    target = env.checkpoints / CHECKPOINT
    _run(
        str(env.python),
        str(kit / CHECKPOINT_SCRIPT),
        str(target),
        extra_env={"COMFYUI_DIR": str(env.comfyui)},
    )
    for alias in CHECKPOINT_ALIASES:
        (env.checkpoints / alias).symlink_to(CHECKPOINT)


def _run(*command: str, extra_env: dict[str, str] | None = None) -> None:
    """Run ``command``, showing its output less pip's warnings about this machine's local
    package indexes that may be absent."""
    finished = subprocess.run(
        command,
        env={**os.environ, **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in finished.stdout.splitlines():
        if not _IGNORED_LOCATION.match(line):
            print(line, flush=True)
    finished.check_returncode()


@contextmanager
def _phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"real ComfyUI kit: {name} took {time.monotonic() - started:.0f} s", flush=True)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One build at a time (two test sessions may start together)."""
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
