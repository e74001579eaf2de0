#!/usr/bin/env python3
"""Generates package.json: test vectors for the Kluis package key schedule,
access proof and link proof (docs/architecture.md §3, crypto/src/package.rs), computed independently of the
Rust code with Python's hashlib/hmac and the `cryptography` package.

Key schedule v2 (the post-quantum package identity): Python computes the
mlkem768x25519 seed HKDF-SHA-256(L || S || P', package-id, "kluis/v2/package")
and its `AGE-SECRET-KEY-PQ-1…` string; the recipient (`age1pq1…`, ML-KEM-768
key expansion) comes from another independent implementation, age-encryption
on npm (a devDependency: run `npm ci` at the repository's root first), through
`node`.

The vectors are frozen: run this only to add cases, never to "fix" a failing
test. Usage: python3 gen_package_vectors.py > package.json
"""
import base64, hashlib, hmac, json, os, subprocess, unicodedata
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization

def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]

# Bech32 (BIP 173), without the 90-character limit, as age uses it.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk
def bech32_encode(hrp, data):
    acc, bits, five = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    hrp_l = hrp.lower()
    expand = [ord(c) >> 5 for c in hrp_l] + [0] + [ord(c) & 31 for c in hrp_l]
    pm = polymod(expand + five + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp_l + "1" + "".join(CHARSET[d] for d in five + checksum)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
def age_encryption_recipients(identities):
    """The recipients of post-quantum identities, by age-encryption (npm)."""
    script = ("import('age-encryption').then(async age => { const ids = JSON.parse(process.argv[1]); "
              "const out = []; for (const i of ids) out.push(await age.identityToRecipient(i)); "
              "console.log(JSON.stringify(out)); });")
    out = subprocess.run(["node", "-e", script, json.dumps(identities)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def case(package_id, link, share, password):
    stretched = None
    if password is not None:
        pw = unicodedata.normalize("NFC", password).encode()
        stretched = hashlib.scrypt(pw, salt=b"kluis/v1/password" + package_id.encode(),
                                   n=2**17, r=8, p=1, dklen=32, maxmem=256 * 1024 * 1024)
    ikm = link + share + (stretched or b"")
    secret = hkdf_sha256(ikm, package_id.encode(), b"kluis/v1/package")
    # Key schedule v2: the same ikm under its own label, as an mlkem768x25519 seed.
    pq_seed = hkdf_sha256(ikm, package_id.encode(), b"kluis/v2/package")
    # Access proof A (docs/architecture.md §3, access proof): ikm = L || P'.
    access = hkdf_sha256(link + (stretched or b""), package_id.encode(), b"kluis/v1/access")
    # Link proof A_L (docs/architecture.md §3, link proof): ikm = L alone.
    link_proof = hkdf_sha256(link, package_id.encode(), b"kluis/v1/link")
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "package_id": package_id,
        "link_secret": b64url(link),
        "server_share": b64url(share),
        "password": password,
        "stretched_password": stretched.hex() if stretched else None,
        "identity": bech32_encode("AGE-SECRET-KEY-", secret).upper(),
        "recipient": bech32_encode("age", public),
        "access_proof": b64url(access),
        "access_verifier": b64url(hashlib.sha256(access).digest()),
        "link_proof": b64url(link_proof),
        "link_verifier": b64url(hashlib.sha256(link_proof).digest()),
        "post_quantum_identity": bech32_encode("AGE-SECRET-KEY-PQ-", pq_seed).upper(),
    }

seq = bytes(range(64))
cases = [
    case("pkg_A1b2C3d4E5f6G7h8", seq[:32], seq[32:], None),
    case("pkg_A1b2C3d4E5f6G7h8", seq[:32], seq[32:], "correct horse battery staple"),
    # Decomposed e + combining acute: NFC makes it the same as the composed form.
    case("pkg_A1b2C3d4E5f6G7h8", seq[:32], seq[32:], "Cafe\u0301 \u2615"),
    case("pkg_A1b2C3d4E5f6G7h8", seq[:32], seq[32:], "Caf\u00e9 \u2615"),
    case("x", bytes.fromhex("8f" * 32), bytes.fromhex("00" * 32), None),
    case("Z" * 64, bytes.fromhex("d1e2f3" * 10 + "a4b5"), bytes.fromhex("5a" * 32), ""),
]
for c, recipient in zip(cases, age_encryption_recipients([c["post_quantum_identity"] for c in cases])):
    c["post_quantum_recipient"] = recipient
print(json.dumps(cases, indent=2, ensure_ascii=False))
