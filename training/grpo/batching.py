"""Micro-batches by token budget, and padding to TRL's layout (left-padded prompt, right-padded completion)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pack_by_tokens(lengths: Sequence[tuple[int, int]], budget: int) -> list[list[int]]:
    """Split sequence indices into micro-batches whose padded size (rows x (max prompt + max completion)) fits.

    Sequences are sorted by length first so similar lengths share a micro-batch and padding stays small.
    A single sequence over the budget still gets a micro-batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: sum(lengths[i]))
    batches: list[list[int]] = []
    cur: list[int] = []
    max_p = max_c = 0
    for i in order:
        p, c = lengths[i]
        np_, nc = max(max_p, p), max(max_c, c)
        if cur and (len(cur) + 1) * (np_ + nc) > budget:
            batches.append(cur)
            cur, np_, nc = [], p, c
        cur.append(i)
        max_p, max_c = np_, nc
    if cur:
        batches.append(cur)
    return batches


def collate(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(input_ids, attention_mask, completion_mask, logits_to_keep) for one micro-batch."""
    P = max(len(p) for p in prompts)
    C = max(max(len(c) for c in completions), 1)
    B = len(prompts)
    ids = torch.full((B, P + C), pad_id, dtype=torch.long)
    attn = torch.zeros((B, P + C), dtype=torch.long)
    cmask = torch.zeros((B, C), dtype=torch.float32)
    for r, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        ids[r, P - len(p) : P] = torch.tensor(p, dtype=torch.long)
        attn[r, P - len(p) : P] = 1
        if c:
            ids[r, P : P + len(c)] = torch.tensor(c, dtype=torch.long)
            attn[r, P : P + len(c)] = 1
            cmask[r, : len(c)] = 1
    return ids.to(device), attn.to(device), cmask.to(device), C
