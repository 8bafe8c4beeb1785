"""The web chat in a real headless Chromium (Debian's chromium and chromium-driver), against
the real stack: the page, its messages, buttons, language, pushed messages, quick exit,
storage, keyboard use and the headers that keep it private."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest

from bot.rasa_api import signed_token
from tests.conftest import QUICK_EXIT_URL, RunningStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PHONE = (390, 844)  # a phone-sized window, CSS pixels
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):  # `make test` installs them on Debian (README)
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={PHONE[0]},{PHONE[1]}",
                     "--lang=en-US"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def bot_texts(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".message.bot")]


def wait_for_bot(driver, count: int, contains: str | None = None, timeout: float = 60) -> str:
    """The text of bot messages once there are ``count`` (and one contains ``contains``)."""

    def ready(d):
        texts = bot_texts(d)
        if len(texts) < count:
            return False
        return contains is None or any(contains.lower() in t.lower() for t in texts)

    WebDriverWait(driver, timeout).until(ready)
    return "\n".join(bot_texts(driver))


def screenshot(driver, name: str) -> None:
    """Saved only when HAVEN_SCREENSHOTS names a folder (docs/ screenshots are made so)."""
    folder = os.environ.get("HAVEN_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"webchat-{name}.png"))


def latest_webchat_sender(stack: RunningStack) -> str:
    with sqlite3.connect(stack.tracker_db) as connection:
        rows = connection.execute(
            "SELECT sender_id FROM events WHERE length(sender_id) = 22 ORDER BY id DESC LIMIT 1"
        ).fetchall()
    return rows[0][0]


def test_the_page_sends_and_shows_replies_and_buttons(stack: RunningStack, browser) -> None:
    browser.get(stack.web_url + "/")
    greeting = wait_for_bot(browser, 1, "not the police")
    assert "Haven" in greeting
    screenshot(browser, "greeting-en")
    box = browser.find_element(By.ID, "message")
    box.send_keys("what is a T visa?", Keys.ENTER)
    answer = wait_for_bot(browser, 2, "T visa")
    users = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".message.user")]
    assert users[-1].endswith("what is a T visa?")
    assert answer
    # A quick reply: the menu, then one of its buttons.
    box.send_keys("menu", Keys.ENTER)
    wait_for_bot(browser, 3, "what I can help with")
    count = len(bot_texts(browser))
    buttons = browser.find_elements(By.CSS_SELECTOR, ".replies button")
    [rights] = [b for b in buttons if b.text == "Know your rights"]
    rights.click()
    wait_for_bot(browser, count + 1)
    assert browser.find_elements(By.CSS_SELECTOR, ".message.user")[-1].text.endswith(
        "Know your rights"
    )
    # Phone numbers and links in replies can be tapped.
    browser.find_element(By.ID, "message").send_keys("hotline", Keys.ENTER)
    wait_for_bot(browser, count + 2, "888")
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".message a")]
    assert "tel:18883737888" in hrefs and "sms:233733" in hrefs
    screenshot(browser, "conversation-en")


def test_switching_to_spanish_changes_the_page_and_the_replies(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    Select(browser.find_element(By.ID, "language")).select_by_value("es")
    wait_for_bot(browser, 2)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    assert browser.find_element(By.ID, "quick-exit").text == "Salida rápida"
    box = browser.find_element(By.ID, "message")
    box.send_keys("¿qué es una visa T?", Keys.ENTER)
    answer = wait_for_bot(browser, 3, "visa T")
    assert "visa T" in answer
    screenshot(browser, "conversation-es")


def test_right_to_left_text_is_laid_out_right_to_left(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("أحتاج مساعدة", Keys.ENTER)
    wait_for_bot(browser, 2)
    bubble = browser.find_elements(By.CSS_SELECTOR, ".message.user")[-1]
    direction = browser.execute_script("return getComputedStyle(arguments[0]).direction", bubble)
    assert direction == "rtl"
    screenshot(browser, "right-to-left")


def test_arabic_from_the_picker_lays_the_page_out_right_to_left(stack, browser) -> None:
    """The picker comes from the registry; Arabic turns the whole page right to left, its
    own words come from the Arabic catalog, and the replies are Arabic."""
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    offered = [
        o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#language option")
    ]
    assert {"en", "es", "fr", "pt", "ar", "ht"} <= set(offered)
    Select(browser.find_element(By.ID, "language")).select_by_value("ar")
    reply = wait_for_bot(browser, 2)
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert browser.find_element(By.ID, "quick-exit").text == "خروج سريع"
    assert any("\u0600" <= ch <= "\u06ff" for ch in reply), reply
    title, exit_button = (
        browser.find_element(By.CSS_SELECTOR, sel).rect["x"] for sel in (".title", "#quick-exit")
    )
    assert title > exit_button  # the bar is mirrored
    screenshot(browser, "conversation-ar")


def test_writing_in_arabic_turns_the_page_arabic(stack, browser) -> None:
    """No picker needed: the conversation becomes Arabic, and the page follows it."""
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("مرحبا ساعدني", Keys.ENTER)
    reply = wait_for_bot(browser, 2)
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert any("\u0600" <= ch <= "\u06ff" for ch in reply), reply


def test_a_message_sent_later_reaches_the_open_page(stack: RunningStack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    sender = latest_webchat_sender(stack)
    before = len(bot_texts(browser))
    request = urllib.request.Request(
        f"{stack.rasa_url}/conversations/{sender}/execute?output_channel=webchat",
        data=json.dumps({"name": "utter_menu"}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {signed_token(stack.token)}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200
    text = wait_for_bot(browser, before + 1, "what I can help with")
    assert "what I can help with" in text


def test_quick_exit_replaces_the_page_and_leaves_nothing_stored(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("i need food in houston", Keys.ENTER)
    wait_for_bot(browser, 2)
    stored = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "indexedDB.databases().then(dbs => done([localStorage.length, sessionStorage.length,"
        " document.cookie, dbs.length]));"
    )
    assert stored == [0, 0, "", 0]
    assert browser.get_cookies() == []
    browser.find_element(By.ID, "quick-exit").click()
    WebDriverWait(browser, 20).until(lambda d: d.current_url == QUICK_EXIT_URL)
    browser.back()
    time.sleep(1)
    assert not browser.current_url.startswith(stack.web_url)  # Back does not return


def test_escape_twice_is_a_quick_exit(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    body.send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 20).until(lambda d: d.current_url == QUICK_EXIT_URL)


def test_keyboard_only_use(stack, browser) -> None:
    """Tab order: language, quick exit, the quick replies, the message box, send; Enter
    sends; a quick reply is reached with the keyboard and pressed with Enter."""
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.CSS_SELECTOR, "h1").click()  # start from the top of the page
    order = []
    for _ in range(12):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        order.append(active.get_attribute("id") or active.text)
        if order[-1] == "send":
            break
    assert order[:2] == ["language", "quick-exit"], order
    assert order.index("Yes, it's safe") < order.index("message") < order.index("send"), order
    box = browser.find_element(By.ID, "message")
    box.click()
    box.send_keys("menu", Keys.ENTER)
    wait_for_bot(browser, 2, "what I can help with")
    count = len(bot_texts(browser))
    active = browser.switch_to.active_element
    for _ in range(40):  # Shift+Tab back from the message box into the last quick replies
        active.send_keys(Keys.SHIFT, Keys.TAB)
        active = browser.switch_to.active_element
        if active.text == "Know your rights":
            break
    assert active.text == "Know your rights"
    active.send_keys(Keys.ENTER)
    wait_for_bot(browser, count + 1)


def test_every_response_is_private_and_the_page_loads_only_its_own_files(stack) -> None:
    for path in ("/", "/static/chat.js", "/static/chat.css"):
        with urllib.request.urlopen(stack.web_url + path, timeout=30) as reply:
            assert reply.headers["Cache-Control"] == "no-store", path
            policy = reply.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "script-src 'self'" in policy
            assert "connect-src 'self'" in policy and "http" not in policy
            body = reply.read().decode()
        if path == "/":
            assert 'src="/static/chat.js"' in body and "<script>" not in body
            assert "http://" not in body and "https://" not in body
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/webchat/events?sender={'a' * 22}&wait=0"
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers["Cache-Control"] == "no-store"
    for bad in ("short", "a" * 65, "../../etc"):
        try:
            urllib.request.urlopen(f"{stack.web_url}/chat/events?sender={bad}&wait=0", timeout=30)
        except urllib.error.HTTPError as error:
            assert error.code == 400
        else:
            raise AssertionError(f"sender {bad!r} accepted")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{stack.web_url}/static/../bot/settings.py", timeout=30)
    assert missing.value.code == 404


def test_html_and_commands_typed_by_a_user_stay_text(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    typed = '<img src=x onerror="document.title=1"> /restart {"x": 1} <b>bold</b>'
    browser.find_element(By.ID, "message").send_keys(typed, Keys.ENTER)
    wait_for_bot(browser, 2)
    bubble = browser.find_elements(By.CSS_SELECTOR, ".message.user")[-1]
    assert bubble.text.endswith(typed)
    assert not browser.find_elements(By.CSS_SELECTOR, "#log img, #log b")
    assert browser.title == "Haven chat"


def test_the_chat_endpoints_refuse_bad_input_clearly(stack) -> None:
    def post(body: bytes) -> int:
        request = urllib.request.Request(
            f"{stack.web_url}/chat/message", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code

    sender = "b" * 22
    assert post(json.dumps({"sender": sender, "message": "hola"}).encode()) == 200
    assert post(json.dumps({"sender": "short", "message": "hola"}).encode()) == 400
    assert post(b"\xff\xfe not json") == 400
    assert post(json.dumps({"sender": sender, "message": "x" * 200_000}).encode()) == 413


def test_inactivity_clears_the_screen(stack, browser) -> None:
    browser.get(stack.web_url + "/?idle=3")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("what is a T visa?", Keys.ENTER)
    wait_for_bot(browser, 2)
    WebDriverWait(browser, 30).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "#log .message")
    )
    assert "cleared" in browser.find_element(By.ID, "status").text


def _contrast(browser, element) -> float:
    return browser.execute_script(
        """
        function rgb(c) { return c.match(/[\\d.]+/g).slice(0, 3).map(Number); }
        function lum(c) { const v = rgb(c).map(x => { x /= 255;
            return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
          return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
        let el = arguments[0], bg = "rgba(0, 0, 0, 0)";
        for (let e = el; e && bg.startsWith("rgba(0, 0, 0, 0") ; e = e.parentElement) {
          bg = getComputedStyle(e).backgroundColor; }
        if (bg.startsWith("rgba(0, 0, 0, 0")) bg = "rgb(255, 255, 255)";
        const a = lum(getComputedStyle(el).color), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        """,
        element,
    )


def test_text_contrast_meets_wcag_aa(stack, browser) -> None:
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("hello", Keys.ENTER)
    wait_for_bot(browser, 2)
    for selector in (".message.bot", ".message.user", ".replies button", "#quick-exit",
                     "#send", ".notice", ".picker", "#message"):  # fmt: skip
        element = browser.find_elements(By.CSS_SELECTOR, selector)[-1]
        assert _contrast(browser, element) >= 4.5, selector


def test_the_layout_mirrors_for_a_right_to_left_page(stack, browser) -> None:
    """The styles use logical properties only: with the page right to left (as it will be
    for a right-to-left language), the bar and the bubbles mirror."""
    browser.get(stack.web_url + "/")
    wait_for_bot(browser, 1)
    browser.find_element(By.ID, "message").send_keys("hello", Keys.ENTER)
    wait_for_bot(browser, 2)

    def edges() -> dict:
        return browser.execute_script(
            "const r = s => [...document.querySelectorAll(s)].pop().getBoundingClientRect();"
            "return {title: r('.title').left, exit: r('#quick-exit').left,"
            " user: r('.message.user').left, bot: r('.message.bot').left,"
            " width: document.documentElement.clientWidth};"
        )

    before = edges()
    assert before["title"] < before["exit"] and before["bot"] < before["user"]
    browser.execute_script("document.documentElement.dir = 'rtl'")
    after = edges()
    assert after["title"] > after["exit"] and after["bot"] > after["user"]
    screenshot(browser, "right-to-left-layout")
