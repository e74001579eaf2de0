//! The part of HPKE (RFC 9180) that age's `mlkem768x25519` stanza uses
//! (c2sp.org/age, "mlkem768x25519 recipient stanza"): the base mode
//! (`SealBase`/`OpenBase`, RFC 9180 §6.1) for one message, with KDF
//! HKDF-SHA256 and AEAD ChaCha20Poly1305, over any KEM that hands back a
//! 32-byte shared secret. The KEM itself lives with its recipient type.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aead::{ChaCha20Poly1305, NONCE_LEN, TAG_LEN};

/// `kdf_id` of HKDF-SHA256 (RFC 9180 §7.2).
const KDF_HKDF_SHA256: u16 = 0x0001;
/// `aead_id` of ChaCha20Poly1305 (RFC 9180 §7.3).
const AEAD_CHACHA20_POLY1305: u16 = 0x0003;
/// `mode_base` (RFC 9180 §5).
const MODE_BASE: u8 = 0x00;
/// `Nk` of ChaCha20Poly1305.
const KEY_LEN: usize = 32;

/// A cipher suite: `suite_id = "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)`
/// (RFC 9180 §5.1), always with HKDF-SHA256 and ChaCha20Poly1305 here.
pub(crate) struct Suite([u8; 10]);

impl Suite {
    /// The suite of `kem_id` with HKDF-SHA256 and ChaCha20Poly1305.
    pub(crate) const fn new(kem_id: u16) -> Self {
        let [k0, k1] = kem_id.to_be_bytes();
        let [d0, d1] = KDF_HKDF_SHA256.to_be_bytes();
        let [a0, a1] = AEAD_CHACHA20_POLY1305.to_be_bytes();
        Suite([b'H', b'P', b'K', b'E', k0, k1, d0, d1, a0, a1])
    }

    /// `SealBase(pkR, info, aad = "", pt)` after the KEM produced
    /// `shared_secret`: the ciphertext with its tag appended.
    pub(crate) fn seal(&self, shared_secret: &[u8; 32], info: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let (key, nonce) = self.key_schedule(shared_secret, info);
        let mut out = plaintext.to_vec();
        let tag = ChaCha20Poly1305::new(&key).seal(&nonce, &mut out);
        out.extend_from_slice(&tag);
        out
    }

    /// `OpenBase(enc, skR, info, aad = "", ct)` after the KEM recovered
    /// `shared_secret`; `None` when the tag does not verify.
    pub(crate) fn open(&self, shared_secret: &[u8; 32], info: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let split = ciphertext.len().checked_sub(TAG_LEN)?;
        let (body, tag) = ciphertext.split_at(split);
        let (key, nonce) = self.key_schedule(shared_secret, info);
        let mut out = Zeroizing::new(body.to_vec());
        let tag = tag.try_into().expect("tag is 16 bytes");
        ChaCha20Poly1305::new(&key).open(&nonce, &mut out, tag).then_some(out)
    }

    /// `KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "")`
    /// (RFC 9180 §5.1): the AEAD key and base nonce. Only one message is
    /// sealed per context, so its nonce is the base nonce (sequence 0).
    fn key_schedule(&self, shared_secret: &[u8; 32], info: &[u8]) -> (Zeroizing<[u8; KEY_LEN]>, [u8; NONCE_LEN]) {
        let psk_id_hash = self.labeled_extract(b"", b"psk_id_hash", b"");
        let info_hash = self.labeled_extract(b"", b"info_hash", info);
        let mut context = Vec::with_capacity(1 + 2 * 32);
        context.push(MODE_BASE);
        context.extend_from_slice(psk_id_hash.as_ref());
        context.extend_from_slice(info_hash.as_ref());
        let secret = self.labeled_extract(shared_secret, b"secret", b"");
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.labeled_expand(&secret, b"key", &context, key.as_mut());
        let mut nonce = [0u8; NONCE_LEN];
        self.labeled_expand(&secret, b"base_nonce", &context, &mut nonce);
        (key, nonce)
    }

    /// `LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm)`.
    fn labeled_extract(&self, salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
        let labeled_ikm = Zeroizing::new([b"HPKE-v1".as_slice(), &self.0, label, ikm].concat());
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled_ikm);
        Zeroizing::new(prk.into())
    }

    /// `LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)`.
    fn labeled_expand(&self, prk: &[u8; 32], label: &[u8], info: &[u8], out: &mut [u8]) {
        let length = u16::try_from(out.len()).expect("HPKE outputs here are short");
        let labeled_info = [&length.to_be_bytes(), b"HPKE-v1".as_slice(), &self.0, label, info].concat();
        Hkdf::<Sha256>::from_prk(prk)
            .expect("a SHA-256 PRK is 32 bytes")
            .expand(&labeled_info, out)
            .expect("short outputs are valid HKDF-SHA256 lengths");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open() {
        let suite = Suite::new(0x647a);
        let secret = [3u8; 32];
        let sealed = suite.seal(&secret, b"info", b"sixteen byte key");
        assert_eq!(sealed.len(), 16 + TAG_LEN);
        assert_eq!(suite.open(&secret, b"info", &sealed).unwrap().as_slice(), b"sixteen byte key");
        // Another info, secret or suite is another key.
        assert!(suite.open(&secret, b"other", &sealed).is_none());
        assert!(suite.open(&[4u8; 32], b"info", &sealed).is_none());
        assert!(Suite::new(0x0020).open(&secret, b"info", &sealed).is_none());
    }

    /// RFC 9180 Appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    /// ChaCha20Poly1305, base mode): the key schedule and the first sealed message.
    #[test]
    fn rfc9180_a_2_1() {
        let hex = |s: &str| hex::decode(s).unwrap();
        let suite = Suite::new(0x0020);
        let shared: [u8; 32] =
            hex("0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7").try_into().unwrap();
        let info = hex("4f6465206f6e2061204772656369616e2055726e");
        let (key, nonce) = suite.key_schedule(&shared, &info);
        assert_eq!(key.as_slice(), hex("ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91"));
        assert_eq!(nonce.as_slice(), hex("5c4d98150661b848853b547f"));
    }
}
