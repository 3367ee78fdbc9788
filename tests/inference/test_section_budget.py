"""Constrained notes are budgeted in tokens and closed at sentence ends, never cut mid-word."""

from __future__ import annotations

import json

import pytest
import torch

from inference.constrained import BatchSectionBudget, SectionBudget, ends_sentence, get_constraint
from inference.schema import SECTION_KEYS, bounded_note_schema

VOCAB = 49152
# A Subjective long enough to close (79 tokens; S may not close before 64: inference.schema.SUBJECTIVE_MIN_TOKENS).
HISTORY = (
    "He is a 62-year-old man who comes in for a cough that started three weeks ago after a cold. He coughs up "
    "clear sputum in the mornings and feels short of breath when he climbs the stairs at home. He denies fever, "
    "chest pain or weight loss, and he has never smoked. His wife says he snores at night and wakes up tired."
)


@pytest.fixture(scope="module")
def tokenizer(default_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_dir))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cough for three days.", True),
        ("Denies fever!", True),
        ("Seen by Dr.", False),
        ("Temperature 38.", False),  # could be 38.4: never close inside a number
        ("Cough for three days", False),
        ("Cough.\\n", True),
        ("", False),
    ],
)
def test_sentence_end_detection(text, expected):
    assert ends_sentence(text) is expected


def _teacher_force(tokenizer, budgets, note_text, batch=None, stated=None):
    """Feed a long note token by token through grammar + budget; return the text decoding would allow.

    At each step the next token of `note_text` is taken if the processors allow it; if only a closing
    quote is allowed, the section is closed there and the rest of that section's text is skipped.
    With `batch` (a BatchSectionBudget, what the vLLM processor runs), the same note is also its row 1
    of 3 (rows 0 and 2 carry no budgets) and its masks must equal SectionBudget's at every step.
    """
    constraint = get_constraint(tokenizer, bounded_note_schema(), vocab_size=VOCAB)
    grammar = constraint.processor(1)
    budget = SectionBudget(tokenizer, VOCAB, budgets, rows=1, stated=[stated] if stated is not None else None)
    prompt = [1, 2, 3]
    ids = list(prompt)
    generated: list[int] = []  # the engine's running list of row 1's output ids
    compared = 0
    if batch is not None:
        batch.requests[1] = batch.request(budgets, generated)
    sections = {k: tokenizer.encode(note_text[k], add_special_tokens=False) for k in SECTION_KEYS}
    plan = []
    for i, key in enumerate(SECTION_KEYS):
        prefix = ("{" if i == 0 else ", ") + f'"{key}": "'
        plan.append(("fixed", tokenizer.encode(prefix, add_special_tokens=False)))
        plan.append(("text", sections[key]))
        plan.append(("fixed", tokenizer.encode('"', add_special_tokens=False)))
    plan.append(("fixed", tokenizer.encode("}", add_special_tokens=False)))
    forced_closes = 0
    for kind, toks in plan:
        for tok in toks:
            scores = torch.zeros((1, VOCAB))
            scores = grammar(torch.tensor([ids]), scores)
            if batch is not None:
                rows = torch.zeros((3, VOCAB))
                rows[1] = scores[0]
                rows = batch.apply(rows)
            scores = budget(torch.tensor([ids]), scores)
            # After a forced close the harness asks again with no new token (the skipped text), which real
            # decoding never does; SectionBudget then re-reads its last token. Compare only real steps.
            if batch is not None and len(generated) > compared:
                assert torch.equal(torch.isfinite(rows[1]), torch.isfinite(scores[0])), tokenizer.decode(generated)
                assert torch.isfinite(rows[0]).all() and torch.isfinite(rows[2]).all()
                compared = len(generated)
            if kind == "text" and not torch.isfinite(scores[0, tok]):
                # decoding may only close the string here: skip the rest of this section
                forced_closes += 1
                break
            assert torch.isfinite(scores[0, tok]), tokenizer.decode(ids[len(prompt) :])
            ids.append(tok)
            generated.append(tok)
    text = tokenizer.decode(ids[len(prompt) :])
    return json.loads(text), forced_closes, budget


