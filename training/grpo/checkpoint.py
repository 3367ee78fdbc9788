"""Checkpoints: a plain Hugging Face directory (the app can generate with it) plus training state.

Layout: `<output_dir>/step-N/` with config.json, model.safetensors, tokenizer files (what
`inference.models.resolve_model` loads) -- or, for a LoRA run, adapter_config.json and
adapter_model.safetensors whose `base_model_name_or_path` is the base's model reference --
and `optimizer.pt` + `trainer_state.json` (step, phase,
the resolved config, RNG states, the base model reference) for resuming. A checkpoint is written
to `step-N.tmp` and renamed into place, so a kill -9 mid-write never leaves a half checkpoint that
resume would pick up.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
ADAPTER_CONFIG = "adapter_config.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model: Any,
    tokenizer: Any,
    optimizer_state: dict[str, Any],
    state: dict[str, Any],
    *,
    state_dict: dict[str, Any] | None = None,
) -> Path:
    """Write step-N atomically and return its path (`state_dict`: full weights of a sharded model)."""
    output_dir = Path(output_dir)
    final = output_dir / f"step-{step}"
    tmp = output_dir / f"step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if state_dict is None:
        model.save_pretrained(tmp, safe_serialization=True)
    else:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(tmp)
    if (tmp / ADAPTER_CONFIG).is_file() and state.get("base_reference"):
        # peft records the base as this machine's path; the model reference ('default', a hub id, a
        # registry path) is what another machine or the app can resolve the base from.
        adapter = json.loads((tmp / ADAPTER_CONFIG).read_text())
        adapter["base_model_name_or_path"] = state["base_reference"]
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(adapter, indent=2, sort_keys=True))
    torch.save({"optimizer": optimizer_state, "rng": rng_state()}, tmp / OPTIMIZER_FILE)
    (tmp / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2, default=str))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (those with a state file), oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR.match(child.name)
        weights = (child / "config.json").is_file() or (child / ADAPTER_CONFIG).is_file()
        if m and (child / STATE_FILE).is_file() and weights:
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def read_state(checkpoint: str | Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


def load_training_state(checkpoint: str | Path) -> dict[str, Any]:
    """The optimiser state and RNG states saved with a checkpoint (weights load through from_pretrained)."""
    return torch.load(Path(checkpoint) / OPTIMIZER_FILE, map_location="cpu", weights_only=False)


def prune_checkpoints(output_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints (keep=0 keeps all); returns what was removed."""
    if keep <= 0:
        return []
    found = list_checkpoints(output_dir)
    removed = []
    for _, path in found[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
