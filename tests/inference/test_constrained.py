"""The grammar engines accept exactly the notes the bounded schema allows, token by token."""

from __future__ import annotations

import json

import pytest
import torch

from inference.constrained import GrammarLogitsProcessor, JSONConstraint, get_constraint
from inference.schema import bounded_note_schema

NOTE = {"S": "Cough for 5 days.", "O": "T 38.9 C.", "A": "Pneumonia.", "P": "Amoxicillin 1 g."}


@pytest.fixture(scope="module")
def tokenizer(default_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_dir))


def _walk(constraint: JSONConstraint, ids: list[int]) -> tuple[bool, object]:
    matcher = constraint.matcher()
    return all(matcher.accept(i) for i in ids), matcher


@pytest.mark.parametrize("engine", ["xgrammar", "llguidance"])
def test_engine_accepts_a_note_then_only_the_end_token(tokenizer, engine):
    constraint = JSONConstraint(tokenizer, bounded_note_schema(40), vocab_size=49152, engine=engine)
    ids = tokenizer.encode(json.dumps(NOTE), add_special_tokens=False)
    ok, matcher = _walk(constraint, ids)
    assert ok
    assert matcher.accept(tokenizer.eos_token_id) and matcher.done()


@pytest.mark.parametrize("engine", ["xgrammar", "llguidance"])
def test_engine_rejects_prose_extra_keys_and_overlong_sections(tokenizer, engine):
    constraint = JSONConstraint(tokenizer, bounded_note_schema(10), vocab_size=49152, engine=engine)
    for text in ("Here is", '{"X": ', '{"S": "' + "a" * 11):
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert not _walk(constraint, ids)[0], text


def test_processor_masks_every_token_the_grammar_forbids(tokenizer):
    constraint = get_constraint(tokenizer, bounded_note_schema(20), vocab_size=49152)
    assert get_constraint(tokenizer, bounded_note_schema(20), vocab_size=49152) is constraint
    processor = constraint.processor(2)
    scores = processor(torch.zeros((2, 3), dtype=torch.long), torch.zeros((2, 49152)))
    allowed = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    assert allowed and all(tokenizer.decode([i]).lstrip().startswith("{") for i in allowed)
    assert torch.equal(torch.isfinite(scores[0]), torch.isfinite(scores[1]))


def test_unconstrained_processor_reports_steps_and_leaves_scores_alone():
    seen = []
    processor = GrammarLogitsProcessor(None, 8, on_step=lambda ids: seen.append(ids.tolist()))
    scores = torch.randn(1, 8)
    assert processor(torch.tensor([[1, 2]]), scores) is scores
    processor(torch.tensor([[1, 2, 5]]), scores)
    assert seen == [[[5]]]


def test_unknown_engine_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="unknown grammar engine 'outlines'"):
        JSONConstraint(tokenizer, bounded_note_schema(10), vocab_size=49152, engine="outlines")