def _clinician_note(index: int = 0) -> str:
    """A real clinician's note (ACI-Bench valid, the vendored data/): ~2,600 characters, no sentence restated."""
    from training.evaluation.datasets import load_examples

    ref = load_examples("aci-bench:valid", limit=index + 1)[index]["reference"]
    return " ".join(ref[k] for k in SECTION_KEYS).replace("\n", " ")


def test_long_clinician_note_keeps_long_sections_and_closes_only_at_sentence_ends(tokenizer):
    text = _clinician_note()
    assert len(text) > 2000
    # O is another visit's note: an Objective that retells this S would close as a restatement
    long = {**dict.fromkeys(SECTION_KEYS, text), "O": _clinician_note(1)}
    note, forced, budget = _teacher_force(tokenizer, [100, 100, 100, 100], long)
    assert forced == 4 and budget.closed_repeating == [0]  # closed by the budget, never as a repeat
    for key in SECTION_KEYS:
        assert len(note[key]) > 120, key  # no 120-character cap any more
        assert long[key].startswith(note[key]) and ends_sentence(note[key]), note[key][-40:]  # a whole sentence
    # S used its 100-token share and stopped at the first sentence end past it
    s_tokens = len(tokenizer.encode(note["S"], add_special_tokens=False))
    longest = max(len(tokenizer.encode(x, add_special_tokens=False)) for x in text.split(". "))
    assert 100 <= s_tokens <= 100 + longest + 2


def test_a_section_that_restates_itself_is_closed_with_budget_left(tokenizer):
    """The adapter's loop: one sentence reworded until the budget ends. The section closes after the first rewording."""
    first = "He reports he is doing well with his current strategy for his blood pressure."
    again = "He notes that he is doing well with his current strategy for his blood pressure."
    assessment = "Hypertension, stable. " + f"{first} " + f"{again} " * 20
    looping = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "A": assessment}
    note, forced, budget = _teacher_force(tokenizer, [400, 400, 400, 400], looping)
    assert note["A"] == f"Hypertension, stable. {first} {again}"
    assert forced == 1 and budget.closed_repeating == [1]
    assert note["O"] == note["P"] == "Annual exam." and note["S"] == HISTORY


def test_an_objective_that_retells_the_subjective_closes_after_that_sentence(tokenizer):
    """The shipped model opens O with the history again; exam findings never restate S, so O closes there.
    A and P may restate S (clinicians' assessments do), so the same sentence there is left alone."""
    retold = "He is a 62-year-old man who comes in for a cough that started three weeks ago after a cold."
    exam = "Lungs are clear to auscultation bilaterally. No wheezing or crackles."
    note_text = {"S": HISTORY, "O": f"{retold} {exam}", "A": f"{retold} Likely post-viral cough.", "P": "Rest."}
    batch = BatchSectionBudget(tokenizer)  # the vLLM processor's rule, compared step by step
    note, forced, budget = _teacher_force(tokenizer, [400, 400, 400, 400], note_text, batch=batch)
    assert note["O"] == retold and forced == 1 and budget.closed_repeating == [1]
    assert note["A"] == note_text["A"] and note["S"] == HISTORY
    findings = {**note_text, "O": exam}  # an Objective of findings alone is untouched
    assert _teacher_force(tokenizer, [400, 400, 400, 400], findings)[0] == findings


def test_short_sections_pass_their_budget_on_and_are_never_forced(tokenizer):
    short = {"S": HISTORY, "O": "Lungs clear.", "A": "Viral bronchitis.", "P": "Fluids and rest."}
    note, forced, _ = _teacher_force(tokenizer, [200, 30, 30, 30], short)
    assert forced == 0 and note == short


def test_repetition_guard_blocks_a_repeated_run_of_generated_tokens_but_not_the_prompt():
    from inference.constrained import RepetitionGuard

    guard = RepetitionGuard(4, rows=1)
    prompt = [7, 8, 9, 10, 7, 8, 9]  # the dialogue may repeat itself: it is not counted
    ids = list(prompt)
    scores = guard(torch.tensor([ids]), torch.zeros((1, 16)))
    assert torch.isfinite(scores).all()
    for tok in [1, 2, 3, 4, 1, 2, 3]:  # the note writes 1 2 3 4, then starts over: 1 2 3 ...
        ids.append(tok)
        scores = guard(torch.tensor([ids]), torch.zeros((1, 16)))
    assert not torch.isfinite(scores[0, 4])  # 4 would repeat the 4-gram "1 2 3 4"
    assert torch.isfinite(scores[0, 5]) and guard.blocked == [1]  # anything else may follow


