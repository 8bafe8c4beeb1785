"""Directory speed on a generated HSDS directory (`make bench-directory SERVICES=100000`).

What it measures, in one run on this machine:
- import throughput: rows per second for `haven directory import` of the generated data
  package (validation, reference checks and the writes, into a fresh SQLite database);
- search latency, p50/p95 over a fixed random mix of queries (need, place with its local
  names, sometimes a language, population, free or open-now filter), through
  `bot.directory.search.search` as the chat uses it (first page of 3, ranking, details);
- the baseline in the same run: the same queries done as a full scan of the need category
  (no bounding box on the indexed coordinates), distance filtered in Python.

The generated directory is fictional (names end with "(bench)"): ``--services`` services
(10,000 by default) at as many locations around 60 US cities, one in ten of them
confidential, the shipped need categories and profile. Its data package is written to
var/bench/directory-<N>k/ (and kept, so it can be inspected). Never run by the tests;
timings are printed, not asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

from bot.db.engine import session_scope
from bot.db.migrate import upgrade
from bot.directory.geocode import geocode_city
from bot.directory.hsds_io import FILE_NAMES, dump_tables, import_directory
from bot.directory.models import TABLE_BY_NAME
from bot.directory.search import SearchQuery, _local_candidates, search
from bot.directory.vocabulary import load_vocabulary
from bot.settings import ensure_private_dir

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
CITIES = (
    "New York NY", "Los Angeles CA", "Chicago IL", "Houston TX", "Phoenix AZ",
    "Philadelphia PA", "San Antonio TX", "San Diego CA", "Dallas TX", "San Jose CA",
    "Austin TX", "Jacksonville FL", "Fort Worth TX", "Columbus OH", "Charlotte NC",
    "Indianapolis IN", "Seattle WA", "Denver CO", "Washington DC", "Boston MA",
    "El Paso TX", "Nashville TN", "Detroit MI", "Oklahoma City OK", "Portland OR",
    "Las Vegas NV", "Memphis TN", "Louisville KY", "Baltimore MD", "Milwaukee WI",
    "Albuquerque NM", "Tucson AZ", "Fresno CA", "Sacramento CA", "Kansas City MO",
    "Atlanta GA", "Miami FL", "Raleigh NC", "Omaha NE", "Minneapolis MN", "Tulsa OK",
    "Cleveland OH", "Wichita KS", "Arlington TX", "New Orleans LA", "Tampa FL",
    "Honolulu HI", "Anaheim CA", "Aurora CO", "Santa Ana CA", "St. Louis MO",
    "Pittsburgh PA", "Cincinnati OH", "Anchorage AK", "Orlando FL", "Newark NJ",
    "Buffalo NY", "Lincoln NE", "Boise ID", "Salt Lake City UT",
)  # fmt: skip
LANGUAGES = ("en", "es", "vi", "zh", "ko", "ht", "ar", "ru", "fr", "tl")
POPULATIONS = ("all", "men", "women", "boys", "girls", "minors", "lgbtq", "families")


def _places() -> list:
    places = []
    for entry in CITIES:
        name, state = entry.rsplit(" ", 1)
        place = geocode_city(name.replace("St.", "Saint"), state)
        if place:
            places.append(place)
    return places


def generate(folder: Path, services: int, seed: int = 7) -> int:
    """Write a fictional HSDS data package of ``services`` services; returns its row count."""
    rng = random.Random(seed)
    categories = load_vocabulary().category_ids
    places = _places()
    tables: dict[str, list[dict]] = {name: [] for name in FILE_NAMES}
    for n in range(services):
        place = places[n % len(places)]
        org, svc, loc = f"bench-org-{n}", f"bench-svc-{n}", f"bench-loc-{n}"
        sal = f"bench-sal-{n}"
        tables["organization"].append(
            {"id": org, "name": f"Organization {n} (bench)", "description": "Generated."}
        )
        assured = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
        tables["service"].append(
            {"id": svc, "organization_id": org, "name": f"Service {n} (bench)",
             "description": "A generated service for benchmarks.", "status": "active",
             "assured_date": assured}
        )  # fmt: skip
        tables["location"].append(
            {"id": loc, "organization_id": org, "location_type": "physical",
             "name": f"Site {n} (bench)",
             "latitude": round(place.latitude + rng.uniform(-0.3, 0.3), 5),
             "longitude": round(place.longitude + rng.uniform(-0.3, 0.3), 5)}
        )  # fmt: skip
        tables["address"].append(
            {"id": f"bench-addr-{n}", "location_id": loc, "address_1": f"{n} Bench St",
             "city": place.label.split(",")[0], "state_province": place.state,
             "country": "US", "address_type": "physical"}
        )  # fmt: skip
        tables["service_at_location"].append({"id": sal, "service_id": svc, "location_id": loc})
        tables["phone"].append(
            {"id": f"bench-ph-{n}", "service_id": svc, "number": "555-0100", "type": "voice"}
        )
        opens = rng.choice(("08:00", "09:00", "10:00", "00:00"))
        closes = "23:59" if opens == "00:00" else rng.choice(("17:00", "18:00", "20:00"))
        byday = "MO,TU,WE,TH,FR,SA,SU" if opens == "00:00" else "MO,TU,WE,TH,FR"
        tables["schedule"].append(
            {"id": f"bench-sch-{n}", "service_id": svc, "freq": "WEEKLY", "byday": byday,
             "opens_at": opens, "closes_at": closes}
        )  # fmt: skip
        for code in {"en", rng.choice(LANGUAGES)}:
            tables["language"].append(
                {"id": f"bench-lang-{n}-{code}", "service_id": svc, "code": code}
            )
        attributes = [("haven-need-" + c, "") for c in rng.sample(categories, rng.randint(1, 3))]
        attributes.append(("haven-profile-population", rng.choice(POPULATIONS)))
        attributes.append(("haven-profile-cost", rng.choice(("free", "sliding_scale", "fee"))))
        for k, (term, value) in enumerate(attributes):
            tables["attribute"].append(
                {"id": f"bench-attr-{n}-{k}", "link_id": svc, "link_entity": "service",
                 "taxonomy_term_id": term, "link_type": "profile", "value": value}
            )  # fmt: skip
        if n % 10 == 0:
            tables["attribute"].append(
                {"id": f"bench-attr-{n}-c", "link_id": loc, "link_entity": "location",
                 "taxonomy_term_id": "haven-profile-address_confidential", "value": "true"}
            )  # fmt: skip
    ensure_private_dir(folder)  # var/ and what is in it stay private
    resources = []
    for table, rows in tables.items():
        if not rows:
            continue
        columns = [c.name for c in TABLE_BY_NAME[table].__table__.columns]
        with (folder / FILE_NAMES[table]).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        resources.append({"name": table, "path": FILE_NAMES[table]})
    (folder / "datapackage.json").write_text(json.dumps({"resources": resources}, indent=1))
    return sum(len(rows) for rows in tables.values())


def queries(count: int, seed: int = 11) -> list[SearchQuery]:
    rng = random.Random(seed)
    categories = load_vocabulary().category_ids
    places = _places()
    out = []
    for _ in range(count):
        place = rng.choice(places)
        extra = rng.choice(({}, {}, {"language": "es"}, {"population": "men"}, {"cost": "free"},
                            {"open_now": True}))  # fmt: skip
        out.append(SearchQuery(need=rng.choice(categories), latitude=place.latitude,
                               longitude=place.longitude, state=place.state,
                               areas=place.areas, **extra))  # fmt: skip
    return out


def full_scan(session, query: SearchQuery):
    """Baseline: every service of the need category, distance filtered in Python
    (confidential locations and service areas have no distance: kept as found)."""
    wide = replace(query, radius_km=20_000.0)
    return [
        c
        for c in _local_candidates(session, wide)
        if c.distance_km is None or c.distance_km <= query.radius_km
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    folder = WORK / f"directory-{args.services // 1000}k"
    database = WORK / "directory-bench.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    started = time.perf_counter()
    rows = generate(folder, args.services)
    print(f"Generated {args.services:,} services ({rows:,} HSDS rows) in "
          f"{time.perf_counter() - started:.1f} s → {folder}")  # fmt: skip
    upgrade(url)
    started = time.perf_counter()
    report = import_directory(folder, url)
    seconds = time.perf_counter() - started
    print(f"Import: {report.rows:,} rows in {seconds:.1f} s = {report.rows / seconds:,.0f} rows/s "
          f"({args.services / seconds:,.0f} services/s)")  # fmt: skip
    started = time.perf_counter()
    import_directory(folder, url)
    seconds = time.perf_counter() - started
    print(f"Re-import (update in place): {seconds:.1f} s = {report.rows / seconds:,.0f} rows/s")
    assert len(dump_tables(url)["service"]) == args.services
    mix = queries(args.queries)
    timings: dict[str, list[float]] = {"haven search (page of 3)": [], "baseline full scan": []}
    found = 0
    with session_scope(url) as session:
        search(session, mix[0])  # warm caches (geocoding index, time zones)
        for query in mix:
            started = time.perf_counter()
            results = search(session, query)
            timings["haven search (page of 3)"].append((time.perf_counter() - started) * 1000)
            found += results.total
            started = time.perf_counter()
            full_scan(session, query)
            timings["baseline full scan"].append((time.perf_counter() - started) * 1000)
    print(f"Search over {args.services:,} services, {len(mix)} queries "
          f"(average {found / len(mix):.1f} matches each):")  # fmt: skip
    base = statistics.median(timings["baseline full scan"])
    for name, values in timings.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(
            f"  {name:28s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({p50 / base:.2f}× baseline p50)"
        )
    print("Target: search p95 under 20 ms on SQLite, at 10,000 and at 100,000 services.")


if __name__ == "__main__":
    main()
