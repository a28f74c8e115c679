"""The web console in headless Chromium (selenium), run by scripts/interop/console.sh.

Environment: ADMIN (admin base URL), ADMIN_KEY, AUDITOR_KEY, CERT_ID and SERIAL (a certificate issued through
the API), ANCHOR (a trust anchor whose bundle is broken), RUN (this run's unique tag), SHOTS (directory for
screenshots). The stack has SCEP endpoint `default` with one-time challenges (scripts/dev).
Prints "  ok  <check>" per passed check; the first failure raises (exit 1).
"""
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ADMIN = os.environ["ADMIN"].rstrip("/")
CERT_ID = os.environ["CERT_ID"]
SERIAL = os.environ["SERIAL"]
ANCHOR = os.environ["ANCHOR"]
SHOTS = os.environ["SHOTS"]
RUN = os.environ["RUN"]


def ok(name):
    print(f"  ok  {name}", flush=True)


def expect(condition, name, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    ok(name)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    return driver


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def sign_in(driver, key):
    driver.get(f"{ADMIN}/ui/")
    expect("/ui/login" in driver.current_url, "an anonymous visit is sent to the sign-in page", driver.current_url)
    shot(driver, "00-sign-in")
    field = driver.find_element(By.ID, "f-api_key")
    label = driver.find_element(By.CSS_SELECTOR, "label[for=f-api_key]")
    expect(label.text == "API key", "the key field has its label", label.text)
    field.send_keys(key)
    field.submit()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Dashboard"))
    ok("signed in: the dashboard shows")


def session_post(driver, path, fields):
    """POSTs a form with the browser's session cookie, as a forger holding the session would: the HTTP status."""
    cookie = driver.get_cookie("certctl_session")
    expect(cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict",
           "the session cookie is HttpOnly and SameSite=Strict", str(cookie))
    request = urllib.request.Request(
        f"{ADMIN}{path}", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"certctl_session={cookie['value']}"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def csrf_token(driver):
    return driver.find_element(By.CSS_SELECTOR, "input[name=csrf_token]").get_attribute("value")


def admin_session(driver):
    sign_in(driver, os.environ["ADMIN_KEY"])
    shot(driver, "01-dashboard")
    expect(len(driver.find_elements(By.XPATH, "//h2[text()='Issuers and key generations']")) == 1, "dashboard lists issuers")

    # find the certificate by its serial in another form: colons, upper case, a leading 00
    serial = SERIAL if len(SERIAL) % 2 == 0 else "0" + SERIAL
    colons = "00:" + ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).upper()
    driver.get(f"{ADMIN}/ui/certificates")
    driver.find_element(By.ID, "f-serial").send_keys(colons)
    driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
    # the unfiltered list may show the certificate too: wait for the search's own page
    WebDriverWait(driver, 10).until(EC.url_contains("serial="))
    link = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"a[href='/ui/certificates/{CERT_ID}']")))
    shot(driver, "02-certificates-search")
    expect(link.text == SERIAL, "search by serial finds the certificate issued through the API", link.text)
    driver.find_element(By.ID, "f-q").clear()
    link.click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), SERIAL))
    shot(driver, "03-certificate-detail")
    expect("Subject alternative name (2.5.29.17)" in driver.page_source, "the detail view decodes the extensions")
    expect(driver.find_element(By.CSS_SELECTOR, f"a[href='/ui/certificates/{CERT_ID}/pem']").is_displayed(), "PEM download offered")

    # a form stripped of its CSRF token is refused, in the browser and at the HTTP level
    status, text = session_post(driver, f"/ui/certificates/{CERT_ID}/revoke", {"reason": "keyCompromise", "confirm": "yes"})
    expect(status == 403 and "nothing was changed" in text, "a revoke form without its CSRF token gets 403", f"{status}")
    driver.execute_script("document.querySelectorAll('form.danger-zone input[name=csrf_token]').forEach(e => e.remove())")
    driver.find_element(By.ID, "revoke").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Form expired or forged"))
    shot(driver, "04-csrf-refused")
    ok("the browser shows the CSRF refusal in plain words")

    # revoke: reason, then the confirmation step
    driver.get(f"{ADMIN}/ui/certificates/{CERT_ID}")
    Select(driver.find_element(By.ID, "f-reason")).select_by_value("keyCompromise")
    driver.find_element(By.ID, "revoke").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Confirm revocation"))
    shot(driver, "05-revoke-confirm")
    ok("revoking asks for confirmation first")
    driver.find_element(By.ID, "confirm-revoke").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "The certificate is revoked"))
    shot(driver, "06-revoked")
    expect("status revoked" in driver.page_source, "the detail page shows it revoked")

    # reload of a broken bundle: the dialog lists each replica and the typed error
    driver.get(f"{ADMIN}/ui/enrollment")
    shot(driver, "07-enrollment")
    button = driver.find_element(By.CSS_SELECTOR, f"button[data-reload='{ANCHOR}']")
    button.click()
    dialog = driver.find_element(By.ID, "reload-modal")
    WebDriverWait(driver, 15).until(lambda d: dialog.find_elements(By.CSS_SELECTOR, "#reload-result table"))
    shot(driver, "08-reload-dialog")
    expect(dialog.is_displayed() and dialog.get_attribute("open") is not None, "the reload result opens in a modal dialog")
    text = dialog.text
    codes = [e.text for e in dialog.find_elements(By.CSS_SELECTOR, "code.error-code")]
    expect(codes and all(codes), "the dialog shows each refusing replica's typed error", text)
    expect("old pool keeps serving" in text, "the dialog says the old pool keeps serving", text)
    ok(f"typed error shown: {codes[0]}")
    driver.find_element(By.ID, "reload-close").click()
    scep_challenge(driver)
    profile_edit(driver)

    for name, path in (("09-approvals", "/ui/approvals"), ("10-api-keys", "/ui/api-keys"), ("11-audit", "/ui/audit")):
        driver.get(f"{ADMIN}{path}")
        shot(driver, name)
    expect("Audit chain verified" in driver.page_source, "the audit page shows the chain verified")

    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Sign in"))
    driver.get(f"{ADMIN}/ui/certificates")
    expect("/ui/login" in driver.current_url, "after signing out the console asks to sign in again", driver.current_url)