def test_repetition_guard_never_leaves_a_row_without_a_token():
    from inference.constrained import RepetitionGuard

    guard = RepetitionGuard(2, rows=1)
    ids = [0, 5, 5]
    guard(torch.tensor([ids[:1]]), torch.zeros((1, 8)))
    guard(torch.tensor([ids[:2]]), torch.zeros((1, 8)))
    only_five = torch.full((1, 8), float("-inf"))
    only_five[0, 5] = 0.0  # the grammar allows only the token the guard would ban
    out = guard(torch.tensor([ids]), only_five.clone())
    assert torch.isfinite(out[0, 5]) and guard.blocked == [0]


def grounded_scores_after(tokenizer, stated, text):
    """GroundedNumbers' mask (one row of scores) for the token after the note `text`."""
    from inference.constrained import GroundedNumbers

    guard = GroundedNumbers(tokenizer, VOCAB, [stated])
    ids = [1, 2]
    scores = guard(torch.tensor([ids]), torch.zeros((1, VOCAB)))
    for tok in tokenizer.encode(text, add_special_tokens=False):
        ids.append(tok)
        scores = guard(torch.tensor([ids]), torch.zeros((1, VOCAB)))
    return scores[0]


def _numbers_allowed_after(tokenizer, stated, text, *, first):
    """The texts of token ids below `first` that GroundedNumbers allows after the note `text`."""
    scores = grounded_scores_after(tokenizer, stated, text)
    return {tokenizer.decode([i]) for i in range(first) if torch.isfinite(scores[i])}


def test_a_note_may_only_write_numbers_the_dialogue_states(tokenizer):
    from inference.constrained import dialogue_numbers

    stated = dialogue_numbers("Doctor: your pulse is fifty-two and the blood pressure is 120 over 80.")
    assert {"52", "120", "80"} <= stated

    def allowed_after(text: str) -> set[str]:
        return _numbers_allowed_after(tokenizer, stated, text, first=200)

    assert {d for d in "0123456789" if d in allowed_after("Seen ")} == {"1", "5", "8"}  # 120, 52, 80; no other
    assert {d for d in "0123456789" if d in allowed_after("BP ")} == {"1", "8"}  # the pulse is no BP (vitals)
    assert allowed_after("BP 1") & set("0123456789") == {"2"}  # 1 -> only 12(0)
    after_12 = allowed_after("BP 12")
    assert "0" in after_12 and "/" not in after_12  # "12" is no stated number: it may not end there
    assert "/" in allowed_after("BP 120")  # a whole stated number may end
    assert "6" not in allowed_after("Pulse 5")  # 56 was never said


def test_a_short_finding_said_twice_word_for_word_closes_the_section(tokenizer):
    """'Denies sleep apnea.' again and again: too short to judge by trigrams, but an exact repeat is a loop."""
    plan = "Denies chest heaviness. Denies sleep apnea. " + "Denies sleep apnea. Denies sleep disorders. " * 10
    looping = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "P": plan.strip()}
    note, forced, budget = _teacher_force(tokenizer, [400, 400, 400, 400], looping)
    assert note["P"] == "Denies chest heaviness. Denies sleep apnea. Denies sleep apnea."
    assert forced == 1 and budget.closed_repeating == [1]
    short = {"S": HISTORY, "O": "Left knee pain. Left knee swollen.", "A": "Knee strain.", "P": "Rest."}
    note, forced, _ = _teacher_force(tokenizer, [400, 400, 400, 400], short)
    assert forced == 0 and note == short


