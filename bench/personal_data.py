"""Precision and recall of the personal-data detector, per kind, on a labelled corpus that this
bench generates itself with Faker (several locales; values written and spoken as a speech
recogniser writes them; near misses that must not be flagged), never the sandbox's seeds.

    python bench/personal_data.py [--sentences 6000] [--seed 1]

Each sentence embeds at most one labelled value in a support-call line, or a near miss (an
order number that fails the Luhn check, a tracking code, a price, a time, a year, a date with
no word about birth, an IBAN with a wrong check digit, a phone-like run of too few digits), or
nothing. A finding counts as a true positive when it has the value's kind and overlaps its
span; any other finding of that kind is a false positive. Phone numbers are Faker's, kept
when libphonenumber calls them valid numbers of their country (a caller's own number is one);
Faker's other values are valid by construction (Luhn, mod 97, the SSA's and ABA's rules).

Targets: precision and recall >= 0.97 for card numbers, IBANs and e-mails; >= 0.95 for phone
numbers, SSNs and dates of birth. Also printed: detection time per sentence.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

import django  # noqa: E402

django.setup()

import phonenumbers  # noqa: E402
from faker import Faker  # noqa: E402

from transcriptions.personal_data import Kind, detect  # noqa: E402

TARGETS = {
    Kind.CARD_NUMBER: 0.97,
    Kind.IBAN: 0.97,
    Kind.EMAIL: 0.97,
    Kind.PHONE_NUMBER: 0.95,
    Kind.SSN: 0.95,
    Kind.DATE_OF_BIRTH: 0.95,
}
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]
PHONE_REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES",
                "it_IT": "IT", "nl_NL": "NL"}  # fmt: skip
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FILLERS = (
    "Thanks for calling, how can I help today?",
    "Let me check that for you, bear with me.",
    "I was charged twice last month.",
    "The router keeps dropping the connection.",
    "Is there anything else I can help you with?",
    "I'll raise a ticket so you can follow it up.",
)


@dataclass
class Sentence:
    text: str
    kind: str | None = None
    start: int = 0
    end: int = 0


def spoken(digits: str, rng: random.Random) -> str:
    words, i = [], 0
    while i < len(digits):
        d = digits[i]
        if d.isdigit() and i + 1 < len(digits) and digits[i + 1] == d and rng.random() < 0.4:
            words.append(f"double {DIGIT_WORDS[int(d)]}")
            i += 2
            continue
        if d.isdigit():
            words.append("oh" if d == "0" and rng.random() < 0.5 else DIGIT_WORDS[int(d)])
        i += 1
    return " ".join(words)


def grouped(digits: str, rng: random.Random) -> str:
    sep = rng.choice((" ", "-", ""))
    size = 4
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


def embed(template: str, value: str, kind: str | None, rng: random.Random) -> Sentence:
    before = rng.choice(FILLERS) + " " if rng.random() < 0.6 else ""
    after = " " + rng.choice(FILLERS) if rng.random() < 0.6 else ""
    head, tail = template.split("{}")
    text = f"{before}{head}{value}{tail}{after}"
    start = len(before) + len(head)
    return Sentence(text, kind, start, start + len(value))


def valid_phone(fake: Faker, region: str) -> str | None:
    for _ in range(20):
        number = fake.phone_number()
        if "x" in number.lower():
            continue
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return number
    return None


def positive(fakes: dict[str, Faker], rng: random.Random) -> Sentence | None:
    locale = rng.choice(LOCALES)
    fake = fakes[locale]
    us = fakes["en_US"]
    kind = rng.choice(list(TARGETS))
    say = rng.random() < 0.35  # spoken, as a recogniser writes speech
    if kind == Kind.CARD_NUMBER:
        digits = us.credit_card_number(card_type=rng.choice(["visa", "mastercard", "amex"]))
        value = spoken(digits, rng) if say else grouped(digits, rng)
        return embed(rng.choice(("My card number is {}.", "It's the card {} please.")), value,
                     kind, rng)  # fmt: skip
    if kind == Kind.IBAN:
        value = fake.iban() if locale != "en_US" else fakes["en_GB"].iban()
        if rng.random() < 0.5:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return embed(rng.choice(("My IBAN is {}.", "Pay it into {} thanks.")), value, kind, rng)
    if kind == Kind.EMAIL:
        address = fake.email()
        if say:
            local, domain = address.split("@")
            value = f"{local.replace('.', ' dot ')} at {domain.replace('.', ' dot ')}"
        else:
            value = address
        return embed(rng.choice(("My e-mail is {}.", "Send it to {} please.")), value, kind, rng)
    if kind == Kind.PHONE_NUMBER:
        number = valid_phone(fake, PHONE_REGION[locale])
        if number is None:
            return None
        if say and not number.startswith("+"):
            value = spoken(number, rng)
        else:
            value = number
        return embed(rng.choice(("Call me back on {}.", "My number is {} ok.")), value, kind,
                     rng)  # fmt: skip
    if kind == Kind.SSN:
        number = us.ssn()
        value = spoken(number, rng) if say else number
        return embed(rng.choice(("My social security number is {}.", "SSN {} for the file.")),
                     value, kind, rng)  # fmt: skip
    born = us.date_of_birth(minimum_age=18, maximum_age=90)
    value = rng.choice(
        (
            born.strftime("%B %-d, %Y"),
            born.strftime("%m/%d/%Y"),
            born.strftime("%-d %B %Y"),
            born.isoformat(),
        )
    )
    return embed(rng.choice(("I was born on {}.", "Date of birth {}.", "My birthday is {}.")),
                 value, kind, rng)  # fmt: skip


def near_miss(fakes: dict[str, Faker], rng: random.Random) -> Sentence:
    us = fakes["en_US"]
    kind = rng.randrange(8)
    if kind == 0:
        digits = us.credit_card_number(card_type="visa")
        wrong = digits[:-1] + str((int(digits[-1]) + rng.randrange(1, 10)) % 10)
        return embed("Your order number is {}.", grouped(wrong, rng), None, rng)
    if kind == 1:
        return embed("Tracking code {} on the parcel.", us.bothify("1Z###??##########").upper(),
                     None, rng)  # fmt: skip
    if kind == 2:
        return embed("The total was {} this month.", us.pricetag(), None, rng)
    if kind == 3:
        return embed("The engineer comes at {} tomorrow.", us.time("%H:%M"), None, rng)
    if kind == 4:
        return embed("I've been a customer since {}.", us.year(), None, rng)
    if kind == 5:
        return embed("The letter is dated {}.", us.date("%m/%d/%Y"), None, rng)
    if kind == 6:
        iban = fakes["de_DE"].iban()
        wrong = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
        return embed("Reference {} on the statement.", wrong, None, rng)
    return embed("Extension {} please.", str(rng.randrange(100, 99999)), None, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=1, help="misses to print per kind")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    fakes = {locale: Faker(locale) for locale in LOCALES}
    for index, fake in enumerate(fakes.values()):
        fake.seed_instance(args.seed * 100 + index)
    corpus: list[Sentence] = []
    while len(corpus) < args.sentences:
        roll = rng.random()
        if roll < 0.6:
            sentence = positive(fakes, rng)
            if sentence is not None:
                corpus.append(sentence)
        elif roll < 0.85:
            corpus.append(near_miss(fakes, rng))
        else:
            corpus.append(Sentence(rng.choice(FILLERS)))

    true_pos: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    missed_examples: dict[str, list[str]] = {}
    wrong_examples: dict[str, list[str]] = {}
    started = time.perf_counter()
    results = [detect(s.text) for s in corpus]
    elapsed = time.perf_counter() - started
    for sentence, findings in zip(corpus, results, strict=True):
        if sentence.kind:
            labelled[sentence.kind] += 1
        hit = False
        for f in findings:
            if f.kind not in TARGETS:
                continue
            overlaps = f.start < sentence.end and sentence.start < f.end
            if f.kind == sentence.kind and overlaps:
                hit = True
            else:
                false_pos[f.kind] += 1
                wrong_examples.setdefault(f.kind, []).append(sentence.text)
        if sentence.kind and hit:
            true_pos[sentence.kind] += 1
        elif sentence.kind:
            missed_examples.setdefault(sentence.kind, []).append(sentence.text)

    print(
        f"corpus: {len(corpus):,} sentences ({sum(labelled.values()):,} with a labelled value, "
        f"locales {', '.join(LOCALES)}), seed {args.seed}"
    )
    print(f"detection: {elapsed / len(corpus) * 1e6:.0f} us a sentence")
    header = f"{'kind':<16} {'labelled':>8} {'found':>6} {'wrong':>6}"
    print(f"{header} {'precision':>9} {'recall':>7}  target")
    all_met = True
    for kind, target in TARGETS.items():
        tp, fp, n = true_pos[kind], false_pos[kind], labelled[kind]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / n if n else 1.0
        met = precision >= target and recall >= target
        all_met &= met
        print(
            f"{kind:<16} {n:>8} {tp:>6} {fp:>6} {precision:>9.3f} {recall:>7.3f}  "
            f">= {target:.2f}: {'yes' if met else 'NO'}"
        )
    for kind, texts in missed_examples.items():
        for text in texts[: args.examples]:
            print(f"missed {kind}, e.g.: {text!r}")
    for kind, texts in wrong_examples.items():
        for text in texts[: args.examples]:
            print(f"wrongly {kind}, e.g.: {text!r}")
    print(f"every target met: {'yes' if all_met else 'NO'}")


if __name__ == "__main__":
    main()
