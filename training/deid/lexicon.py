"""Word lists the de-identifier uses: common names, words that are never names, speaker roles.

Small on purpose: context rules (titles, "my name is", greetings, relatives, speaker labels)
find most names; the lists catch a bare name said once without context.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMMON_FIRST_NAMES = _words(
    """
    James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony
    Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Jacob
    Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick
    Raymond Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas Zachary Peter Kyle Noah Ethan Jeremy Walter
    Christian Keith Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence Jordan Jesse Bryan Billy
    Bruce Gabriel Logan Alan Juan Albert Willie Elijah Wayne Randy Vincent Mason Roy Ralph Bobby Russell Bradley
    Philip Eugene Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty
    Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Dorothy Rebecca
    Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela Nicole Samantha Katherine Christine
    Helen Debra Rachel Carolyn Janet Maria Catherine Heather Diane Olivia Julie Joyce Victoria Ruth Virginia
    Lauren Kelly Christina Joan Evelyn Judith Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria
    Sara Janice Ann Kathryn Abigail Sophia Frances Jean Alice Judy Isabella Julia Denise Amber Doris Marilyn
    Danielle Beverly Theresa Diana Natalie Brittany Charlotte Marie Kayla Alexis Lori Priya Raj Rahul Anil
    Mohammed Muhammad Ahmed Ali Fatima Aisha Omar Hassan Wei Li Mei Hiroshi Yuki Kenji Sofia Carlos Luis Miguel
    Jorge Pedro Ana Lucia Carmen Rosa Elena Javier Diego Alejandro Ivan Dmitri Olga Svetlana Nikolai Chen Ming
    Aditya Arjun Deepak Sanjay Sunita Lakshmi Kwame Amara Chinedu Ngozi Oluwaseun Tariq Yusuf Leila Nadia
    """
)

COMMON_LAST_NAMES = _words(
    """
    Smith Johnson Williams Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson
    Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
    Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell
    Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales
    Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward
    Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
    Patel Myers Long Ross Foster Jimenez Kowalski Nowak Schmidt Mueller Rossi Russo Ivanov Petrov Singh Kumar
    Sharma Gupta Shah Khan Chowdhury Wang Zhang Liu Chen Yang Huang Zhao Wu Zhou Tanaka Suzuki Sato Watanabe
    Yamamoto Park Choi Okafor Adeyemi Mensah Haddad Nasser Cohen Levi Friedman Oconnor O'Connor O'Brien Murray
    Sullivan Kennedy Brennan Fitzgerald
    """
)

# Names that are also ordinary English (or clinical) words: replaced only when context marks
# them as names, and then only in their capitalised form.
AMBIGUOUS_NAMES = _words(
    """
    will may june april august bill mark rose grace hope faith joy sue pat art jack frank don gene ray dawn
    summer rich guy chase hunter sandy penny ruby amber crystal daisy iris lily ivy holly autumn winter
    brown young long hill green king white gray grey cook wood price reed rich bell hall park ward sharp
    carter turner baker miller taylor walker cooper parker hunter fisher mason wells banks lane rivers
    love may bishop major page short little moore gay marshall case cash christian jean li wei
    """
)

# Capitalised words that context rules might grab but that are never names here.
NOT_NAMES = _words(
    """
    I I'm I've I'll I'd The A An And But Or So Yes No Ok Okay OK Well Um Uh Oh Hi Hello Hey Thanks Thank You Your
    My Me We Us Our They Them He She It Its This That These Those There Here What When Where Why How Who Which
    Good Great Fine Sure Right Alright Sorry Please Bye Goodbye Morning Afternoon Evening Night Today Tomorrow
    Yesterday Doctor Doc Dr Nurse Patient Sir Madam Maam Ma'am Miss Everyone Everybody Team Folks Guys All
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June July August
    September October November December Subjective Objective Assessment Plan Patient's Pt Hx Dx Rx Tx BP HR RR
    Not Just Also Now Then Again Still Back Come Go Let Lets Let's Nice See Take Care Welcome Is Was Am Are Be
    Have Has Had Do Does Did Can Could Would Should Will Shall Might Must Mister Mrs Mr Ms Mx Dear Sweetie Honey
    Been Being Feeling Doing Going Coming Calling Here's There's That's It's Glad Happy Sad Worried Fever Pain
    Chest Head Back Stomach Emergency Department Clinic Hospital Urgent Care Pharmacy Medicare Medicaid Insurance
    Street Avenue Road Lane Drive Boulevard Tylenol Advil Motrin Aspirin Lisinopril Metformin Ibuprofen Covid
    COVID Christmas Easter Thanksgiving God Lord Jesus English Spanish American Mexican Chinese Indian Reports
    Denies Exam Vitals Labs History Medications Allergies Follow Return Continue Start Stop Increase Decrease
    Discussed Reviewed Noted Normal Abnormal Negative Positive Mild Moderate Severe Acute Chronic Left Bilateral
    Upper Lower Anterior Posterior Has Presents Presenting Reported States Per Likely Possible Probable Rule
    Primary Secondary Type Stage Grade New Old Recent Early Late First Second Third Last Next Previous Other
    """
)

# A name followed by this is an eponym, not a person: "Parkinson's disease", "Bell palsy".
EPONYM_CONTEXT = (
    r"(?:'s|’s)?\s+(?:disease|syndrome|palsy|sign|test|maneuver|manoeuvre|reflex|phenomenon|criteria|score|"
    r"scale|law|lymphoma|sarcoma|tumou?r|fracture|ulcer|triad|classification|procedure|operation|node|"
    r"esophagus|thyroiditis|disorder|contracture|deformity)\b"
)

ROLE_SPEAKERS = _words(
    """
    doctor patient nurse clinician physician provider parent mother father mom dad caregiver carer interpreter
    translator assistant spouse wife husband partner daughter son family relative friend guardian np pa md do
    rn resident student attending fellow pharmacist therapist technician tech scribe other unknown speaker
    speaker1 speaker2 speaker3 speaker_1 speaker_2 clinician1 patient1 receptionist staff dr. dr
    """
)

US_STATES = _words(
    """
    AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK
    OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC
    """
)


def _load(name: str) -> frozenset[str]:
    """A shipped word list (data/NAME), one word a line, `#` comments."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent / "data" / name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


