"""Service search in the chat and the HSDS read API, over real HTTP with the real stack."""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RunningStack
from tests.integration.chat import new_sender, payloads, say, texts

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "directory" / "sample"
CITIES = ("Houston", "Los Angeles", "New York", "Atlanta", "Chicago", "Miami")


def confidential_addresses() -> set[str]:
    attributes = csv.DictReader((SAMPLE / "attributes.csv").open(encoding="utf-8"))
    secret = {
        row["link_id"]
        for row in attributes
        if row["taxonomy_term_id"] == "haven-profile-address_confidential"
        and row["value"] == "true"
    }
    addresses = csv.DictReader((SAMPLE / "addresses.csv").open(encoding="utf-8"))
    found = {row["address_1"] for row in addresses if row["location_id"] in secret}
    assert found, "the sample must have confidential shelters to test"
    return found


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_lawyer_in_houston(stack: RunningStack) -> None:
    replies = say(stack.rasa_url, new_sender(), "I need a lawyer in Houston")
    text = texts(replies)
    assert "Houston, TX" in text
    assert text.count("713-555-01") >= 3  # three results, each with its phone
    assert "(sample)" in text
    assert "/more_results" in payloads(replies) and "/request_human" in payloads(replies)


def test_emergency_shelter_then_houston(stack: RunningStack) -> None:
    sender = new_sender()
    first = say(stack.rasa_url, sender, "I need emergency shelter")
    assert "where should I look?" in texts(first)  # a service request, not a crisis reply
    assert '/inform_place{"place": "skip"}' in payloads(first)
    text = texts(say(stack.rasa_url, sender, "Houston"))
    assert "Emergency shelter near Houston, TX" in text
    assert "Shelter" in text and "713-555-01" in text


def test_food_near_a_zip_code_in_spanish(stack: RunningStack) -> None:
    text = texts(say(stack.rasa_url, new_sender(), "necesito comida cerca de 77002"))
    assert "77002" in text and "Teléfono" in text
    assert "(sample)" in text


def test_place_can_be_skipped_for_national_services(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "I need a job")
    text = texts(say(stack.rasa_url, sender, '/inform_place{"place": "skip"}'))
    assert "National" in text and "1-866-487-9243" in text  # DOL Wage and Hour


def test_more_and_refine(stack: RunningStack) -> None:
    sender = new_sender()
    first = texts(say(stack.rasa_url, sender, "I need a lawyer in Houston"))
    assert "Showing 1–3" in first
    more = texts(say(stack.rasa_url, sender, "/more_results"))
    assert "Showing 4–" in more
    free = texts(say(stack.rasa_url, sender, '/refine_search{"filter": "free"}'))
    assert "Showing 1–" in free and "Free" in free


def test_confidential_addresses_never_appear_in_chat(stack: RunningStack) -> None:
    hidden = confidential_addresses()
    for city in CITIES:
        for need in ("emergency shelter", "a shelter for men", "a safe place for boys"):
            sender = new_sender()
            replies = say(stack.rasa_url, sender, f"I need {need} in {city}")
            while True:
                text = texts(replies)
                assert not any(address in text for address in hidden), (city, need)
                if "/more_results" not in payloads(replies):
                    break
                replies = say(stack.rasa_url, sender, "/more_results")


def test_unknown_place_is_asked_again(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "I need food")
    text = texts(say(stack.rasa_url, sender, "Xyzzyville"))
    assert "could not find that place" in text


def test_sql_and_html_in_a_search_are_just_text(stack: RunningStack) -> None:
    sender = new_sender()
    for message in ("food in Houston'; DROP TABLE service;--", "<b>food</b> in <i>Houston</i>"):
        replies = say(stack.rasa_url, sender, message)
        assert replies
    assert "713-555-01" in texts(say(stack.rasa_url, new_sender(), "I need food in Houston"))


