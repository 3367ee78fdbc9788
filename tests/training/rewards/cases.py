"""Hand-written examples in the shared Example dict format, for judge tests that must not wait on synthesis."""

from __future__ import annotations


def _turns(*lines: str) -> list[dict[str, str]]:
    return [{"speaker": "doctor" if i % 2 == 0 else "patient", "text": text} for i, text in enumerate(lines)]


def fact(section, kind, text, forms=(), value=None, unit=None):
    out = {"section": section, "kind": kind, "text": text, "surface_forms": list(forms)}
    if value is not None:
        out["value"], out["unit"] = value, unit
    return out


BRONCHITIS = {
    "key": "hand-bronchitis",
    "dialogue": _turns(
        "Hello, what brings you in today?",
        "I've had a really bad cough for about five days, bringing up yellow phlegm.",
        "Any shortness of breath or chest pain?",
        "No chest pain. A bit breathless climbing stairs.",
        "Your temperature is thirty-eight point two and your oxygen is ninety-six percent. I hear some wheezing.",
        "Is it serious?",
        "It looks like acute bronchitis. Take paracetamol 1 g up to four times a day, drink fluids, "
        "and come back if you are not better in a week.",
    ),
    "reference": {
        "S": "Productive cough for 5 days with yellow sputum. Mild dyspnea on exertion. Denies chest pain.",
        "O": "Temperature 38.2 C. SpO2 96%. Expiratory wheeze on auscultation.",
        "A": "Acute bronchitis.",
        "P": "Paracetamol 1 g up to four times daily. Oral fluids. Return if not improved in 1 week.",
    },
    "facts": [
        fact("S", "symptom", "productive cough", ["cough", "bringing up phlegm"]),
        fact("S", "duration", "5 days", ["five days"], value="5", unit="days"),
        fact("S", "symptom", "yellow sputum", ["yellow phlegm"]),
        fact("S", "symptom", "dyspnea on exertion", ["breathless climbing stairs", "shortness of breath on exertion"]),
        fact("S", "negative", "denies chest pain", ["no chest pain"]),
        fact("O", "vital", "temperature 38.2 C", ["temperature thirty-eight point two"], value="38.2", unit="C"),
        fact("O", "vital", "SpO2 96%", ["oxygen ninety-six percent"], value="96", unit="%"),
        fact("O", "exam", "expiratory wheeze", ["wheezing"]),
        fact("A", "diagnosis", "acute bronchitis", ["chest cold"]),
        fact("P", "medication", "paracetamol 1 g", ["acetaminophen 1 g"], value="1", unit="g"),
        fact("P", "plan", "oral fluids", ["drink fluids"]),
        fact("P", "plan", "return if not improved in 1 week", ["come back if not better in a week"]),
    ],
    "specialty": "respiratory",
    "condition": "acute bronchitis",
    "split": "holdout",
    "source": "synthetic",
    "seed": 1,
}

HYPERTENSION = {
    "key": "hand-hypertension",
    "dialogue": _turns(
        "Good morning. How have your headaches been?",
        "Still getting them in the mornings, for about three weeks now.",
        "Are you taking the amlodipine 5 mg every day?",
        "Yes, every morning.",
        "Your blood pressure today is 162 over 98 and your heart rate is 78.",
        "That sounds high.",
        "It is. Your blood pressure is not controlled. I'll increase amlodipine to 10 mg daily, "
        "check your kidney function with a blood test, and see you in 4 weeks.",
    ),
    "reference": {
        "S": "Morning headaches for 3 weeks. Taking amlodipine 5 mg daily with good adherence.",
        "O": "BP 162/98 mmHg. HR 78 bpm.",
        "A": "Uncontrolled hypertension.",
        "P": "Increase amlodipine to 10 mg daily. Renal function blood test. Follow-up in 4 weeks.",
    },
    "facts": [
        fact("S", "symptom", "morning headaches", ["headaches in the mornings"]),
        fact("S", "duration", "3 weeks", ["three weeks"], value="3", unit="weeks"),
        fact("S", "medication", "amlodipine 5 mg daily", ["amlodipine 5 mg every day"], value="5", unit="mg"),
        fact("O", "vital", "BP 162/98 mmHg", ["blood pressure 162 over 98"], value="162/98", unit="mmHg"),
        fact("O", "vital", "HR 78 bpm", ["heart rate 78"], value="78", unit="bpm"),
        fact("A", "diagnosis", "uncontrolled hypertension", ["high blood pressure not controlled"]),
        fact("P", "medication", "amlodipine 10 mg daily", ["amlodipine to 10 mg"], value="10", unit="mg"),
        fact("P", "test", "renal function blood test", ["kidney function blood test"]),
        fact("P", "follow-up", "follow-up in 4 weeks", ["see you in 4 weeks"], value="4", unit="weeks"),
    ],
    "specialty": "cardiology",
    "condition": "hypertension",
    "split": "holdout",
    "source": "synthetic",
    "seed": 2,
}

EXAMPLES = [BRONCHITIS, HYPERTENSION]
