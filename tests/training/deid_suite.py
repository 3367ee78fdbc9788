"""A suite of realistic identifier forms for the de-identification tests.

Each case is (sentence, identifiers that must not survive). `CLINICAL_KEEP` lists clinical
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
