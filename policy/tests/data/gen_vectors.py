#!/usr/bin/env python3
"""Writes vectors.json: the frozen test vectors of the content check.

The expectations are written here by hand from the standards (see the
detector modules); the checksums of every number are checked by the small
independent implementations below, not by the Rust code. Run it again only to
add vectors: `python3 policy/tests/data/gen_vectors.py`.
"""
import json, os

def bsn_ok(s):
    s = s.rjust(9, "0")
    return len(s) == 9 and s.isdigit() and set(s) != {"0"} and sum(int(d) * w for d, w in zip(s, [9, 8, 7, 6, 5, 4, 3, 2, -1])) % 11 == 0

LENGTHS = {"NL": 18, "DE": 22, "BE": 16, "GB": 22, "FR": 27}
def iban_ok(s):
    s = s.replace(" ", "").upper()
    if LENGTHS.get(s[:2]) != len(s):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1

def luhn(s):
    s = s.replace(" ", "").replace("-", "")
    total = 0
    for i, d in enumerate(reversed(s)):
        d = int(d)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0

def icao(s):
    val = lambda c: int(c) if c.isdigit() else ord(c) - 55
    return sum(val(c) * w for c, w in zip(s[:8], [7, 3, 1] * 3)) % 10 == int(s[8])

assert bsn_ok("612345671") and bsn_ok("12345672")
assert bsn_ok("123456782") and bsn_ok("111222333") and bsn_ok("12345672") and not bsn_ok("123456783")
assert iban_ok("NL91ABNA0417164300") and not iban_ok("NL91ABNA0417164301") and iban_ok("DE89370400440532013000")
assert iban_ok("BE71096123456769") and not iban_ok("GB29NWBK6016133192681") and iban_ok("GB29NWBK60161331926819")
assert luhn("4111111111111111") and luhn("1234567812345670") and not luhn("4111111111111112")
assert luhn("378282246310005") and luhn("5555555555554444") and luhn("2223003122003222") and luhn("4222222222222")
assert icao("XR1001R58") and not icao("XR1001R57") and icao("XRO001R51")

def f(kind, confidence, count=1, list=None):
    out = {"kind": kind}
    if list is not None:
        out["list"] = list
    out.update(confidence=confidence, count=count)
    return out

ALL = ["bsn", "iban", "payment_card", "nl_id_document", "email"]
scan = []
def v(name, text, findings, policy=None, hex=None):
    vec = {"name": name}
    if policy is not None:
        vec["policy"] = policy
    if hex is not None:
        vec["hex"] = hex
    else:
        vec["text"] = text
    vec["findings"] = findings
    scan.append(vec)

