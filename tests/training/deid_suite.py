"""A suite of realistic identifier forms for the de-identification tests and the recall table.

Each case is (sentence, identifiers that must not survive). `IDENTIFIER_CASES` are the forms the
rules have always handled (every one must go); `HARD_CASES` (issue 17) are grouped by kind and
include the forms that used to leak: non-ASCII names, lowercase names after kinship words, full
names with no cue word, 14-Mar-2024 and spelled-out dates, spelled-out emails and phone numbers,
lowercase addresses, spaced record numbers. `SUITE` is both, one (kind, sentence, identifiers) per
case; `python -m training.deid.recall` prints recall per kind on it. `CLINICAL_KEEP` lists clinical
content that must survive scrubbing untouched (vitals, doses, eponyms, relative times).
Shared by tests/training/test_deid.py and the clinician-feedback export test.
"""

from __future__ import annotations

IDENTIFIER_CASES: list[tuple[str, list[str]]] = [
    # names from context
    ("My name is Helena Kowalczyk.", ["Helena", "Kowalczyk"]),
    ("my name is maria lopez and I have a cough", ["maria", "lopez"]),
    ("Good morning, Mrs. Abernathy, how are you?", ["Abernathy"]),
    ("Hi Tobias, come on in.", ["Tobias"]),
    ("I'm Dr. Okonkwo-Baptiste, the covering physician.", ["Okonkwo-Baptiste"]),
    ("My husband, Reginald, gives me my insulin.", ["Reginald"]),
    ("Patient name: Quentin Ashworth", ["Quentin", "Ashworth"]),
    ("You can call me Bex.", ["Bex"]),
    ("Emergency contact: Priya Raman", ["Priya", "Raman"]),
    ("I saw John Kettleborough last week about this.", ["John", "Kettleborough"]),
    ("Mr. O'Sullivan-Reyes, please sit down.", ["O'Sullivan-Reyes"]),
    # dates
    ("I was born on 03/14/1956.", ["03/14/1956"]),
    ("The surgery was on 2023-11-02.", ["2023-11-02"]),
    ("Last seen March 3rd, 2024 in clinic.", ["March 3rd, 2024"]),
    ("Symptoms began 14 February 2024.", ["14 February 2024"]),
    ("Appointment Tuesday, Jan. 9, 2024.", ["Jan. 9"]),
    ("It started on the 5th of June.", ["5th of June"]),
    ("DOB: 7/4/49", ["7/4/49"]),
    ("Admitted 12.01.2022 to the ward.", ["12.01.2022"]),
    ("Her last period was in August 2024.", ["August 2024"]),
    ("Biopsy scheduled for Sept 30.", ["Sept 30"]),
    # ages over 89
    ("She is a 94-year-old woman.", ["94-year-old"]),
    ("I'm 97 and still gardening.", ["97"]),
    ("93 yo male with chest pain", ["93 yo"]),
    ("Aged 101, lives alone.", ["101"]),
    ("He is ninety-two years old.", ["ninety-two"]),
    # phones
    ("Call me at (617) 555-0142 anytime.", ["555-0142", "617"]),
    ("My cell is 617-555-0199.", ["617-555-0199"]),
    ("Reach the office at 617.555.0123 ext. 45.", ["617.555.0123"]),
    ("My number is +1 415 555 2671.", ["415 555 2671"]),
    ("UK mobile +44 20 7946 0958", ["7946 0958"]),
    ("Fax 1-800-555-0199 for records.", ["1-800-555-0199"]),
    ("Text me on 4155552671.", ["4155552671"]),
    # emails, URLs, IPs
    ("Email helena.k@gmail.com with results.", ["helena.k@gmail.com"]),
    ("Write to j_smith+clinic@uni-hospital.org.uk please.", ["j_smith+clinic@uni-hospital.org.uk"]),
    ("My blog is https://helenaskitchen.blogspot.com/posts/1", ["helenaskitchen"]),
    ("Check www.kowalczykfamily.net for photos.", ["kowalczykfamily"]),
    ("The portal logged IP 192.168.14.201 at login.", ["192.168.14.201"]),
    ("IPv6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 came up.", ["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]),
    # addresses, places, zip codes
    ("I live at 42 Maple Street, Apt 3B, Springfield, IL 62704.", ["42 Maple", "Springfield", "62704"]),
    ("Send it to 1600 N. Larkspur Ave. please.", ["1600", "Larkspur"]),
    ("Our place is 7 Old Mill Rd, Unit 12.", ["Old Mill", "Unit 12"]),
    ("Mail goes to P.O. Box 3318.", ["3318"]),
    ("I live in Hattiesburg with my sister.", ["Hattiesburg"]),
    ("We moved here from Tallahassee last year.", ["Tallahassee"]),
    ("My zip code is 02139.", ["02139"]),
    ("Billing ZIP 94110-2231.", ["94110-2231"]),
    # record numbers
    ("MRN 00482913", ["00482913"]),
    ("Medical record number: A-7742915.", ["7742915"]),
    ("SSN 123-45-6789 on file.", ["123-45-6789"]),
    ("Social security number 987654321.", ["987654321"]),
    ("Account #: ACC-99812.", ["99812"]),
    ("Member ID XJH448812 for the insurance.", ["XJH448812"]),
    ("Policy number 55-0192-77.", ["55-0192-77"]),
    ("License number D1234567.", ["D1234567"]),
    ("Chart no. 77120", ["77120"]),
    ("The lab reference is 4471203 for that draw.", ["4471203"]),
]

CLINICAL_KEEP = [
    "BP 142/88",
    "pulse 78",
    "temp 98.6",
    "500 mg",
    "metformin",
    "Parkinson's disease",
    "X-Ray",
    "A1c 7.2%",
    "for 2 weeks",
    "WBC 11000",
    "SpO2 97%",
    "45-year-old",
    "in 1998",
]

CLINICAL_TEXT = (
    "45-year-old with Parkinson's disease, on metformin 500 mg twice daily for 2 weeks. BP 142/88, pulse 78, "
    "temp 98.6, SpO2 97%. A1c 7.2%. WBC 11000. Will order an X-Ray. May need follow up. Diagnosed in 1998."
)

HARD_CASES: dict[str, list[tuple[str, list[str]]]] = {
    "name, non-ASCII": [
        ("My name is Zoë Ølstad.", ["Zoë", "Ølstad"]),
        ("Good morning, Mrs. Nguyễn.", ["Nguyễn"]),
        ("I'm Dr. Łukasiewicz from cardiology.", ["Łukasiewicz"]),
        ("Hi Søren, have a seat.", ["Søren"]),
        ("Patient name: José Martín Peña", ["José", "Martín", "Peña"]),
        ("My wife, Françoise, keeps my pill box.", ["Françoise"]),
        ("Mr. Öztürk brought his scans.", ["Öztürk"]),
        ("This is Dr. Müller-Lüdenscheidt calling back.", ["Müller-Lüdenscheidt"]),
        ("Emergency contact: Đorđe Šimić", ["Đorđe", "Šimić"]),
        ("Hello Ngozi, how was the trip?", ["Ngozi"]),
        ("My name is Siobhán Ní Bhriain.", ["Siobhán"]),
        ("Ms. Ramírez-Núñez is here for her follow-up.", ["Ramírez-Núñez"]),
        ("My daughter Ingrid Åkesson drove me.", ["Ingrid", "Åkesson"]),
        ("I'm Ævar, the patient's brother.", ["Ævar"]),
        ("Mrs. Jovanović, your results are in.", ["Jovanović"]),
        ("My name is Björn Þórsson.", ["Björn", "Þórsson"]),
        ("Good afternoon, Mr. Çelik.", ["Çelik"]),
        ("My name is Анна Петрова.", ["Анна", "Петрова"]),
        ("Hi, Dr. Ōtsuka.", ["Ōtsuka"]),
    ],
    "name, lowercase after kinship word": [
        ("my husband reginald gives me my insulin", ["reginald"]),
        ("my daughter, priyanka, set up the portal", ["priyanka"]),
        ("my son tobias drove me here today", ["tobias"]),
        ("my wife marguerite noticed the rash first", ["marguerite"]),
        ("my mom, evangeline, had the same thing", ["evangeline"]),
        ("my brother dashiell is a nurse", ["dashiell"]),
        ("my neighbour, wilhelmina, checks on me", ["wilhelmina"]),
        ("my granddaughter saoirse stays with me", ["saoirse"]),
        ("my partner, lorcan, will pick me up", ["lorcan"]),
        ("my sister ottoline said i looked pale", ["ottoline"]),
        ("my dad bartholomew had a stroke at 60", ["bartholomew"]),
        ("my caregiver, esperanza, gives me the pills", ["esperanza"]),
        ("my friend thaddeus told me to come in", ["thaddeus"]),
        ("my nephew kristof helps with groceries", ["kristof"]),
        ("my aunt philippa has diabetes too", ["philippa"]),
    ],
    "name, full name without a cue word": [
        ("Rosalind Featherstonehaugh was seen today for knee pain.", ["Rosalind", "Featherstonehaugh"]),
        ("Referral letter for Aurelio Benedetti, 61, with gout.", ["Aurelio", "Benedetti"]),
        ("Seen with Kwabena Mensah-Bonsu at the bedside.", ["Kwabena", "Mensah-Bonsu"]),
        ("Results were faxed to Dolores Umbridge-Haversham.", ["Dolores", "Umbridge-Haversham"]),
        ("Cc: Leopold Vanderbilt, Oksana Petrenko", ["Leopold", "Vanderbilt", "Oksana", "Petrenko"]),
        ("Follow up with Ines Castellanos in two weeks.", ["Ines", "Castellanos"]),
        ("Discussed with Tamsin Holloway, the daughter.", ["Tamsin", "Holloway"]),
        ("Spoke to Bartholomew Quigley about the biopsy.", ["Bartholomew", "Quigley"]),
        ("Magdalena Wiśniewska, 58, presents with dyspnea.", ["Magdalena", "Wiśniewska"]),
        ("Forwarded to Hamish McGillicuddy for review.", ["Hamish", "McGillicuddy"]),
        ("signed by Anneliese Brandauer", ["Anneliese", "Brandauer"]),
        ("Seen alongside Cosimo Albertini.", ["Cosimo", "Albertini"]),
        ("hi , susan , how are you ?", ["susan"]),
        ("okay , mister thompson , let's take a look", ["thompson"]),
        ("thank you , doctor moore .", ["moore"]),
    ],
    "date": [
        ("Admitted 14-Mar-2024 with sepsis.", ["14-Mar-2024"]),
        ("Last colonoscopy 02-NOV-21, normal.", ["02-NOV-21"]),
        ("Seen on 3 Mar 2023.", ["3 Mar 2023"]),
        ("born march fourteenth, nineteen fifty-six", ["march fourteenth"]),  # a year alone is no identifier
        ("the surgery was on the third of may", ["third of may"]),
        ("it started on june 5th", ["june 5th"]),
        ("I was born in july of 1956", ["july of 1956"]),
        ("My birthday is the twenty-first of October.", ["twenty-first of October"]),
        ("Her DOB is 1/2/1960.", ["1/2/1960"]),
        ("Next visit 2024.05.17 at nine.", ["2024.05.17"]),
        ("Scan done on Monday, 4 December 2023.", ["4 December 2023"]),
        ("we did the echo on january the 9th", ["january the 9th"]),
        ("DOB 19560314", ["19560314"]),
        ("Started insulin 11/2019.", ["11/2019"]),
        ("Discharged on Sept. 2nd, 2022.", ["Sept. 2nd, 2022"]),
        ("Seen 2/3 by cardiology, date of birth 5/21/1969.", ["5/21/1969"]),
        ("her birthday is december twenty-fifth", ["december twenty-fifth"]),
        ("Follow-up 30-Jun-2025.", ["30-Jun-2025"]),
        ("surgery 7th July 2021", ["7th July 2021"]),
    ],
    "email, spelled out or plain": [
        ("Email me at john dot smith at gmail dot com.", ["john dot smith at gmail dot com"]),
        ("it's helena underscore k at outlook dot com", ["helena underscore k at outlook dot com"]),
        ("my email is jsmith at yahoo dot com", ["jsmith at yahoo dot com"]),
        ("You can reach me at maria.lopez AT hospital DOT org.", ["maria.lopez AT hospital DOT org"]),
        ("send it to r-patel@nhs.net", ["r-patel@nhs.net"]),
        ("Contact: ZOE.OLSTAD@EXAMPLE.NO", ["ZOE.OLSTAD@EXAMPLE.NO"]),
        ("my email is k dot obrien at icloud dot com", ["k dot obrien at icloud dot com"]),
        ("email: andrés.garcía@correo.es", ["andrés.garcía@correo.es"]),
    ],
    "phone": [
        ("my number is six one seven, five five five, zero one four two", ["six one seven, five five five"]),
        ("Call 617 555 0142 after five.", ["617 555 0142"]),
        ("Phone: (212)555-0187", ["555-0187"]),
        ("mobile 07700 900123", ["07700 900123"]),
        ("Pager 4-4721 on call.", ["4-4721"]),
        ("Her cell: +49 30 901820.", ["901820"]),
        ("call the office at 555-0199", ["555-0199"]),
        ("Phone 617-555-0142 x204", ["617-555-0142"]),
    ],
    "address": [
        ("i live at 42 maple street in springfield", ["42 maple street"]),
        ("We're at 1600 Pennsylvania Avenue NW.", ["1600 Pennsylvania Avenue"]),
        ("Ship to 221B Baker Street, London NW1 6XE.", ["221B Baker Street", "NW1 6XE"]),
        ("Address: 77 Rue de Rivoli, 75001 Paris", ["77 Rue de Rivoli", "75001"]),
        ("my apartment is 9 elm court, unit 4", ["9 elm court"]),
        ("She lives in Skokie.", ["Skokie"]),
        ("He moved to Wichita Falls last spring.", ["Wichita Falls"]),
        ("I'm from Kraków originally.", ["Kraków"]),
        ("Lives at 350 Fifth Ave, New York, NY 10118.", ["350 Fifth Ave", "10118"]),
        ("Home: 12 Oak Lane, Bristol BS8 1TH", ["12 Oak Lane", "BS8 1TH"]),
    ],
    "record number": [
        ("MRN is 4471203.", ["4471203"]),
        ("medical record number 0 0 4 8 2 9 1 3", ["0 0 4 8 2 9 1 3"]),
        ("mrn: a-77412", ["77412"]),
        ("Patient ID: PT-20231187", ["20231187"]),
        ("NHS number 943 476 5919", ["943 476 5919"]),
        ("Medicare number 1EG4-TE5-MK72.", ["1EG4-TE5-MK72"]),
        ("my insurance id is XYZ123456789", ["XYZ123456789"]),
        ("SSN: 123 45 6789", ["123 45 6789"]),
        ("Driver's license B7734-19920", ["B7734-19920"]),
        ("Encounter #884213", ["884213"]),
        ("Account number 0049-3381-22", ["0049-3381-22"]),
        ("Claim number CLM-5562019", ["5562019"]),
    ],
    "age over 89, url, ip": [
        ("A 91 year old man with a fall.", ["91"]),
        ("She'll be 104 in June.", ["104"]),
        ("ninety-six years young", ["ninety-six"]),
        ("See my page at facebook.com/helena.kowalczyk", ["helena.kowalczyk"]),
        ("Logged in from 10.12.4.201.", ["10.12.4.201"]),
    ],
}

SUITE: list[tuple[str, str, list[str]]] = [
    (kind, text, ids) for kind, cases in HARD_CASES.items() for text, ids in cases
]
_KINDS = (
    ("name", 11), ("date", 10), ("age over 89", 5), ("phone", 7), ("email, url, ip", 6), ("address", 8),
    ("record number", 10),
)  # fmt: skip
_start = 0
for _kind, _count in _KINDS:
    SUITE += [(_kind, text, ids) for text, ids in IDENTIFIER_CASES[_start : _start + _count]]
    _start += _count
assert _start == len(IDENTIFIER_CASES), "every original case has a kind"