def test_a_list_that_loops_closes_at_the_third_time_a_clause_is_said(tokenizer):
    """'tired, fatigued, tired, tired, ...' never ends a sentence, so the restating rule never judges it; the
    third time a clause is said in its section, it closes there (budget left), never mid-word."""
    plan = "Rest and fluids. Return if worse. Fatigue, tired, fatigued, " + "tired, fatigued, " * 40 + "tired."
    looping = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "P": plan}
    note, forced, budget = _teacher_force(tokenizer, [400, 400, 400, 400], looping)
    assert note["P"] == "Rest and fluids. Return if worse. Fatigue, tired, fatigued, tired, fatigued, tired,"
    assert forced == 1 and budget.closed_repeating == [1]
    # Lists that do not loop are left alone: a clinician's exam with repeated words but distinct clauses.
    exam = "Right knee: no effusion, no erythema, mild tenderness, full range of motion, stable ligaments."
    fine = {"S": HISTORY, "O": exam, "A": "Knee strain, mild, improving.", "P": "Rest, ice, compression."}
    note, forced, _ = _teacher_force(tokenizer, [400, 400, 400, 400], fine)
    assert forced == 0 and note == fine


def test_clinicians_sections_almost_never_say_a_clause_three_times():
    """The clause rule's cost on real notes: 1 of ACI-Bench's 347 sections and 1 of MTS-Dialog's 1,301."""
    from inference.constrained import _RowState
    from training.evaluation.datasets import load_examples

    def trips(text: str) -> bool:
        state = _RowState()
        state.feed('{"S": "' + json.dumps(text)[1:-1])
        return state.clause_repeats()

    for source, most in (
        ("aci-bench:train", 1),
        ("aci-bench:valid", 0),
        ("mts-dialog:train", 1),
        ("mts-dialog:valid", 0),
    ):
        sections = [t for e in load_examples(source) for t in (e.get("reference") or {}).values() if t]
        assert sum(trips(t) for t in sections) <= most, source


RUN_ON = "Rest and fluids. " + "#Studenteducation#Studentsupport" * 60 + "."  # a token run, no punctuation


def test_a_clause_that_runs_on_without_punctuation_closes_its_section(tokenizer):
    """The loop no sentence or clause rule sees (3 of 100 synthetic-holdout notes ran out of tokens in one):
    a clause of RUN_ON_WORDS words with no punctuation closes its section at a word's end, budget left."""
    from inference.constrained import RUN_ON_WORDS, _words

    looping = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "P": RUN_ON}
    note, forced, budget = _teacher_force(tokenizer, [800] * 4, looping)
    assert forced == 1 and budget.closed_repeating == [1]
    assert note["P"].startswith("Rest and fluids. #Studenteducation#") and len(note["P"]) < len(RUN_ON) * 0.6
    assert RUN_ON_WORDS <= len(_words(note["P"].split(". ", 1)[1])) <= RUN_ON_WORDS + 2
    # words, not a token run: MTS-Dialog valid 82 ran out of tokens so; closed after a whole word
    words = "The patient reports that" + " the patient reports that" * 60 + "."
    note, forced, _ = _teacher_force(tokenizer, [800] * 4, {**looping, "P": words})
    assert forced == 1 and note["P"].endswith(("the", "patient", "reports", "that"))
    assert len(_words(note["P"])) == RUN_ON_WORDS


def test_no_clinician_clause_runs_as_long_as_the_run_on_rule():
    """The run-on rule's cost on real notes: none. The longest clause (between commas, semicolons, sentence
    ends and newlines) of ACI-Bench train+valid's and MTS-Dialog train+valid's clinician sections."""
    from inference.constrained import _CLAUSE_END, RUN_ON_WORDS, _words
    from training.evaluation.datasets import load_examples

    sources = ("aci-bench:train", "aci-bench:valid", "mts-dialog:train", "mts-dialog:valid")
    sections = [
        t for source in sources for e in load_examples(source) for t in (e.get("reference") or {}).values() if t
    ]
    longest = max(len(_words(c)) for t in sections for c in _CLAUSE_END.split(json.dumps(t)[1:-1]))
    assert 30 <= longest < RUN_ON_WORDS, longest


