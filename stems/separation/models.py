"""Which Demucs models exist, and loading them once per process without hanging on the network.

Real names load through ``demucs.pretrained.get_model(name)`` (HuggingFace hub first, then the
legacy torch hub checkpoints). Before that we look for the files in both caches and probe the
network with a short timeout, so a machine with neither fails at once with a message saying how to
fix it. ``debug`` / ``debug_6s`` are tiny random models (``stems.separation.debug_model``) loaded by the same
``get_model`` from a local model folder.
"""

from __future__ import annotations

import logging
import socket
import threading
from functools import cache
from pathlib import Path
from typing import Any

from stems.errors import ModelUnavailableError, UserInputError
from stems.separation.catalog import DEBUG_SOURCES, MODEL_SOURCES
from stems.separation.debug_model import default_model_dir, load_debug_model

logger = logging.getLogger(__name__)

NETWORK_TIMEOUT_S = 3.0
_LOAD_LOCK = threading.Lock()
_PROBE_HOSTS = (("huggingface.co", 443), ("dl.fbaipublicfiles.com", 443))


def check_separation_model(name: str) -> None:
    """UserInputError for a name we do not know; nothing is loaded."""
    if name not in MODEL_SOURCES:
        raise UserInputError(
            f"separation model {name!r} is unknown; allowed: {', '.join(MODEL_SOURCES)}. "
            "Use `debug` to run offline without weights."
        )


def load_separation_model(name: str, model_dir: str | Path | None = None) -> Any:
    """The eval-mode Demucs model (or bag) for ``name``; loaded once per process and folder."""
    check_separation_model(name)
    folder = str(default_model_dir(model_dir)) if name in DEBUG_SOURCES else ""
    with _LOAD_LOCK:  # concurrent first calls must not load (or write the debug package) twice
        return _load_cached(name, folder)


@cache
def _load_cached(name: str, folder: str) -> Any:
    if name in DEBUG_SOURCES:
        return load_debug_model(name, folder)
    return _load_pretrained(name)


def _load_pretrained(name: str) -> Any:
    in_torch_hub, in_hf = torch_hub_has(name), hf_cache_has(name)
    online = network_reachable()
    if not (in_torch_hub or in_hf or online):
        raise ModelUnavailableError(unavailable_message(name))
    try:
        if in_torch_hub and not (in_hf or online):
            return _load_from_torch_hub(name)
        from demucs.pretrained import get_model

        return get_model(name)
    except Exception as exc:  # demucs raises RuntimeError, URLError, HF errors... for missing weights
        raise ModelUnavailableError(f"{unavailable_message(name)} (loading failed: {exc})") from exc


def _load_from_torch_hub(name: str) -> Any:
    """get_model's legacy branch (RemoteRepo over cached checkpoints), skipping its HuggingFace try."""
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files
    from demucs.repo import AnyModelRepo, BagOnlyRepo, RemoteRepo

    model_repo = RemoteRepo(_parse_remote_files(REMOTE_ROOT / "files.txt"))
    model = AnyModelRepo(model_repo, BagOnlyRepo(REMOTE_ROOT, model_repo)).get_model(name)
    return model.eval()


def torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def torch_hub_files(name: str) -> list[str]:
    """Checkpoint file names of every model in the bag ``name`` (demucs/remote/<name>.yaml)."""
    import yaml
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

    urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
    bag = yaml.safe_load((REMOTE_ROOT / f"{name}.yaml").read_text())
    return [urls[sig].rsplit("/", 1)[1] for sig in bag["models"]]


def torch_hub_has(name: str) -> bool:
    folder = torch_hub_checkpoints()
    return all((folder / file).is_file() for file in torch_hub_files(name))


def hf_cache_has(name: str) -> bool:
    """Whether the bag yaml demucs.hf.get_hf_model reads first is in the HuggingFace cache."""
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}", f"{name}.yaml")
    return isinstance(found, str)


def network_reachable(timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """A TCP connection to a model host within ``timeout`` (DNS included: run in a thread).

    ``HF_HUB_OFFLINE`` (huggingface_hub's offline switch) counts as no network.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    result: list[bool] = []

    def probe() -> None:
        for host in _PROBE_HOSTS:
            try:
                socket.create_connection(host, timeout=timeout).close()
                result.append(True)
                return
            except OSError:
                continue

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def unavailable_message(name: str) -> str:
    return (
        f"Demucs model {name!r} is not cached (looked in {torch_hub_checkpoints()} for "
        f"{', '.join(torch_hub_files(name))} and in the HuggingFace cache) and the model hosts are not "
        f"reachable. Fix: run once with network access (`python -m demucs -n {name} any.wav` downloads it), "
        "copy the checkpoint files into that folder, or use the offline model `debug`."
    )