def scep_challenge(driver):
    """Mints a one-time challenge for SCEP endpoint default: the secret appears on the answer page only."""
    driver.get(f"{ADMIN}/ui/enrollment")
    driver.find_element(By.CSS_SELECTOR, "a[href='/ui/scep/default/challenge']").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Mint an SCEP challenge"))
    ttl = driver.find_element(By.ID, "f-ttl_seconds")
    ttl.clear()
    ttl.send_keys("30")
    driver.find_element(By.ID, "mint").click()
    error = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "f-ttl_seconds-error")))
    expect("60 to 2592000" in error.text and driver.find_element(By.ID, "f-ttl_seconds").get_attribute("aria-invalid") == "true",
           "a TTL the API refuses is shown next to its field", error.text)
    ttl = driver.find_element(By.ID, "f-ttl_seconds")
    ttl.clear()
    ttl.send_keys("600")
    driver.find_element(By.ID, "f-expected_subject").send_keys(f"CN=console-{RUN}")
    driver.find_element(By.ID, "f-expected_sans").send_keys(f"DNS:Console-{RUN}.example.com")
    driver.find_element(By.ID, "mint").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "SCEP challenge minted"))
    shot(driver, "13-scep-challenge")
    secret = driver.find_element(By.ID, "challenge-secret").get_attribute("value")
    expect(re.fullmatch(r"[0-9a-f]{32}", secret or ""), "the minted challenge (128 bits) is shown", secret)
    expect(f"DNS:console-{RUN}.example.com" in driver.page_source, "the expected SAN is shown normalised")
    for path in ("/ui/enrollment", "/ui/scep/default/challenge", "/ui/audit"):
        driver.get(f"{ADMIN}{path}")
        expect(secret not in driver.page_source, f"the secret is not shown again ({path})")


