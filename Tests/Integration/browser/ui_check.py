"""Drives the catcher's web UI in headless Chromium (Debian's chromium and chromium-driver, with
python3-selenium): run by /usr/bin/python3 from test_web_ui.py, as the SMTP peers are.

    ui_check.py HTTP_URL SMTP_HOST SMTP_PORT SCREENSHOT

It opens the UI, then sends a message over SMTP whose HTML carries scripts that would change the
page, waits for the message to appear in the list without a reload, opens it, and reports as
JSON what the page and the message's frame show, and what its Authentication tab shows."""

import json
import smtplib
import sys
import time
from email.message import EmailMessage

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, smtp_host, smtp_port, screenshot = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

options = Options()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
report = {}
try:
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "status").text != "")
    report["rows_before"] = len(driver.find_elements(By.CSS_SELECTOR, "#list li"))

    message = EmailMessage()
    message["From"] = "Shop <no-reply@shop.example>"
    message["To"] = "dev@example.test"
    message["Subject"] = "Welcome to the shop"
    message.set_content("Your verification code is 204861.")
    message.add_alternative(
        "<html><body><h1 id='greeting'>Welcome!</h1><p>Your code is <b>204861</b>.</p>"
        "<script>document.body.innerHTML = 'PWNED'; document.title = 'pwned';"
        "try { parent.document.title = 'pwned'; parent.document.body.innerHTML = 'PWNED'; } catch (e) {}"
        "fetch('/api/v1/messages', {method: 'DELETE'});</script>"
        "<img src='x' onerror=\"document.body.innerHTML = 'PWNED'\"></body></html>", subtype="html")
    with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as client:
        client.send_message(message)

    # Live: the row appears without a reload.
    started = time.monotonic()
    WebDriverWait(driver, 10).until(
        lambda d: any("Welcome to the shop" in row.text for row in d.find_elements(By.CSS_SELECTOR, "#list li")))
    report["appeared_after_s"] = round(time.monotonic() - started, 3)
    report["unread_marked"] = "unread" in driver.find_elements(By.CSS_SELECTOR, "#list li")[0].get_attribute("class")

    time.sleep(0.3)  # let the live refresh settle before clicking
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#list li"))
    driver.find_elements(By.CSS_SELECTOR, "#list li")[0].click()
    frame = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "#tab-body iframe"))
    report["subject_shown"] = driver.find_element(By.ID, "subject").text
    report["frame_sandbox"] = frame.get_attribute("sandbox")
    driver.switch_to.frame(frame)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "greeting"))
    report["frame_heading"] = driver.find_element(By.ID, "greeting").text
    report["frame_text"] = driver.find_element(By.TAG_NAME, "body").text
    driver.switch_to.default_content()
    time.sleep(0.5)  # give any script that could run the time to do so
    report["page_title"] = driver.title
    report["page_has_pwned"] = "PWNED" in driver.find_element(By.TAG_NAME, "body").text
    report["rows_after"] = len(driver.find_elements(By.CSS_SELECTOR, "#list li"))
    driver.save_screenshot(screenshot)

    # The Authentication tab: DKIM, SPF and DMARC as a receiver would find them.
    tab = next(b for b in driver.find_elements(By.CSS_SELECTOR, "#tabs button") if b.text == "Authentication")
    tab.click()
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tab-body pre"))
    report["auth_headings"] = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#tab-body h3")]
    report["auth_results"] = driver.find_element(By.CSS_SELECTOR, "#tab-body pre").text
    report["auth_verdicts"] = [v.text for v in driver.find_elements(By.CSS_SELECTOR, "#tab-body .verdict")]
finally:
    driver.quit()
print(json.dumps(report))
