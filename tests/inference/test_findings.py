"""The Objective opens with the findings said in the visit: what is kept, how it is written, how it is forced."""

from __future__ import annotations

import json
import re
import statistics

import pytest
import torch

from inference.constrained import FindingsPrefix, dialogue_numbers, get_constraint
from inference.findings import FINDINGS_MAX_CHARS, dictated_findings, is_finding
from inference.schema import bounded_note_schema
from inference.spoken_numbers import normalize_spoken_numbers
from training.evaluation.datasets import load_examples

VOCAB = 49152

VISIT = [
    {"speaker": "doctor", "text": "so what brings you in today ?"},
    {"speaker": "patient", "text": "my right knee has hurt for two weeks , and my exam at work was fine ."},
    {"speaker": "doctor", "text": "okay . is it swollen when you wake up ?"},
    {"speaker": "patient", "text": "yeah , a little ."},
    {
        "speaker": "doctor",
        "text": "alright , let's take a look . so on exam , uh , you do have some tenderness over the medial joint "
        "line . your lungs are clear . i do appreciate a two out of six systolic ejection murmur .",
    },
    {"speaker": "doctor", "text": "looking at your x-ray , there's no fracture ."},
    {"speaker": "doctor", "text": "i think it's a medial meniscus strain , so i'll refer you to physical therapy ."},
]


def test_findings_keep_the_doctors_exam_and_results_in_note_form():
    text = dictated_findings(VISIT)
    assert text == (
        "On exam, some tenderness over the medial joint line. The lungs are clear. "
        "A 2/6 systolic ejection murmur. Looking at the x-ray, there's no fracture."
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "is it swollen when you wake up ?",  # a question
        "so is it tender right here",  # a question without a question mark
        "alright , let's take a look at your knee .",  # what the doctor will do
        "i think you have a medial meniscus strain .",  # the assessment
        "i'll refer you to physical therapy for the swelling .",  # the plan
        "she is a 58-year-old female with a history of heart failure .",  # the history
        "hey dragon , show me the x-rays .",  # a command to the dictation system
        "okay .",
    ],
)
def test_questions_instructions_history_and_plan_are_not_findings(sentence):
    assert not is_finding(sentence)


def test_only_the_doctor_is_read_when_turns_are_labelled_and_everyone_when_none_is():
    patient_exam = [{"speaker": "patient", "text": "my knee is tender and swollen over the joint line ."}]
    assert dictated_findings(patient_exam + VISIT[4:5]).startswith("On exam, some tenderness")
    assert "joint line" not in dictated_findings(patient_exam[:0] + [{"speaker": "patient", "text": "okay ."}])
    unlabelled = [{"speaker": "unknown", "text": t["text"]} for t in VISIT]
    assert "The lungs are clear." in dictated_findings(unlabelled)
    assert dictated_findings("Doctor: your lungs are clear.") == ""  # plain text: no turns to read


def test_an_unpunctuated_speech_recognised_run_is_judged_clause_by_clause():
    run = (
        "okay so i'm gon na go ahead and do my exam now looking at your head and your neck i do n't appreciate any "
        "adenopathy no thyromegaly listening to your heart it's a nice regular rate and rhythm okay so i want you "
        "to take a deep breath for me and tell me if anything hurts while i press here on your belly"
    )
    text = dictated_findings([{"speaker": "doctor", "text": run}])
    assert "regular rate and rhythm" in text
    assert "deep breath" not in text and "gon na" not in text


def test_findings_are_capped_at_whole_sentences_and_said_once():
    said = [{"speaker": "doctor", "text": "your lungs are clear . your lungs are clear ."}] * 3
    assert dictated_findings(said) == "The lungs are clear."
    many = [{"speaker": "doctor", "text": f"the x-ray of finger {n} shows no fracture ."} for n in range(200)]
    text = dictated_findings(many)
    assert len(text) <= FINDINGS_MAX_CHARS and text.endswith("no fracture.")