def test_hsds_api(stack: RunningStack) -> None:
    status, root = get_json(f"{stack.web_url}/api/")
    assert status == 200 and root["version"] == "3.0"
    status, document = get_json(root["openapi_url"])
    assert (
        status == 200 and document["openapi"].startswith("3.1") and "/services" in document["paths"]
    )
    status, page = get_json(f"{stack.web_url}/api/services?per_page=5&page=2")
    assert status == 200 and page["page_number"] == 2 and len(page["contents"]) == 5
    assert page["size"] == 5 and page["total_items"] >= 100
    service_id = page["contents"][0]["id"]
    status, service = get_json(f"{stack.web_url}/api/services/{service_id}")
    assert status == 200 and service["id"] == service_id and service["organization"]
    query = "postcode=77002&proximity=24000&taxonomy_term_id=haven-need-food&full=true"
    status, nearby = get_json(f"{stack.web_url}/api/service_at_locations?{query}")
    assert status == 200 and nearby["total_items"] >= 3
    assert all(
        address["postal_code"].startswith("77")
        for item in nearby["contents"]
        for address in item["location"]["addresses"]
        if address["postal_code"]  # a confidential address has none
    )
    status, near_services = get_json(f"{stack.web_url}/api/services?{query}")
    assert status == 200 and 0 < near_services["total_items"] < page["total_items"]
    status, found = get_json(f"{stack.web_url}/api/services?search=pantry")
    assert status == 200 and found["total_items"] >= 1
    status, organizations = get_json(f"{stack.web_url}/api/organizations?search=legal")
    assert status == 200 and organizations["total_items"] >= 1
    organization_id = organizations["contents"][0]["id"]
    status, organization = get_json(f"{stack.web_url}/api/organizations/{organization_id}")
    assert status == 200 and organization["services"] and organization["locations"]
    status, terms = get_json(f"{stack.web_url}/api/taxonomy_terms?taxonomy_id=haven-needs")
    assert status == 200 and terms["total_items"] >= 10
    status, term = get_json(f"{stack.web_url}/api/taxonomy_terms/haven-need-food")
    assert status == 200 and term["taxonomy_detail"]["id"] == "haven-needs"
    status, taxonomies = get_json(f"{stack.web_url}/api/taxonomies")
    assert status == 200 and {"haven-needs", "haven-profile"} <= {
        t["id"] for t in taxonomies["contents"]
    }


def test_hsds_api_never_publishes_confidential_addresses(stack: RunningStack) -> None:
    hidden = confidential_addresses()
    seen = 0
    for path in ("service_at_locations", "services", "organizations"):
        page = 1
        while True:
            status, body = get_json(
                f"{stack.web_url}/api/{path}?full=true&per_page=100&page={page}"
            )
            assert status == 200
            dumped = json.dumps(body)
            assert not any(address in dumped for address in hidden)
            seen += len(body["contents"])
            if body["last_page"]:
                break
            page += 1
    assert seen >= 300


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page must be between"),
        ("page=abc", "page must be a whole number"),
        ("per_page=10000", "per_page must be between"),
        ("postcode=abcde", "postcode"),
        ("postcode=7700", "postcode must be a 5-digit US ZIP code"),
        ("postcode=77002&proximity=-1", "proximity"),
        ("postcode=77002&proximity=100000000", "at most 500000 meters"),
        ("proximity=5000", "proximity needs a postcode"),
        ("lat=29.7", "lat and lon go together"),
        ("search=" + "x" * 500, "search is too long"),
    ],
)
def test_hsds_api_bad_parameters_get_400(stack: RunningStack, query: str, message: str) -> None:
    status, body = get_json(f"{stack.web_url}/api/service_at_locations?{query}")
    assert status == 400 and message in body["error"]


def test_hsds_api_unknown_id_is_404(stack: RunningStack) -> None:
    assert get_json(f"{stack.web_url}/api/services/no-such-service")[0] == 404
    assert get_json(f"{stack.web_url}/api/service_at_locations/%27%20OR%201%3D1")[0] == 404
    for path in ("organizations", "taxonomies", "taxonomy_terms"):
        assert get_json(f"{stack.web_url}/api/{path}/no-such-id")[0] == 404