# BSN
v("bsn alone", "123456782", [f("bsn", "medium")])
v("bsn with keyword before", "Mijn BSN: 123456782.", [f("bsn", "high")])
v("bsn with keyword after", "Nummer 123456782 is mijn burgerservicenummer", [f("bsn", "high")])
v("bsn dotted 3-3-3", "sofinummer 123.456.782", [f("bsn", "high")])
v("bsn spaced 3-3-3", "het nummer 123 456 782, graag", [f("bsn", "medium")])
v("bsn dashed 3-3-3", "123-456-782", [f("bsn", "medium")])
v("bsn 4-2-3 as the tax office prints it", "BSN 1234.56.782", [f("bsn", "high")])
v("bsn fails 11-proof by one digit", "BSN 123456783", [])
v("bsn all zeros", "BSN 000000000", [])
v("bsn eight digits is low", "12345672", [f("bsn", "low")])
v("bsn eight digits with keyword", "sofinummer: 12345672", [f("bsn", "high")])
v("bsn inside a longer grouped number", "123 456 782 1", [])
v("bsn ten digits", "1234567820", [])
v("a mobile number that passes the 11-proof", "612345671", [f("bsn", "medium")])
v("the same in a phone number is no bsn", "Bel me: +31 612345671 of 06-12345672", [])
v("a list of bsns", "BSN's: 123456782 111222333", [f("bsn", "high", 2)])
v("bsn mixed separators", "123 456.782", [])
v("bsn two, keyword covers both", "BSN 123456782 en 111222333", [f("bsn", "high", 2)])
v("bsn keyword at exactly 300 characters before", "BSN" + " " * 300 + "123456782", [f("bsn", "high")])
v("bsn keyword at 301 characters before", "BSN" + " " * 301 + "123456782", [f("bsn", "medium")])
v("bsn keyword at exactly 300 characters after", "123456782" + " " * 300 + "bsn", [f("bsn", "high")])
v("bsn keyword at 301 characters after", "123456782" + " " * 301 + "bsn", [f("bsn", "medium")])
v("proximity counts characters, not bytes", "BSN " + "\u00e9" * 298 + " 123456782", [f("bsn", "high")])
v("one near, one far", "123456782" + " x" * 200 + " BSN 111222333", [f("bsn", "high"), f("bsn", "medium")])
v("keyword is a whole word", "BSNs 123456782", [f("bsn", "medium")])
v("no-break spaces group digits", "BSN 123\u00a0456\u00a0782", [f("bsn", "high")])
v("number split over a line break is two numbers", "123 456\n782", [])
# IBAN
v("iban compact", "NL91ABNA0417164300", [f("iban", "medium")])
v("iban grouped with keyword", "IBAN: NL91 ABNA 0417 1643 00", [f("iban", "high")])
v("iban lower case", "rekening nl91abna0417164300", [f("iban", "high")])
v("iban germany grouped", "DE89 3704 0044 0532 0130 00", [f("iban", "medium")])
v("iban belgium", "BE71 0961 2345 6769", [f("iban", "medium")])
v("iban france", "FR14 2004 1010 0505 0001 3M02 606", [f("iban", "medium")])
v("iban checksum off by one", "IBAN NL91 ABNA 0417 1643 01", [])
v("iban wrong length for its country", "IBAN GB29NWBK6016133192681", [])
v("iban too long for NL", "NL91ABNA04171643000", [])
v("iban unknown country", "XX91ABNA0417164300", [])
v("iban with dashes is not read", "NL91-ABNA-0417-1643-00", [])
# Payment cards
v("visa grouped", "4111 1111 1111 1111", [f("payment_card", "medium")])
v("visa with keyword", "creditcard 4111-1111-1111-1111 exp 12/29", [f("payment_card", "high")])
v("visa 13 digits with scheme name", "Visa: 4222222222222", [f("payment_card", "high")])
v("mastercard", "5555555555554444", [f("payment_card", "medium")])
v("mastercard 2-series", "2223 0031 2200 3222", [f("payment_card", "medium")])
v("amex 4-6-5", "Amex 3782 822463 10005", [f("payment_card", "high")])
v("luhn-valid without a scheme prefix", "card 1234 5678 1234 5670", [])
v("luhn fails", "card 4111 1111 1111 1112", [])
v("visa length 15 is not issued", "411111111111111", [])
v("card with dots is not read", "4111.1111.1111.1111", [])
# Dutch ID documents
v("passport number alone is low", "XR1001R58", [f("nl_id_document", "low")])
v("passport number with keyword", "paspoort XR1001R58", [f("nl_id_document", "high")])
v("identity card keyword after", "XR1001R58 (identiteitskaart)", [f("nl_id_document", "high")])
v("passport check digit off", "paspoort XR1001R57", [])
v("passport number with the letter O", "paspoort XRO001R51", [])
v("passport number in lower case", "paspoort xr1001r58", [])
# E-mail
v("email address", "Mail jan.de-vries@example.nl of a@b.co.uk.", [f("email", "medium", 2)])
v("email needs a domain with a dot", "root@localhost", [])
v("email off by default", "jan@example.nl", [], policy={})
# Keywords
v("medical list, three different words", "De patiënt heeft kanker; diagnose volgt.", [f("keywords", "high", 3, "medical")], policy={"detectors": []})
v("medical phrase", "Zie het MEDISCH-DOSSIER", [f("keywords", "low", 1, "medical")], policy={"detectors": []})
v("keywords are whole words", "kankeronderzoek en patiëntvriendelijk", [], policy={"detectors": []})
v("accented capitals fold", "PATIËNT en DIAGNOSE", [f("keywords", "medium", 2, "medical")], policy={"detectors": []})
v("own list", "Project Tulip: the tulip plan and project-x", [f("keywords", "medium", 3, "project")],
  policy={"detectors": [], "keyword_lists": [{"name": "project", "words": ["Tulip", "Project X", ""]}]})
v("default policy: numbers and both lists", "Salaris op IBAN NL91ABNA0417164300, BSN 123456782, ziekmelding", [
    f("bsn", "high"), f("iban", "high"), f("keywords", "low", 1, "medical"), f("keywords", "low", 1, "financial")], policy={})