def test_findings_on_real_visits_say_nothing_the_visit_does_not():
    """Every word and number of the findings of ACI-Bench train+valid's 87 visits is the visit's own (after
    spoken numbers are written as digits and "do n't" as "don't"), save "the" (for "your") and "/" (in "2/6")."""
    checked = 0
    for example in load_examples("aci-bench:train") + load_examples("aci-bench:valid"):
        said = normalize_spoken_numbers(" ".join(t["text"] for t in example["dialogue"])).lower()
        said = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", said)  # ACI-Bench's "do n't", written "don't"
        words = set(re.findall(r"[a-z0-9']+", said)) | {"the", "i"}
        text = dictated_findings(example["dialogue"])
        extra = set(re.findall(r"[a-z0-9']+", text.lower())) - words
        assert not extra, (example["key"], extra)
        stated = dialogue_numbers(" ".join(t["text"] for t in example["dialogue"]))
        for number in re.findall(r"\d+(?:\.\d+)?", text):
            assert number in stated, (example["key"], number)
        checked += bool(text)
    assert checked >= 70  # 74 of the 87 visits say findings aloud


def test_findings_overlap_the_clinicians_objective_far_more_than_the_trained_models_did():
    """ACI-Bench train: the findings' mean ROUGE-1 against the clinicians' Objective is ~32 (the shipped
    adapter's own Objective scored 11.8 on valid, docs/results.md), and most visits have some."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    scores = []
    for example in load_examples("aci-bench:train"):
        text, reference = dictated_findings(example["dialogue"]), example["reference"].get("O", "")
        scores.append(scorer.score(reference, text)["rouge1"].fmeasure * 100 if text and reference else 0.0)
    assert statistics.mean(scores) > 25
    assert sum(1 for s in scores if s) >= 50


@pytest.fixture(scope="module")
def tokenizer(default_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_dir))


def _feed(prefix, history, tokens):
    """Append each row's next token to `history` (one id list per row) and return the scores the prefix leaves."""
    for row, token in zip(history, tokens, strict=True):
        row.append(token)
    return prefix(torch.tensor(history), torch.zeros(len(history), VOCAB))


def test_the_objective_opens_with_the_findings_and_closes_right_after(tokenizer):
    findings = dictated_findings(VISIT)
    prefix = FindingsPrefix(tokenizer, VOCAB, [findings, None])  # row 1: a visit with no findings said
    rows: list[list[int]] = [[0], [0]]
    scores = prefix(torch.tensor(rows), torch.zeros(2, VOCAB))  # the first call comes before any generated token
    assert torch.isfinite(scores).all()
    head = tokenizer.encode('{"S": "Knee pain for two weeks.", "O": "', add_special_tokens=False)
    for token in head:  # S is free: nothing is forced before the Objective opens
        scores = _feed(prefix, rows, [token, token])
        if token != head[-1]:
            assert torch.isfinite(scores).all()
    written: list[int] = []
    while int(torch.isfinite(scores[0]).sum()) == 1:
        assert torch.isfinite(scores[1]).all()  # the row without findings is never touched
        token = int(torch.isfinite(scores[0]).nonzero())
        written.append(token)
        scores = _feed(prefix, rows, [token, token])
    assert tokenizer.decode(written) == findings
    closing = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    assert closing and all(tokenizer.decode([t]).startswith('"') for t in closing)
    assert prefix.forced == [len(written), 0]
    scores = _feed(prefix, rows, [closing[0], closing[0]])
    assert torch.isfinite(scores).all()  # A and P are the model's


def test_forced_findings_are_text_the_note_grammar_accepts(tokenizer):
    """The grammar accepts every forced token (a string holds any text but quotes, backslashes and control
    characters, which the findings never contain), on all 87 ACI-Bench visits."""
    from inference.constrained import findings_ids

    constraint = get_constraint(tokenizer, bounded_note_schema(), vocab_size=VOCAB)
    head = tokenizer.encode('{"S": "Knee pain.", "O": "', add_special_tokens=False)
    for example in load_examples("aci-bench:train") + load_examples("aci-bench:valid"):
        text = dictated_findings(example["dialogue"])
        if not text:
            continue
        matcher = constraint.matcher()
        tail = tokenizer.encode('", "A": "', add_special_tokens=False)
        for token in head + findings_ids(tokenizer, text, VOCAB) + tail:
            assert matcher.accept(token), (example["key"], tokenizer.decode([token]))
        assert json.loads('{"O": "' + json.dumps(text)[1:-1] + '"}')["O"] == text