# Words the big name lists contain that are clinical, calendar or geographic words in our texts:
# drugs, eponyms used as things (a Foley catheter, a Gleason score), months, days, languages.
NOT_NAMES_EXTENDED = _words(
    """
    Allegra Foley Gleason Parkinson Hodgkin Crohn Cushing Hashimoto Alzheimer Apgar Babinski
    Homans Kernig Lachman McMurray Phalen Tinel Romberg Down Raynaud Sjogren Tourette
    Wernicke Korsakoff Guillain Barre Kawasaki Marfan Paget Dupuytren Colles Osgood Schlatter
    Heberden Bouchard Brudzinski Finkelstein Neer Spurling Trendelenburg Valsalva
    Epley Holter Doppler Swan Ganz Hickman Mallory Weiss Zenker Meckel Hirschsprung Wolff Parkinson's
    January February March April May June July August September October November December Monday Tuesday
    Wednesday Thursday Friday Saturday Sunday English German Danish Dutch French Spanish Italian Polish
    Russian Chinese Japanese Korean Arabic Hindi America American North South East West Carolina Dakota
    Georgia Virginia Texas Arizona Tennessee Maine Florida Jersey York Santa San Saint Grand Haven Cross
    Mercy Genesis Harmony Marine Chip Tab Fed Mart Wal Helm Okey Dey Mina Lin Genesis Medical Health General
    Memorial Regional Valley University Christian Care Family Heart Cancer Center Centre Hope Faith Grace Joy
    Patience Charity Sunny Brook Summer Winter Autumn Spring Rose Ivy Lily Daisy Holly Iris Ruby Amber Crystal
    Dawn Penny Sandy Rich Will Mark Bill Art Frank Don Guy Chase Hunter Pat Sue Ray Gene Jack Case Cash Major
    Page Short Little Long Young White Green Brown Gray Grey Black King Price Reed Wood Cook Hall Park Ward Sharp
    Wells Banks Lane Rivers Love Bishop Gay Marshall Early Late Best Strong Hardy Bright Sweet Moody Free Icy Hot
    """
)

FIRST_NAMES_EXTENDED = frozenset(w for w in _load("first_names.txt") if len(w) >= 3) - NOT_NAMES_EXTENDED
LAST_NAMES_EXTENDED = frozenset(w for w in _load("last_names.txt") if len(w) >= 3) - NOT_NAMES_EXTENDED
# lower-case lookups for transcripts written without capitals ("my husband reginald")
NAMES_LOWER = frozenset(w.lower() for w in FIRST_NAMES_EXTENDED | LAST_NAMES_EXTENDED | COMMON_FIRST_NAMES
                        | COMMON_LAST_NAMES) - {w.lower() for w in AMBIGUOUS_NAMES | NOT_NAMES_EXTENDED}  # fmt: skip

# Verbs that follow a relative's name in lower-case transcripts: "my brother dashiell is a nurse".
NAME_FOLLOWERS = _words(
    """
    is was has had said says told tells drove drives brought brings gave gives takes took helps helped stays
    lives lived works worked noticed notices thinks thought wants wanted came comes called calls made makes
    checks picks will can would could does did died passed
    """
)

# Words that follow "my husband" but are not his name ("my husband always drives").
NOT_AFTER_RELATIVE = _words(
    """
    always usually never often also just really sometimes still actually even now then too here there who that
    which he she they we you it this the a an his her my our their and or but so because when if
    """
)
