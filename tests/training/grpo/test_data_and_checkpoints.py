from __future__ import annotations

import json

import pytest
import torch

from training.grpo import checkpoint as ckpt
from training.grpo.batching import collate, pack_by_tokens
from training.grpo.data import DataError, indices_for_step, load_examples, target_text
from training.grpo.rewarding import shaped_format_reward


def test_data_order_is_a_pure_function_of_seed_and_step():
    first = [indices_for_step(5, s, 2, seed=3) for s in range(5)]
    again = [indices_for_step(5, s, 2, seed=3) for s in range(5)]
    assert first == again
    flat = [i for step in first for i in step]
    assert sorted(flat[:5]) == list(range(5))  # each epoch visits every example once
    assert first != [indices_for_step(5, s, 2, seed=4) for s in range(5)]


def test_bad_jsonl_line_names_file_and_line(tmp_path, examples):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(examples[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"d.jsonl:2"):
        load_examples(path)
    path.write_text(json.dumps({**examples[0], "dialogue": []}) + "\n")
    with pytest.raises(DataError, match="dialogue"):
        load_examples(path)
    with pytest.raises(DataError, match="does not exist"):
        load_examples(tmp_path / "missing.jsonl")


def test_sft_target_is_the_note_contract(examples):
    assert json.loads(target_text(examples[0])) == examples[0]["reference"]


def test_shaped_reward_orders_partial_json_between_prose_and_a_valid_note():
    prose, partial, valid = "Cough.", '{"S": "cough", "O": "', '{"S": "a", "O": "b", "A": "c", "P": "d"}'
    assert shaped_format_reward(prose) < shaped_format_reward(partial) < shaped_format_reward(valid) == 1.0


def test_micro_batches_respect_the_token_budget():
    lengths = [(10, 5), (10, 30), (12, 3), (8, 8), (50, 50)]
    batches = pack_by_tokens(lengths, budget=60)
    assert sorted(i for b in batches for i in b) == list(range(5))
    for b in batches:
        if len(b) > 1:
            assert len(b) * (max(lengths[i][0] for i in b) + max(lengths[i][1] for i in b)) <= 60


def test_collate_left_pads_prompts_and_right_pads_completions():
    ids, attn, cmask, keep = collate([[5, 6], [7]], [[1], [2, 3]], pad_id=0, device="cpu")
    assert ids.tolist() == [[5, 6, 1, 0], [0, 7, 2, 3]]
    assert attn.tolist() == [[1, 1, 1, 0], [0, 1, 1, 1]]
    assert cmask.tolist() == [[1, 0], [1, 1]] and keep == 2


class _TinyModel:
    def __init__(self):
        self.w = torch.nn.Linear(2, 2)

    def save_pretrained(self, path, safe_serialization=True):
        (path / "config.json").write_text("{}")


class _Tok:
    def save_pretrained(self, path):
        (path / "tokenizer.json").write_text("{}")


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, _TinyModel(), _Tok(), opt.state_dict(), {"phase": "grpo"})
    (tmp_path / "step-4.tmp").mkdir()  # a write killed half way is never picked up
    (tmp_path / "step-9").mkdir()  # nor a directory without its state file
    assert ckpt.latest_checkpoint(tmp_path).name == "step-3"
    assert ckpt.read_state(tmp_path / "step-3")["step"] == 3
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2, 3]