@pytest.mark.slow
def test_the_default_model_writes_the_said_findings_as_its_objective(backend, monkeypatch):
    """Real default model, the app's decoding: the Objective is the findings the visit says, and the other
    sections are the model's; with SOAP_DICTATED_FINDINGS=0 the model writes the Objective alone."""
    from inference.engine import generate_note

    from .conftest import DIALOGUE

    findings = dictated_findings(DIALOGUE)
    assert "Crackles in the right lower lung" in findings and "38.9" in findings
    result = generate_note(DIALOGUE, max_new_tokens=384)
    note = result.note.as_dict()
    assert result.finish_reason == "stop" and note["O"] == findings
    assert all(note[key].strip() for key in ("S", "A", "P"))
    monkeypatch.setenv("SOAP_DICTATED_FINDINGS", "0")
    alone = generate_note(DIALOGUE, max_new_tokens=384).note.as_dict()
    assert alone["O"] != findings


def test_a_repeat_ban_gives_way_to_a_stated_number_it_would_cut_short(backend):
    """ "ibuprofen 600 mg" said again: the repeat ban (n=4) would take the second "0" of 600, the only token
    the numbers rule allows after "60"; the numbers rule wins, so no unstated "60 mg" is written
    (ACI-Bench valid D2N083 wrote one before the two rules ran in this order)."""
    from inference.backends.base import SamplingParams

    tok = backend.tokenizer
    generated = tok.encode("Take ibuprofen 600 mg daily. Take ibuprofen 60", add_special_tokens=False)
    params = SamplingParams(constrained=False, no_repeat_ngram=4, grounded_numbers=(frozenset({"600"}),))
    processors = backend._processors(params, 1, None, [1])
    ids = torch.tensor([[0]])
    scores = processors(ids, torch.zeros(1, backend.vocab_size))
    for token in generated:
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        scores = processors(ids, torch.zeros(1, backend.vocab_size))
    zero = tok.encode("0", add_special_tokens=False)[-1]
    assert torch.isfinite(scores[0, zero])
    assert not torch.isfinite(scores[0, tok.encode(" mg", add_special_tokens=False)[0]])


def test_the_vllm_rule_forces_exactly_what_the_transformers_one_does(tokenizer):
    """BatchFindingsPrefix (vLLM's persistent batch; requests come with the engine's live id list) against
    FindingsPrefix, step by step over a whole note, with a second request that has no findings."""
    from inference.constrained import BatchFindingsPrefix

    findings = dictated_findings(VISIT)
    note = '{"S": "Knee pain for two weeks.", "O": "' + findings + '", "A": "Strain.", "P": "Rest."}'
    tokens = tokenizer.encode(note, add_special_tokens=False)
    single = FindingsPrefix(tokenizer, VOCAB, [findings])
    batch = BatchFindingsPrefix(tokenizer)
    live: list[int] = []
    batch.requests = {0: BatchFindingsPrefix.request(findings, live), 1: BatchFindingsPrefix.request("", [])}
    ids = torch.tensor([[0]])
    forced_steps = 0
    for step in range(len(tokens) + 1):
        expected = single(ids, torch.zeros(1, VOCAB))
        got = batch.apply(torch.zeros(2, VOCAB))
        assert torch.equal(torch.isfinite(expected[0]), torch.isfinite(got[0])), step
        assert torch.isfinite(got[1]).all()
        forced_steps += int(torch.isfinite(got[0]).sum()) == 1
        if step < len(tokens):
            ids = torch.cat([ids, torch.tensor([[tokens[step]]])], dim=1)
            live.append(tokens[step])
    assert forced_steps > 10 and batch.forced == single.forced[0] == forced_steps


def test_findings_text_is_checked_before_it_reaches_a_vllm_request():
    """The vLLM request check (FindingsPrefixProcessor.validate_params) refuses text a token cannot be forced
    to write inside the note's JSON string; every ACI-Bench visit's findings pass it."""
    from inference.constrained import is_findings_text

    for bad in ('a "quoted" finding.', "back\\slash.", "two\nlines.", "tab\there.", None, 42):
        assert not is_findings_text(bad), bad
    for example in load_examples("aci-bench:train") + load_examples("aci-bench:valid"):
        assert is_findings_text(dictated_findings(example["dialogue"])), example["key"]