@pytest.mark.parametrize("case", ["long", "restating", "list", "run-on"])
def test_batch_section_budget_decides_exactly_like_section_budget(tokenizer, case):
    """BatchSectionBudget (run by the vLLM logits processor on the GPU) masks the same steps as SectionBudget."""
    from inference.constrained import BatchSectionBudget

    if case == "long":
        text = {**dict.fromkeys(SECTION_KEYS, _clinician_note()), "O": _clinician_note(1)}
        budgets = [100, 100, 100, 100]
    elif case == "list":
        plan = "Rest and fluids. Fatigue, tired, fatigued, " + "tired, fatigued, " * 20 + "tired."
        text = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "P": plan}
        budgets = [400] * 4
    elif case == "run-on":
        text = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "P": RUN_ON}
        budgets = [800] * 4
    else:
        again = "He notes that he is doing well with his current strategy for his blood pressure."
        text = {**dict.fromkeys(SECTION_KEYS, "Annual exam."), "S": HISTORY, "A": f"Stable. {again} " * 6}
        budgets = [400] * 4
    batch = BatchSectionBudget(tokenizer)
    _, forced, _ = _teacher_force(tokenizer, budgets, text, batch=batch)
    assert forced >= 1 and batch.closed == forced


def test_batch_grounded_numbers_masks_exactly_like_grounded_numbers(tokenizer):
    """BatchGroundedNumbers (the vLLM processor's) allows the same tokens as GroundedNumbers at every step."""
    from inference.constrained import BatchGroundedNumbers, GroundedNumbers, dialogue_numbers

    stated = dialogue_numbers("Doctor: pulse fifty-two, blood pressure 120 over 80, metformin 500 mg twice a day.")
    # 7.9 and 12 were never said; "Temperature: " may take no stated number (inference.vitals)
    note = "BP 120/80, pulse 52. Metformin 500 mg, A1c 7.9 and 12 units. Temperature: 52, BP 500/2."
    guard = GroundedNumbers(tokenizer, VOCAB, [stated])
    batch = BatchGroundedNumbers(tokenizer)
    generated: list[int] = []
    batch.requests[2] = batch.request(sorted(stated), generated)  # row 2 of 3; rows 0 and 1 carry no numbers
    ids = [1, 2]
    differed_from_unmasked = 0
    for tok in [None, *tokenizer.encode(note, add_special_tokens=False)]:
        if tok is not None:
            ids.append(tok)
            generated.append(tok)
        ours = guard(torch.tensor([ids]), torch.zeros((1, VOCAB)))
        rows = batch.apply(torch.zeros((3, VOCAB)))
        assert torch.equal(torch.isfinite(rows[2]), torch.isfinite(ours[0])), tokenizer.decode(generated)
        assert torch.isfinite(rows[:2]).all()
        differed_from_unmasked += int(not torch.isfinite(rows[2]).all())
    assert differed_from_unmasked > 0 and batch.blocked == guard.blocked[0] > 0


def test_a_subjective_is_kept_open_until_it_has_a_history_and_other_sections_are_not(tokenizer):
    """S may not close before SUBJECTIVE_MIN_TOKENS (the trained default closed it after 'Cardiovascular
    issues.'); O, A and P have no floor, so a visit without an exam keeps a short Objective."""
    from inference.constrained import SectionBudget
    from inference.schema import SUBJECTIVE_MIN_TOKENS, section_token_minimums

    assert section_token_minimums([337, 168, 143, 193]) == [SUBJECTIVE_MIN_TOKENS, 0, 0, 0]
    assert section_token_minimums([60, 30, 30, 30]) == [20, 0, 0, 0]  # small budgets: a third of S's
    assert section_token_minimums([337, 168, 143, 193], prompt_tokens=400) == [0, 0, 0, 0]  # a short exchange
    assert section_token_minimums([337, 168, 143, 193], prompt_tokens=1200) == [48, 0, 0, 0]  # a short visit
    assert section_token_minimums([337, 168, 143, 193], prompt_tokens=2400) == [64, 0, 0, 0]  # a long visit

    # every token that would end the string: the quote alone, and the model's favourites '."', '",' ...
    quoting = [i for i in range(VOCAB) if '"' in tokenizer.decode([i])]
    assert len(quoting) > 10

    def closing_allowed(prefix: str) -> bool:
        """Whether any quote-holding token may follow `prefix` (all of them must agree)."""
        budget = SectionBudget(tokenizer, VOCAB, [337, 168, 143, 193], rows=1)
        ids = [1, 2, 3]
        budget(torch.tensor([ids]), torch.zeros((1, VOCAB)))
        for tok in tokenizer.encode(prefix, add_special_tokens=False):
            ids.append(tok)
            scores = budget(torch.tensor([ids]), torch.zeros((1, VOCAB)))
        finite = {bool(torch.isfinite(scores[0, i])) for i in quoting}
        assert len(finite) == 1, "some quote tokens allowed, others not"
        return finite.pop()

    assert not closing_allowed('{"S": "Cardiovascular issues')
    assert not closing_allowed('{"S": "Cardiovascular issues.')
    assert closing_allowed('{"S": "' + HISTORY)
    assert closing_allowed('{"S": "' + HISTORY + '", "O": "Lungs clear.')


