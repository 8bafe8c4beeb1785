"""The handoff as people use it, in real headless Chromium windows: a survivor in the web chat
asks for a person and consents; a case manager signs in to the console, claims the
referral, joins the chat and talks with them both ways; closing gives the chat back to
the bot. In English (both sides in browsers) and in Spanish (with a Spanish-speaking case
manager)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import STAFF_PASSWORD, RunningStack
from tests.integration.test_handoff import Console, newest_referral
from tests.integration.test_webchat import (  # also skips this module without chromium
    CHROMEDRIVER,
    CHROMIUM,
    PHONE,
    bot_texts,
    screenshot,
    wait_for_bot,
)

pytestmark = pytest.mark.integration

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def new_driver(language: str = "en-US"):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={PHONE[0]},{PHONE[1]}",
                     f"--lang={language}"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def survivor():
    driver = new_driver()
    yield driver
    driver.quit()


@pytest.fixture
def case_manager():
    driver = new_driver()
    yield driver
    driver.quit()


def press(driver, index_or_title: int | str) -> None:
    """A button of the newest reply, by its title or its position."""
    groups = driver.find_elements(By.CSS_SELECTOR, ".replies")
    buttons = [b for b in groups[-1].find_elements(By.TAG_NAME, "button") if b.is_enabled()]
    if isinstance(index_or_title, int):
        button = buttons[index_or_title]
    else:
        [button] = [b for b in buttons if b.text == index_or_title]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def step(driver, action, expect: str) -> str:
    """Do something in the chat, then wait for a new bot message containing ``expect``."""
    count = len(bot_texts(driver))
    action()
    return wait_for_bot(driver, count + 1, expect)


def write(driver, text: str):
    return lambda: driver.find_element(By.ID, "message").send_keys(text, Keys.ENTER)


def sign_in(driver, stack: RunningStack, username: str) -> None:
    driver.get(stack.web_url + "/staff/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(STAFF_PASSWORD, Keys.ENTER)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "queue"))


def console_lines(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log .line")]


def wait_in_console(driver, contains: str, timeout: float = 40) -> str:
    WebDriverWait(driver, timeout).until(
        lambda d: any(contains in line for line in console_lines(d))
    )
    return next(line for line in console_lines(driver) if contains in line)


def test_web_chat_to_console_and_back(stack: RunningStack, survivor, case_manager) -> None:
    survivor.get(stack.web_url + "/")
    wait_for_bot(survivor, 1, "not the police")
    step(survivor, write(survivor, "what is a T visa?"), "T visa")
    offer = step(survivor, write(survivor, "i want to talk to a person"), "continue")
    assert "under 18" in offer and "immediate danger" in offer
    step(survivor, lambda: press(survivor, "Yes, continue"), "How should the case manager")
    step(survivor, lambda: press(survivor, "Here in this chat, now"), "code word")
    step(survivor, write(survivor, "sunflower"), "under 18")
    step(survivor, lambda: press(survivor, "Skip"), "city, state or ZIP")
    step(survivor, write(survivor, "Houston"), "read this conversation")
    summary = step(survivor, lambda: press(survivor, "No, only the summary"), "Send it?")
    assert "sunflower" in summary and "Houston" in summary and "T visa" in summary
    sent = step(survivor, lambda: press(survivor, "Send"), "request number is")
    number = int(re.search(r"request number is (\d+)", sent).group(1))
    assert newest_referral(stack)["id"] == number
    screenshot(survivor, "handoff-consent")

    sign_in(case_manager, stack, "casey")
    WebDriverWait(case_manager, 30).until(
        lambda d: f"#{number}" in d.find_element(By.ID, "queue").text
    )
    case_manager.get(f"{stack.web_url}/staff/referrals/{number}")
    assert "sunflower" not in case_manager.page_source  # not claimed: no contact details
    case_manager.find_element(By.XPATH, "//button[text()='Claim this referral']").click()
    WebDriverWait(case_manager, 30).until(lambda d: "sunflower" in d.page_source)
    count = len(bot_texts(survivor))
    case_manager.find_element(By.XPATH, "//button[text()='Join the chat']").click()
    joined = wait_for_bot(survivor, count + 1, "has joined this chat")
    assert "Casey" in joined
    wait_in_console(case_manager, "Houston")  # the consent onwards is shown

    reply = case_manager.find_element(By.ID, "reply-text")
    reply.send_keys("Hello, I am Casey. Are you safe to talk now?")
    case_manager.find_element(By.CSS_SELECTOR, "#reply button[type=submit]").click()
    wait_for_bot(survivor, len(bot_texts(survivor)), "Are you safe to talk now?")

    count = len(bot_texts(survivor))
    survivor.find_element(By.ID, "message").send_keys(
        "<b>yes</b> <img src=x onerror=alert(1)> I need a lawyer", Keys.ENTER
    )
    shown = wait_in_console(case_manager, "I need a lawyer")
    assert "<b>yes</b> <img src=x onerror=alert(1)>" in shown  # shown as text
    assert not case_manager.find_elements(By.CSS_SELECTOR, "#log b, #log img")
    assert len(bot_texts(survivor)) == count  # the bot stayed silent
    screenshot(case_manager, "handoff-console")

    Select(case_manager.find_element(By.ID, "outcome")).select_by_value("helped")
    case_manager.find_element(By.XPATH, "//button[text()='Close referral']").click()
    case_manager.switch_to.alert.accept()
    wait_for_bot(survivor, count + 1, "has left the chat")
    step(survivor, write(survivor, "what is a U visa?"), "U visa")
    assert newest_referral(stack)["status"] == "closed"


def test_spanish_web_chat_with_a_spanish_speaking_case_manager(stack: RunningStack,
                                                                survivor) -> None:  # fmt: skip
    survivor.get(stack.web_url + "/")
    wait_for_bot(survivor, 1)
    Select(survivor.find_element(By.ID, "language")).select_by_value("es")
    wait_for_bot(survivor, 2)
    offer = step(survivor, write(survivor, "quiero hablar con una persona"), "18")
    assert "911" in offer
    step(survivor, lambda: press(survivor, 0), "?")  # "Sí, continuar"
    step(survivor, lambda: press(survivor, 1), "?")  # here in this chat, later
    for _ in range(4):  # safe times, code word, age, area: skipped
        step(survivor, lambda: press(survivor, 0), "?")
    step(survivor, lambda: press(survivor, 1), "?")  # only the summary
    step(survivor, lambda: press(survivor, 0), "233733")  # "Enviar"
    number = int(re.search(r"(\d+)", bot_texts(survivor)[-1]).group(1))
    row = newest_referral(stack)
    assert row["id"] == number and row["language"] == "es" and row["channel"] == "webchat"

    sofia = Console(stack, "sofia")
    assert sofia.act(number, "claim")[0] == 303
    page = sofia.refresh_csrf(f"/referrals/{number}")
    assert "Spanish" in page or "español" in page
    count = len(bot_texts(survivor))
    status, body = sofia.act(number, "join")
    assert status == 303, body
    status, page = sofia.get(f"/referrals/{number}?done=joined")
    assert "Live chat" in page, re.findall(r'class="alert[^"]*"[^>]*>([^<]*)', page)
    joined = wait_for_bot(survivor, count + 1, "Sofía")
    assert "chat" in joined.lower()
    assert sofia.reply(number, "Hola, soy Sofía. ¿Estás a salvo ahora?")["translated"] is False
    wait_for_bot(survivor, len(bot_texts(survivor)), "¿Estás a salvo ahora?")
    survivor.find_element(By.ID, "message").send_keys(
        "sí, gracias, necesito un abogado", Keys.ENTER
    )
    line = sofia.wait_for_line(number, "necesito un abogado")
    assert line["translated"] is None  # the same language: nothing to interpret
    count = len(bot_texts(survivor))
    sofia.act(number, "close", outcome="helped")
    text = wait_for_bot(survivor, count + 1, "Haven")
    assert "chat" in text.lower()
