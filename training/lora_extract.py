"""A LoRA adapter from a full fine-tune: the truncated SVD of each weight's change.

    python -m training.lora_extract --tuned var/checkpoints/sft-full/step-300 --rank 32 --out var/adapters/full-r32
    python -m training.lora_extract --half var/checkpoints/lora/step-200 --out var/adapters/lora   # float16 copy

Full fine-tuning of the small default model learns the note format better than LoRA at the same steps, but its
checkpoint is the whole model (540 MB in float32), too large to ship in git. Each projection's change
`W_tuned - W_base` is factored with a truncated SVD into `B @ A` of rank r (the best rank-r approximation in
the Frobenius norm), written as a peft LoRA adapter with alpha = r (scaling 1), so `merge_and_unload()` of the
adapter gives back `W_base + (rank-r part of the change)`. The norms' weights (576 numbers a layer) are kept
whole as `modules_to_save`; the tied token embedding can get its own rank (`--embed-rank`, 0 = left as the
base). The report says how much of each change the rank keeps (share of its squared Frobenius norm), so a
reader can see what the adapter loses before generating a single note.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
NORM_MODULES = ("input_layernorm", "post_attention_layernorm", "norm")
EMBEDDING = "embed_tokens"


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(B, A, kept) with B @ A the best rank-`rank` approximation of `delta` and `kept` its share of ||delta||^2."""
    d = delta.float().to("cuda" if torch.cuda.is_available() else "cpu")
    u, s, vh = torch.linalg.svd(d, full_matrices=False)
    u, s, vh = u.cpu(), s.cpu(), vh.cpu()
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    total = float((s.double() ** 2).sum())
    kept = float((s[:r].double() ** 2).sum()) / total if total > 0 else 1.0
    return (u[:, :r] * root).contiguous(), (root[:, None] * vh[:r]).contiguous(), kept


def extract(base: Any, tuned_state: dict[str, torch.Tensor], rank: int, embed_rank: int = 0) -> tuple[Any, dict]:
    """A peft model over `base` whose adapter carries the rank-limited change from base to `tuned_state`.

    `base` is the base model (transformers, float32); `tuned_state` the full fine-tune's state dict (same
    architecture). Returns (peft model, report). Raises ValueError when the two do not share an architecture.
    """
    from peft import LoraConfig, get_peft_model

    # peft leaves the base weights as they are (LoRA adds beside them, modules_to_save copies): no clone
    base_state = {k: v.detach() for k, v in base.state_dict().items()}
    missing = [k for k in base_state if k not in tuned_state and not k.endswith("lm_head.weight")]
    if missing:
        raise ValueError(f"the tuned weights lack {len(missing)} of the base's tensors (first: {missing[0]}); "
                         "is it a checkpoint of the same base model?")  # fmt: skip
    for k, v in base_state.items():
        if k in tuned_state and tuned_state[k].shape != v.shape:
            raise ValueError(f"{k}: tuned shape {tuple(tuned_state[k].shape)} != base {tuple(v.shape)}")
    targets = list(LINEAR_TARGETS) + ([EMBEDDING] if embed_rank > 0 else [])
    config = LoraConfig(
        r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=targets, modules_to_save=list(NORM_MODULES),
        rank_pattern={EMBEDDING: embed_rank} if embed_rank > 0 else {},
        alpha_pattern={EMBEDDING: embed_rank} if embed_rank > 0 else {},
        task_type="CAUSAL_LM",
    )  # fmt: skip
    model = get_peft_model(base, config)
    kept: dict[str, list[float]] = {}
    changed = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            short = name.split(".")[-1]
            key = name.removeprefix("base_model.model.") + ".weight"
            if short in LINEAR_TARGETS and hasattr(module, "lora_A"):
                delta = tuned_state[key].float() - base_state[key].float()
                b, a, share = low_rank(delta, rank)
                module.lora_A["default"].weight.copy_(a)
                module.lora_B["default"].weight.copy_(b)
                kept.setdefault(short, []).append(share)
                changed += 1
            elif short == EMBEDDING and hasattr(module, "lora_embedding_A") and embed_rank > 0:
                # peft's embedding update is (B @ A).T with A: (r, vocab), B: (dim, r).
                delta = (tuned_state[key].float() - base_state[key].float()).T
                b, a, share = low_rank(delta, embed_rank)
                module.lora_embedding_A["default"].copy_(a)
                module.lora_embedding_B["default"].copy_(b)
                kept.setdefault(short, []).append(share)
            elif hasattr(module, "modules_to_save") and "default" in module.modules_to_save:
                # every norm peft matched ("norm" also matches Gemma's q_norm, pre_feedforward_layernorm, ...)
                module.modules_to_save["default"].weight.copy_(tuned_state[key].float())
    if changed == 0:
        raise ValueError("no projection layer was found to adapt; is the base a Llama-style model?")
    emb = f"model.{EMBEDDING}.weight"
    report = {
        "rank": rank,
        "embed_rank": embed_rank,
        "kept_share": {k: round(sum(v) / len(v), 4) for k, v in kept.items()},
        # what rank 0 leaves out: the size of the tied embedding's change
        "embedding_change_norm": round(float((tuned_state[emb].float() - base_state[emb]).norm()), 4)
        if emb in tuned_state else None,
    }  # fmt: skip
    return model, report


def half_adapter(src: Path, dst: Path) -> None:
    """The adapter in `src` stored in float16 in `dst` (the same folder or a new one): half the size."""
    import shutil

    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(src / "adapter_model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in weights.items()}, str(dst / "adapter_model.safetensors"))
    if src.resolve() != dst.resolve():
        shutil.copy(src / "adapter_config.json", dst / "adapter_config.json")


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint directory's weights (safetensors, one or several shards)."""
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    files = [f for f in files if not f.name.startswith("adapter_")]
    if not files:
        raise ValueError(f"{path} holds no *.safetensors weights (is it a full fine-tune's checkpoint?)")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lora_extract", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tuned", type=Path, help="checkpoint of a full fine-tune (step-N dir)")
    source.add_argument("--half", type=Path, help="only copy this adapter to --out in float16 (no extraction)")
    parser.add_argument("--base", default="base", help="the base it was tuned from (default: the base model)")
    parser.add_argument("--rank", type=int, default=32, help="LoRA rank of the projections")
    parser.add_argument("--embed-rank", type=int, default=0, help="LoRA rank of the token embedding (0 = none)")
    parser.add_argument("--fp16", action="store_true", help="store the adapter in float16 (half the size)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.half is not None:
        half_adapter(args.half, args.out)
        return 0
    if args.rank < 1 or args.embed_rank < 0:
        parser.error("--rank must be >= 1 and --embed-rank >= 0")
    from transformers import AutoModelForCausalLM

    from inference.models import ModelError, resolve_model

    try:
        tuned = load_state(args.tuned)
        base = AutoModelForCausalLM.from_pretrained(str(resolve_model(args.base)), dtype="float32")
        model, report = extract(base, tuned, args.rank, args.embed_rank)
    except (ValueError, ModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out), save_embedding_layers=False)
    config_path = args.out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = args.base
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if args.fp16:
        half_adapter(args.out, args.out)
    size = (args.out / "adapter_model.safetensors").stat().st_size
    report["adapter_bytes"] = size
    (args.out / "extract_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
