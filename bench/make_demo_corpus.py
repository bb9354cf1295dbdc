"""Build the finance-monitor demo corpus: the hand-written headlines plus sentences composed from invented parts.

    python bench/make_demo_corpus.py            # rewrites plugins/finance_monitor/demo_data/{train,dev}.csv

The hand-written headlines (``headlines.csv`` in the demo folder, written for tlsuite) are kept as they are. The
composed sentences are news leads in the register of company announcements: result lines with a comparison (a
rise is good news, a fall, a halving, a widening loss or a swing into loss is bad news, a narrowing loss is good
news, a cost rise is bad and a cost cut is good), figures without a comparison (neutral), contracts, outlooks
(raised, cut, "does not expect ... to grow"), job cuts, appointments, dates, descriptions of a business. Every
company, person, place and figure is invented here; no sentence is taken from or modelled on a data set
(``tests/plugins/finance_monitor/test_demo_data.py`` checks that none is close to a Financial PhraseBank
sentence). Deterministic: the same script writes the same files.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "plugins" / "finance_monitor" / "demo_data"
PER_LABEL = {"positive": 280, "neutral": 340, "negative": 280}
DEV_SHARE = 0.1

STEMS = (
    "Arvela Brook Calder Dunmore Elmstead Farrow Garnet Hollin Islay Jarrow Kelby Larkspur Merrow Norland Oakridge "
    "Pellow Quarry Rydal Selwick Tamber Ulvik Varden Wexley Yarrow Zeller Ashcombe Belmar Corvina Delphin Estover "
    "Fairholt Glenmore Harlan Ivora Juniper Kestrel Lindqvist Marlow Nettleton Orwell Pryor Roskilde Saltmarsh "
    "Thorne Upland Vireo Whitcombe Aldmere Brantley Cobalt Dovecote Eskdale Falkner Grisedale Holmfirth Ingleby"
).split()
KINDS = {
    "Bank": "bank",
    "Paper": "paper and packaging maker",
    "Steel": "steel maker",
    "Software": "software company",
    "Foods": "food group",
    "Marine": "marine equipment supplier",
    "Logistics": "logistics group",
    "Telecom": "telecoms operator",
    "Energy": "energy company",
    "Pharma": "drug maker",
    "Retail": "retail chain",
    "Cranes": "lifting equipment maker",
    "Insurance": "insurer",
    "Electronics": "electronics contract manufacturer",
    "Chemicals": "chemicals group",
    "Media": "media group",
    "Construction": "construction company",
    "Airlines": "airline",
    "Brewing": "brewer",
    "Mills": "sawmill operator",
}
PLACES = (
    "Tampere Uppsala Tartu Gdansk Aarhus Bergen Riga Vilnius Oulu Malmo Lahti Turku Kaunas Trondheim Espoo Poznan "
    "Linkoping Kotka Vaasa Odense Klaipeda Narva Pori Kuopio"
).split()
REGIONS = ("the Baltic countries", "Poland", "the Nordic region", "Germany", "central Europe", "Russia", "Asia")
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "SEK", "NOK", "GBP")
PERIODS = (
    ("the first quarter of {y}", "the first quarter of {p}"),
    ("the second quarter of {y}", "the second quarter of {p}"),
    ("the third quarter of {y}", "the third quarter of {p}"),
    ("the fourth quarter of {y}", "the fourth quarter of {p}"),
    ("January-March {y}", "January-March {p}"),
    ("January-June {y}", "January-June {p}"),
    ("January-September {y}", "January-September {p}"),
    ("the financial year {y}", "the financial year {p}"),
    ("{y}", "{p}"),
    ("the review period", "the same period a year earlier"),
)
GOOD_METRICS = (
    "net sales",
    "revenue",
    "operating profit",
    "net profit",
    "profit before taxes",
    "EBITDA",
    "order intake",
    "the order backlog",
    "comparable operating profit",
    "profit for the period",
    "operating cash flow",
    "sales volume",
)
COSTS = (
    "operating costs",
    "fixed costs",
    "personnel expenses",
    "raw material costs",
    "energy costs",
    "financing costs",
)
RISE = ("rose", "increased", "grew", "climbed", "went up", "improved", "jumped", "edged up", "surged")
FALL = ("fell", "decreased", "declined", "dropped", "went down", "shrank", "slumped", "slid", "contracted")
PRODUCTS = (
    "paper machine rolls",
    "container cranes",
    "ferry engines",
    "a data centre cooling plant",
    "hospital information systems",
    "wind turbine towers",
    "railway signalling",
    "steel for a motorway bridge",
    "automation for a pulp mill",
    "mobile network equipment",
    "a district heating plant",
    "cargo handling systems for three vessels",
    "payment terminals",
    "packaging lines",
)
ROLES = (
    "chief executive",
    "chief financial officer",
    "head of sales",
    "director of operations",
    "chair of the board",
    "head of investor relations",
    "managing director of the Polish unit",
)
FIRST = "Anna Mikael Liisa Jonas Petra Henrik Sofia Tomas Elina Markus Ingrid Oskar Katja Lars Helmi Daniel".split()
LAST = "Virtanen Lindholm Berg Nieminen Sandberg Aalto Krause Novak Holm Koskinen Ek Laine Dahl Ström Salo".split()
MONTHS = "January February March April May June July August September October November December".split()
OPENERS = ("", "", "", "", "{place} - ", "{day} {month} {y} - ", "In a stock exchange release, ", "Separately, ")
CLOSERS = (
    "",
    "",
    "",
    "",
    ", the company said",
    ", it said in a statement",
    ", according to the group",
    ", the company announced",
)


class Maker:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, seq):
        return self.r.choice(seq)

    def company(self) -> tuple[str, str]:
        kind = self.pick(list(KINDS))
        return f"{self.pick(STEMS)} {kind}", KINDS[kind]

    def amount(self, low: float = 2, high: float = 900) -> float:
        return round(self.r.uniform(low, high), 1)

    def money(self, value: float, cur: str) -> str:
        unit = self.pick(("mn", "million", "m"))
        return f"{cur} {value:.1f} {unit}" if unit != "m" else f"{cur}{value:.1f}m"

    def periods(self) -> tuple[str, str]:
        y = self.r.randint(2011, 2024)
        now, before = self.pick(PERIODS)
        return now.format(y=y, p=y - 1), before.format(y=y, p=y - 1)

    def frame(self, body: str) -> str:
        y = self.r.randint(2011, 2024)
        opener = self.pick(OPENERS).format(
            place=self.pick(PLACES).upper(), day=self.r.randint(1, 28), month=self.pick(MONTHS), y=y
        )
        closer = self.pick(CLOSERS) if not body.endswith(")") else ""
        first = body.split(" ", 1)[0]
        lower = opener.endswith(", ") and first in ("The", "At", "In", "After", "By", "Under")
        text = opener + (body[0].lower() + body[1:] if lower else body) + closer
        return text[0].upper() + text[1:] + "."

    def subject(self, metric: str) -> str:
        name, _ = self.company()
        return self.pick((f"{name}'s {metric}", f"The {metric} of {name}", f"At {name}, {metric}"))


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def change(m: Maker, up: bool) -> tuple[float, float, int]:
    a = m.amount()
    pct = m.r.randint(3, 85)
    b = round(a * (1 + pct / 100) if up else a * (1 - pct / 100), 1)
    return a, b, pct


def result_line(m: Maker, up: bool) -> str:
    """A good metric that rose (positive) or fell (negative), with the figures and the comparison period."""
    metric, cur = m.pick(GOOD_METRICS), m.pick(CURRENCIES)
    a, b, pct = change(m, up)
    verb = m.pick(RISE if up else FALL)
    now, before = m.periods()
    subj = m.subject(metric)
    forms = (
        f"{subj} {verb} to {m.money(b, cur)} in {now} from {m.money(a, cur)} in {before}",
        f"{subj} {verb} by {pct} % year on year to {m.money(b, cur)} in {now}",
        f"In {now}, {subj[0].lower() + subj[1:]} {verb} {pct} percent on the year",
        f"{subj} {verb} {pct} % in {now}, reaching {m.money(b, cur)}",
        f"{subj} totalled {m.money(b, cur)} in {now}, {'up' if up else 'down'} from {m.money(a, cur)} a year earlier",
        f"{subj} {verb} to {m.money(b, cur)}, compared with {m.money(a, cur)} in {before}",
    )
    return m.frame(m.pick(forms))


def loss_line(m: Maker, good: bool) -> str:
    """Losses: narrowing or a swing into profit is good news; widening or a swing into loss is bad news."""
    cur, (now, before) = m.pick(CURRENCIES), m.periods()
    name, _ = m.company()
    kind = m.pick(("net loss", "operating loss", "pre-tax loss", "loss per share"))
    a, b = m.amount(5, 300), 0.0
    if good:
        b = round(a * m.r.uniform(0.2, 0.8), 1)
        forms = (
            f"{name}'s {kind} narrowed to {m.money(b, cur)} in {now} from {m.money(a, cur)} in {before}",
            f"{name} cut its {kind} to {m.money(b, cur)} in {now}",
            f"{name} swung to an operating profit of {m.money(b, cur)} in {now} after a loss of {m.money(a, cur)}",
            f"{name} returned to profit in {now}, posting net earnings of {m.money(b, cur)}",
            f"{name}'s {kind} was smaller than a year ago, at {m.money(b, cur)}",
        )
    else:
        b = round(a * m.r.uniform(1.2, 3.0), 1)
        forms = (
            f"{name}'s {kind} widened to {m.money(b, cur)} in {now} from {m.money(a, cur)} in {before}",
            f"{name} swung to a net loss of {m.money(a, cur)} in {now} from a profit a year earlier",
            f"{name} posted an operating loss of {m.money(a, cur)} in {now}, compared with a profit in {before}",
            f"{name}'s {kind} deepened to {m.money(b, cur)} as demand weakened",
            f"{name} fell into the red in {now}, with a {kind} of {m.money(a, cur)}",
        )
    return m.frame(m.pick(forms))


def halving_line(m: Maker, good: bool) -> str:
    """Doubling and halving (of profit, sales or orders); halving a cost or a debt is good news."""
    name, _ = m.company()
    if good:
        thing = m.pick(("net profit", "order intake", "operating profit", "sales in Asia", "quarterly earnings"))
        forms = (
            f"{name}'s {thing} doubled in {m.periods()[0]}",
            f"{name} more than doubled its {thing}",
            f"{name} halved its {m.pick(('net debt', 'warranty costs', 'inventory write-downs', 'loss'))}",
        )
    else:
        thing = m.pick(("net profit", "order intake", "operating profit", "profit before taxes", "earnings per share"))
        forms = (
            f"{name}'s {thing} halved in {m.periods()[0]}",
            f"{name}'s {thing} was halved to {m.money(m.amount(), m.pick(CURRENCIES))}",
            f"{name} saw its {thing} halve as prices slumped",
            f"{name}'s {thing} fell by half",
            f"{name}'s {m.pick(('net debt', 'loss', 'warranty costs'))} doubled",
        )
    return m.frame(m.pick(forms))


def cost_line(m: Maker, good: bool) -> str:
    name, _ = m.company()
    cost, pct = m.pick(COSTS), m.r.randint(4, 40)
    if good:
        forms = (
            f"{name} lowered its {cost} by {pct} %, which lifted its margin",
            f"{name}'s savings programme cut {cost} by {m.money(m.amount(2, 60), m.pick(CURRENCIES))} a year",
            f"By closing two loss-making units, {name} will trim its {cost}",
        )
    else:
        forms = (
            f"{name}'s {cost} rose {pct} %, squeezing its margin",
            f"Higher {cost} weighed on {name}'s result",
            f"{name}'s margin weakened because {cost} went up faster than prices",
        )
    return m.frame(m.pick(forms))


def outlook_line(m: Maker, label: str) -> str:
    name, _ = m.company()
    metric, y = m.pick(GOOD_METRICS), m.r.randint(2012, 2025)
    forms = {
        "positive": (
            f"{name} raised its outlook and now expects {metric} to grow in {y}",
            f"{name} expects its {metric} for {y} to be clearly higher than last year",
            f"{name} upgraded its guidance for {y}, citing strong demand",
            f"{name} believes its {metric} will keep growing in {y}",
            f"{name}'s order book is stronger than at the same time last year",
            f"Analysts raised their price target for {name} after the upbeat forecast",
        ),
        "negative": (
            f"{name} lowered its outlook and now expects {metric} to decline in {y}",
            f"{name} does not expect its {metric} to grow in {y}",
            f"{name} issued a profit warning, saying {metric} for {y} will be below last year",
            f"{name} said its {metric} will not reach the level of the previous year",
            f"{name}'s {metric} fell short of market expectations",
            f"{name}'s {metric} did not improve in {y} despite the cost savings",
            f"{name} no longer expects its {metric} to increase in {y}",
            f"{name} cut its guidance for {y}, blaming weak demand",
        ),
        "neutral": (
            f"{name} repeated its earlier guidance for {y}",
            f"{name} expects its {metric} for {y} to stay at the level of last year",
            f"{name} will give its outlook for {y} with the annual accounts",
            f"{name} keeps its {y} forecast unchanged",
        ),
    }[label]
    return m.frame(m.pick(forms))


def deal_line(m: Maker, label: str) -> str:
    name, _ = m.company()
    other, other_kind = m.company()
    cur, value = m.pick(CURRENCIES), m.amount(1, 400)
    forms = {
        "positive": (
            f"{name} has won an order worth {m.money(value, cur)} to deliver {m.pick(PRODUCTS)}",
            f"{name} signed a {m.r.randint(2, 10)}-year contract with {other} to supply {m.pick(PRODUCTS)}",
            f"{name} will deliver {m.pick(PRODUCTS)} to a customer in {m.pick(REGIONS)}; the order lifts its backlog",
            f"{other} picked {name} as the sole supplier of {m.pick(PRODUCTS)}",
            f"{name}'s deal with {other} is expected to strengthen its position in {m.pick(REGIONS)}",
            f"After the purchase, {name} will become the largest {KINDS[name.split()[-1]]} in {m.pick(REGIONS)}",
        ),
        "negative": (
            f"{other} cancelled its order for {m.pick(PRODUCTS)} from {name}",
            f"{name} lost a {m.money(value, cur)} contract to a rival bidder",
            f"{name} has to pay {m.money(value, cur)} in damages after a court ruling",
            f"{name} wrote down the value of its stake in {other} by {m.money(value, cur)}",
            f"The delivery of {m.pick(PRODUCTS)} by {name} was delayed, and penalties are expected",
        ),
        "neutral": (
            f"{name} will acquire {other}, {article(other_kind)} {other_kind} based in {m.pick(PLACES)}; the price was not disclosed",
            f"The value of the contract between {name} and {other} was not disclosed",
            f"{name} sold its {m.pick(PLACES)} unit to {other}",
            f"{name} and {other} signed a letter of intent on {m.pick(PRODUCTS)}",
            f"{name} will invest {m.money(value, cur)} in a new line at its {m.pick(PLACES)} site",
            f"Under the agreement, {other} will handle {name}'s deliveries in {m.pick(REGIONS)}",
            f"The sale of {other} to {name} still needs clearance from competition authorities",
        ),
    }[label]
    return m.frame(m.pick(forms))


def staff_line(m: Maker, label: str) -> str:
    name, _ = m.company()
    n, place = m.r.randint(15, 900), m.pick(PLACES)
    person, role = f"{m.pick(FIRST)} {m.pick(LAST)}", m.pick(ROLES)
    forms = {
        "positive": (
            f"{name} will hire {n} people for its new plant in {place}",
            f"{name} is adding {n} jobs in {place} as orders pick up",
        ),
        "negative": (
            f"{name} will cut up to {n} jobs in {place}",
            f"{name} plans to lay off {n} workers and close its {place} plant",
            f"{name} started talks with staff representatives on as many as {n} redundancies",
            f"Production at {name}'s {place} mill was halted by a strike",
            f"{name} will temporarily lay off its {place} staff because of weak demand",
        ),
        "neutral": (
            f"{person} has been appointed {role} of {name}",
            f"{name} named {person} as its new {role}, starting in {m.pick(MONTHS)}",
            f"{name} employs about {n} people in {m.r.randint(2, 30)} countries",
            f"{person} will stay on as {role} of {name} until a successor is found",
        ),
    }[label]
    return m.frame(m.pick(forms))


def neutral_fact(m: Maker) -> str:
    """Figures without a comparison, dates, listings, descriptions: no direction for an investor."""
    name, kind = m.company()
    cur, (now, _) = m.pick(CURRENCIES), m.periods()
    y, place = m.r.randint(2011, 2025), m.pick(PLACES)
    forms = (
        f"{name}'s {m.pick(GOOD_METRICS)} totalled {m.money(m.amount(), cur)} in {now}",
        f"{name}'s {m.pick(GOOD_METRICS)} was {m.money(m.amount(), cur)}, unchanged from a year earlier",
        f"{name} is {article(kind)} {kind} based in {place}",
        f"{name} is {article(kind)} {kind} with operations in {m.pick(REGIONS)} and {m.pick(REGIONS)}",
        f"{name} will publish its interim report for {now} on {m.r.randint(1, 28)} {m.pick(MONTHS)}",
        f"{name}'s annual general meeting will be held in {place} on {m.r.randint(1, 28)} {m.pick(MONTHS)} {y}",
        f"{name}'s board proposes a dividend of {cur} {m.r.randint(5, 90) / 100:.2f} per share",
        f"{name}'s shares are listed on the {place} stock exchange",
        f"{name} makes {m.pick(PRODUCTS)} at {m.r.randint(2, 9)} plants",
        f"The new plant of {name} will have an annual capacity of {m.r.randint(10, 900) * 100} tonnes",
        f"{name} operates {m.r.randint(12, 400)} stores in {m.pick(REGIONS)}",
        f"{name} has about {m.r.randint(500, 90000)} shareholders",
        f"{name}'s head office is in {place}",
        f"{name} reports its results in {cur}",
        f"The share capital of {name} consists of {m.r.randint(10, 400)} million shares",
        f"{name} was founded in {m.r.randint(1890, 2010)} and is owned by its management",
        f"{name}'s products are sold in {m.r.randint(8, 120)} countries",
        f"Trading in {name}'s new shares is expected to begin on {m.r.randint(1, 28)} {m.pick(MONTHS)}",
        f"The figures of {name} are unaudited",
        f"{name} will hold a conference call for analysts at {m.r.randint(9, 16)}:00 local time",
    )
    return m.frame(m.pick(forms))


def compose(label: str, m: Maker) -> str:
    if label == "positive":
        kinds = (result_line, result_line, result_line, loss_line, halving_line, cost_line, outlook_line)
        kinds += (deal_line, deal_line, staff_line)
        make = m.pick(kinds)
        return make(m, True) if make in (result_line, loss_line, halving_line, cost_line) else make(m, label)
    if label == "negative":
        kinds = (result_line, result_line, result_line, loss_line, halving_line, cost_line, outlook_line)
        kinds += (deal_line, staff_line, staff_line)
        make = m.pick(kinds)
        return make(m, False) if make in (result_line, loss_line, halving_line, cost_line) else make(m, label)
    make = m.pick((neutral_fact, neutral_fact, neutral_fact, neutral_fact, outlook_line, deal_line, staff_line))
    return make(m) if make is neutral_fact else make(m, label)


def main() -> None:
    m = Maker(2026)
    with (DEMO / "headlines.csv").open(encoding="utf-8", newline="") as fh:
        handwritten = [(row["text"], row["label"]) for row in csv.DictReader(fh)]
    seen = {text for text, _ in handwritten}
    train, dev = [], []
    for label, count in PER_LABEL.items():
        rows = [row for row in handwritten if row[1] == label]
        while len(rows) < count + len([r for r in handwritten if r[1] == label]):
            text = compose(label, m)
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
        rows.sort()
        random.Random(0).shuffle(rows)
        cut = round(len(rows) * DEV_SHARE)
        dev += rows[:cut]
        train += rows[cut:]
    for name, rows in (("train", train), ("dev", dev)):
        random.Random(1).shuffle(rows)
        with (DEMO / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(("text", "label"))
            writer.writerows(rows)
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