# Text that is not clean UTF-8
# "BSN \xff 123456782\xc3"
v("invalid utf-8 is read lossily", None, [f("bsn", "high")], hex="42534e20ff20313233343536373832c3")
# "pati\xc3nt kanker\xc3": the cut-off sequence splits "patient", "kanker" still counts
v("a cut-off sequence splits a word", None, [f("keywords", "low", 1, "medical")], policy={"detectors": []},
  hex="70617469c36e74206b616e6b6572c3")
v("empty text", "", [])

POLICY = {"detectors": ALL, "keyword_lists": []}

decide = []
def d(name, policy, facts, text, verdict):
    decide.append({"name": name, "policy": policy, "facts": facts, "text": text, "verdict": verdict})

ext = {"recipients": ["Jan <jan@klant.nl>"]}
bsn_high = [f("bsn", "high")]
d("advise: sensitive content to an external recipient warns", {}, ext, "BSN 123456782",
  {"action": "warn", "findings": bsn_high, "external_recipients": 1, "reasons": [{"kind": "sensitive_content"}]})
d("require: blocks", {"mode": "require"}, ext, "BSN 123456782",
  {"action": "block", "findings": bsn_high, "external_recipients": 1, "reasons": [{"kind": "sensitive_content"}]})
d("require: purely internal mail is allowed", {"mode": "require", "internal_domains": ["example.nl"]},
  {"recipients": ["a@example.nl", "b@Mail.Example.NL"]}, "BSN 123456782",
  {"action": "allow", "findings": bsn_high, "external_recipients": 0, "reasons": []})
d("require: one external recipient among internal ones", {"mode": "require", "internal_domains": ["example.nl"]},
  {"recipients": ["a@example.nl", "b@badexample.nl"]}, "BSN 123456782",
  {"action": "block", "findings": bsn_high, "external_recipients": 1, "reasons": [{"kind": "sensitive_content"}]})
d("off: allowed", {"mode": "off"}, ext, "BSN 123456782",
  {"action": "allow", "findings": bsn_high, "external_recipients": 1, "reasons": []})
d("secured: allowed", {"mode": "require"}, {"recipients": ["jan@klant.nl"], "secured": True}, "BSN 123456782",
  {"action": "allow", "findings": bsn_high, "external_recipients": 1, "reasons": []})
d("below min_confidence: allowed", {"mode": "require", "min_confidence": "high"}, ext, "123456782",
  {"action": "allow", "findings": [], "external_recipients": 1, "reasons": []})
d("low confidence passport number is below the default", {"mode": "require"}, ext, "XR1001R58",
  {"action": "allow", "findings": [], "external_recipients": 1, "reasons": []})
d("min_confidence low reports it", {"mode": "require", "min_confidence": "low"}, ext, "XR1001R58",
  {"action": "block", "findings": [f("nl_id_document", "low")], "external_recipients": 1, "reasons": [{"kind": "sensitive_content"}]})
d("external attachments", {"mode": "require", "secure_external_attachments": True, "internal_domains": ["example.nl"]},
  {"recipients": ["a@example.nl", "jan@klant.nl"], "attachments": 2}, "Hierbij de stukken.",
  {"action": "block", "findings": [], "external_recipients": 1, "reasons": [{"kind": "external_attachments", "count": 2}]})
d("internal attachments", {"mode": "require", "secure_external_attachments": True, "internal_domains": ["example.nl"]},
  {"recipients": ["a@example.nl"], "attachments": 2}, "Hierbij de stukken.",
  {"action": "allow", "findings": [], "external_recipients": 0, "reasons": []})
d("both reasons", {"secure_external_attachments": True}, {"recipients": ["jan@klant.nl"], "attachments": 1},
  "De patiënt, de diagnose en de behandeling.",
  {"action": "warn", "findings": [f("keywords", "high", 3, "medical")], "external_recipients": 1,
   "reasons": [{"kind": "sensitive_content"}, {"kind": "external_attachments", "count": 1}]})
d("no recipients", {"mode": "require"}, {}, "BSN 123456782",
  {"action": "allow", "findings": bsn_high, "external_recipients": 0, "reasons": []})

out = {
    "about": "Frozen vectors of the Kluis content check (kluis-policy), read by the native, wasm and JavaScript tests. "
             "scan: policy (default: scan_policy; {} means ContentPolicy::default()) and text (or hex bytes) give findings. "
             "decide: scan text with policy, then decide(policy, facts, findings) gives verdict.",
    "scan_policy": POLICY,
    "scan": scan,
    "decide": decide,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
with open(path, "w", encoding="utf-8") as fh:
    json.dump(out, fh, ensure_ascii=False, indent=1)
    fh.write("\n")
print(f"{len(scan)} scan vectors, {len(decide)} decide vectors -> {path}")