def profile_edit(driver):
    """Creates profile console-RUN, then edits it: a refused value is shown at its field, the corrected one saved."""
    profile = f"console-{RUN}"
    driver.get(f"{ADMIN}/ui/profiles")
    shot(driver, "14-profiles")
    driver.find_element(By.ID, "f-id").send_keys(profile)
    driver.find_element(By.ID, "f-description").send_keys("made by the browser suite")
    driver.find_element(By.ID, "save-profile").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"Profile {profile}"))
    expect(f"Profile {profile} saved." in driver.find_element(By.CSS_SELECTOR, ".notice").text, "a profile is created in the console")
    days = driver.find_element(By.ID, "f-max_validity_days")
    days.clear()
    days.send_keys("99999")
    driver.find_element(By.ID, "f-allowed_key_algorithms-rsa-3072").click()
    driver.find_element(By.ID, "save-profile").click()
    error = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "f-max_validity_days-error")))
    shot(driver, "15-profile-field-error")
    expect("max_validity_days must be from 1 to 36500" in error.text, "the refused value is explained next to its field", error.text)
    expect(driver.find_element(By.ID, "f-max_validity_days").get_attribute("aria-invalid") == "true", "the field is marked invalid")
    expect(driver.find_element(By.ID, "f-allowed_key_algorithms-rsa-3072").is_selected(), "the other edits are kept in the form")
    days = driver.find_element(By.ID, "f-max_validity_days")
    days.clear()
    days.send_keys("90")
    driver.find_element(By.ID, "save-profile").click()
    WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "saved"))
    expect(driver.find_element(By.ID, "f-max_validity_days").get_attribute("value") == "90", "the corrected edit is saved")


def auditor_session(driver):
    sign_in(driver, os.environ["AUDITOR_KEY"])
    driver.get(f"{ADMIN}/ui/certificates/{CERT_ID}")
    shot(driver, "12-auditor-detail")
    buttons = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button, main a.button") if "PEM" not in b.text]
    expect(buttons == [], "an auditor sees no action buttons on a certificate", str(buttons))
    driver.get(f"{ADMIN}/ui/enrollment")
    expect(driver.find_elements(By.CSS_SELECTOR, "button[data-reload]") == [], "an auditor sees no reload buttons")
    expect(driver.find_elements(By.CSS_SELECTOR, "a[href$='/challenge']") == [], "an auditor is not offered challenge minting")
    driver.get(f"{ADMIN}/ui/profiles/console-{RUN}")
    expect(driver.find_elements(By.CSS_SELECTOR, "main form") == [], "an auditor sees a profile without an edit form")
    driver.get(f"{ADMIN}/ui/approvals")
    expect(driver.find_elements(By.CSS_SELECTOR, "main form") == [], "an auditor sees no approval forms")
    token = csrf_token(driver)
    status, text = session_post(driver, "/ui/api-keys", {"csrf_token": token, "actor": f"mallory-{RUN}", "role": "admin"})
    expect(status == 403 and "role auditor" in text, "an auditor's forged key creation (valid session and CSRF token) gets 403", f"{status}")
    status, _ = session_post(driver, "/ui/scep/default/challenge", {"csrf_token": token, "ttl_seconds": "600"})
    expect(status == 403, "an auditor's forged challenge minting gets 403", f"{status}")
    status, _ = session_post(driver, f"/ui/profiles/console-{RUN}", {"csrf_token": token, "max_validity_days": "3650"})
    expect(status == 403, "an auditor's forged profile edit gets 403", f"{status}")
    status, _ = session_post(driver, f"/ui/trust-anchors/{ANCHOR}/reload", {"csrf_token": token})
    expect(status == 403, "an auditor's forged reload gets 403", f"{status}")
    status, _ = session_post(driver, f"/ui/certificates/{CERT_ID}/revoke", {"csrf_token": token, "reason": "superseded", "confirm": "yes"})
    expect(status == 403, "an auditor's forged revoke gets 403", f"{status}")


def main():
    driver = browser()
    try:
        admin_session(driver)
        driver.delete_all_cookies()
        auditor_session(driver)
    except Exception:
        try:
            shot(driver, "failure")
            print(driver.current_url, file=sys.stderr)
            print(driver.page_source[:3000], file=sys.stderr)
        finally:
            raise
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