def test_a_decimal_is_grounded_whole_not_digit_run_by_digit_run(tokenizer):
    """'98.2' needs 98.2 in the dialogue: 98 and 2 said apart (a temperature of 98, for 2 days) do not make it."""
    from inference.constrained import dialogue_numbers

    apart = dialogue_numbers("Patient: I had 98 on the thermometer, for 2 days now. Doctor: and your weight, 160?")
    said = dialogue_numbers("Doctor: your temperature is 98.2 today.")
    assert {"98", "2"} <= apart and "98.2" not in apart and {"98.2", "98", "2"} <= said

    def allowed_after(stated: frozenset[str], text: str) -> set[str]:
        return _numbers_allowed_after(tokenizer, stated, text, first=1000)

    assert "2" not in allowed_after(apart, "Reading 98.")  # 98.2 was never said
    assert "." in allowed_after(apart, "Reading 98") and " He" in allowed_after(apart, "Reading 98.")
    assert "2" in allowed_after(said, "Temperature 98.")  # said whole: it may be written
    assert "9" not in allowed_after(apart, "Temperature ")  # no temperature was said (inference.vitals)


def test_a_full_stop_after_a_number_ends_a_sentence_when_no_stated_decimal_continues_it(tokenizer):
    """'respirations: 1. respirations: 1.' looped unseen: a point after a digit was never a sentence end.
    With the stated numbers known, '1.' ends one unless the visit said a 1.x; '38.' stays open if 38.4 was said."""
    stated = frozenset({"1", "38", "38.4", "4", "80"})
    assert ends_sentence("Respirations: 1.", stated) and ends_sentence("Heart rate 80.", stated)
    assert not ends_sentence("Temperature 38.", stated)  # 38.4 was said: this point may be a decimal
    assert not ends_sentence("Respirations: 1.")  # without the numbers, never
    assert not ends_sentence("Temperature 38.4.", frozenset())  # a decimal: no rule for it, stay open
    looping = {
        "S": HISTORY,
        "O": "Blood pressure: 1. mmHg. " + "Respirations: 1. " * 12,
        "A": "Heart failure.",
        "P": "Follow up.",
    }
    note, forced, budget = _teacher_force(tokenizer, [400] * 4, looping, stated=stated)
    assert note["O"] == "Blood pressure: 1. mmHg. Respirations: 1. Respirations: 1."
    assert forced == 1 and budget.closed_repeating == [1]


def test_every_stated_number_of_real_visits_is_accepted_by_the_vllm_request_check():
    """The vLLM processor refuses malformed `soap_grounded_numbers`; it once refused decimals ("8.2"), so any
    visit that stated one failed on the GPU. Every number of every ACI-Bench valid visit must pass."""
    from inference.constrained import dialogue_numbers, is_stated_number
    from inference.prompts import format_dialogue
    from training.evaluation.datasets import load_examples

    stated = set()
    for example in load_examples("aci-bench:valid"):
        stated |= dialogue_numbers(format_dialogue(example["dialogue"]))
    assert any("." in n for n in stated) and all(is_stated_number(n) for n in stated)
    for bad in ("", ".5", "8.", "8.2.1", "12a", "1/2"):
        assert not is_stated_number(bad), bad
