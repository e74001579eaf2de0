//! The MLKEM768-X25519 (X-Wing) hybrid post-quantum recipient type
//! (c2sp.org/age, "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum
//! recipient type").
//!
//! Recipients are Bech32 strings with HRP `age1pq` (`age1pq1…`, 1216 bytes:
//! the ML-KEM-768 encapsulation key and an X25519 public key), identities
//! Bech32 with HRP `AGE-SECRET-KEY-PQ-` (a 32-byte seed). The file key is
//! sealed with HPKE base mode ([`crate::hpke`]) over the MLKEM768-X25519 KEM
//! of draft-ietf-hpke-pq (filippo.io/hpke-pq), which is X-Wing
//! (draft-connolly-cfrg-xwing-kem): ML-KEM-768 (FIPS 203) and X25519, their
//! secrets combined with SHA3-256.
//!
//! The spec says a file encrypted to this type "SHOULD NOT" also be
//! encrypted to classic recipients (that would undo the quantum resistance);
//! [`crate::Encryptor`] refuses the mix ([`crate::Recipient::is_post_quantum`]).
//!
//! ML-KEM is `libcrux-ml-kem`, whose portable and AVX2 code is formally
//! verified (panic freedom, correctness, secret independence) and runs in
//! WebAssembly; SHA-3 and SHAKE from `libcrux-sha3` beside it.

use std::fmt;
use std::str::FromStr;

use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::bech32_keys::{decode, encode};
use crate::error::{EncryptError, Error, HeaderError, Result};
use crate::format::{Stanza, decode_b64, encode_b64};
use crate::hpke::Suite;
use crate::keys::FileKey;
use crate::primitives::random_secret;
use crate::recipient::WRAPPED_KEY_LEN;
use crate::x25519::ParseKeyError;

const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info` of the stanza.
const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// HPKE `kem_id` of MLKEM768-X25519 (draft-ietf-hpke-pq).
const KEM_ID: u16 = 0x647a;
const SUITE: Suite = Suite::new(KEM_ID);
const RECIPIENT_HRP: &str = "age1pq";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";

const MLKEM_PUBLIC_LEN: usize = 1184;
const MLKEM_CIPHERTEXT_LEN: usize = 1088;
/// `Npk`: the ML-KEM-768 encapsulation key, then the X25519 public key.
pub const PUBLIC_KEY_LEN: usize = MLKEM_PUBLIC_LEN + 32;
/// `Nenc`: the ML-KEM-768 ciphertext, then the X25519 ephemeral share.
pub const ENC_LEN: usize = MLKEM_CIPHERTEXT_LEN + 32;
/// X-Wing's domain separator, `\./` `/^\`.
const XWING_LABEL: &[u8; 6] = br"\.//^\";

/// The KEM: X-Wing's key expansion, encapsulation, decapsulation and combiner.
mod kem {
    use super::*;

    /// An ML-KEM-768 decapsulation key, wiped when dropped.
    pub(super) struct MlKemSecret(MlKem768PrivateKey);

    impl Drop for MlKemSecret {
        fn drop(&mut self) {
            self.0[0..].zeroize();
        }
    }

    /// The expanded decapsulation key of a seed.
    pub(super) struct Secret {
        pub(super) mlkem: MlKemSecret,
        pub(super) x25519: StaticSecret,
        pub(super) public: Box<[u8; PUBLIC_KEY_LEN]>,
    }

    /// `expanded = SHAKE256(seed, 96)`; ML-KEM-768 `KeyGen_internal(d =
    /// expanded[0:32], z = expanded[32:64])`; X25519 secret `expanded[64:96]`.
    pub(super) fn expand(seed: &[u8; 32]) -> Secret {
        let expanded = Zeroizing::new(libcrux_sha3::shake256::<96>(seed));
        let mut d_z = Zeroizing::new([0u8; 64]);
        d_z.copy_from_slice(&expanded[..64]);
        let (mlkem, mlkem_public) = mlkem768::generate_key_pair(*d_z).into_parts();
        let mut x25519_bytes = Zeroizing::new([0u8; 32]);
        x25519_bytes.copy_from_slice(&expanded[64..]);
        let x25519 = StaticSecret::from(*x25519_bytes);
        let mut public = Box::new([0u8; PUBLIC_KEY_LEN]);
        public[..MLKEM_PUBLIC_LEN].copy_from_slice(mlkem_public.as_slice());
        public[MLKEM_PUBLIC_LEN..].copy_from_slice(PublicKey::from(&x25519).as_bytes());
        Secret { mlkem: MlKemSecret(mlkem), x25519, public }
    }

    /// `SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)`.
    fn combine(ss_m: &[u8; 32], ss_x: &[u8; 32], ct_x: &[u8; 32], pk_x: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        let input = Zeroizing::new([ss_m.as_slice(), ss_x, ct_x, pk_x, XWING_LABEL].concat());
        Zeroizing::new(libcrux_sha3::sha256(&input))
    }

    /// A shared secret and the `enc` that carries it to the recipient.
    pub(super) type Encapsulation = (Zeroizing<[u8; 32]>, Box<[u8; ENC_LEN]>);

    /// `Encap(pk)`: the shared secret and `enc = ct_M || ct_X`. `None` if
    /// the X25519 part is a low-order point (an all-zero X25519 secret).
    pub(super) fn encapsulate(public: &Recipient) -> Result<Option<Encapsulation>> {
        let ephemeral = StaticSecret::from(*random_secret::<32>()?);
        let ct_x = PublicKey::from(&ephemeral);
        let pk_x = PublicKey::from(public.x25519_bytes());
        let ss_x = ephemeral.diffie_hellman(&pk_x);
        if !ss_x.was_contributory() {
            return Ok(None);
        }
        let (ct_m, ss_m) = mlkem768::encapsulate(&public.mlkem, *random_secret::<32>()?);
        let ss_m = Zeroizing::new(ss_m);
        let mut enc = Box::new([0u8; ENC_LEN]);
        enc[..MLKEM_CIPHERTEXT_LEN].copy_from_slice(ct_m.as_slice());
        enc[MLKEM_CIPHERTEXT_LEN..].copy_from_slice(ct_x.as_bytes());
        Ok(Some((combine(&ss_m, ss_x.as_bytes(), ct_x.as_bytes(), pk_x.as_bytes()), enc)))
    }

    /// `Decap(enc, sk)`. `None` if the X25519 share gives the all-zero
    /// secret (a low-order point), which the KEM forbids.
    pub(super) fn decapsulate(secret: &Secret, enc: &[u8; ENC_LEN]) -> Option<Zeroizing<[u8; 32]>> {
        let mut ct_m = [0u8; MLKEM_CIPHERTEXT_LEN];
        ct_m.copy_from_slice(&enc[..MLKEM_CIPHERTEXT_LEN]);
        let ct_x: [u8; 32] = enc[MLKEM_CIPHERTEXT_LEN..].try_into().expect("32 bytes");
        let ss_x = secret.x25519.diffie_hellman(&PublicKey::from(ct_x));
        if bool::from(ss_x.as_bytes().ct_eq(&[0u8; 32])) {
            return None;
        }
        // ML-KEM decapsulation never fails: a bad ciphertext yields an
        // unrelated secret (implicit rejection), and the HPKE tag then fails.
        let ss_m = Zeroizing::new(mlkem768::decapsulate(&secret.mlkem.0, &MlKem768Ciphertext::from(ct_m)));
        let pk_x: &[u8; 32] = secret.public[MLKEM_PUBLIC_LEN..].try_into().expect("32 bytes");
        Some(combine(&ss_m, ss_x.as_bytes(), &ct_x, pk_x))
    }
}

/// A post-quantum recipient (`age1pq1…`).
#[derive(Clone)]
pub struct Recipient {
    // Boxed: 1184 bytes would make every value holding a recipient that large.
    mlkem: Box<MlKem768PublicKey>,
    x25519: [u8; 32],
}

impl Recipient {
    fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<Self> {
        let mut mlkem = [0u8; MLKEM_PUBLIC_LEN];
        mlkem.copy_from_slice(&bytes[..MLKEM_PUBLIC_LEN]);
        let mlkem = Box::new(MlKem768PublicKey::from(mlkem));
        // FIPS 203 §7.2 input check: every coefficient reduced mod q.
        if !mlkem768::validate_public_key(&mlkem) {
            return None;
        }
        Some(Recipient { mlkem, x25519: bytes[MLKEM_PUBLIC_LEN..].try_into().expect("32 bytes") })
    }

    fn x25519_bytes(&self) -> [u8; 32] {
        self.x25519
    }

    /// The 1216-byte public key: ML-KEM-768 encapsulation key, X25519 key.
    pub fn to_bytes(&self) -> Box<[u8; PUBLIC_KEY_LEN]> {
        let mut bytes = Box::new([0u8; PUBLIC_KEY_LEN]);
        bytes[..MLKEM_PUBLIC_LEN].copy_from_slice(self.mlkem.as_slice());
        bytes[MLKEM_PUBLIC_LEN..].copy_from_slice(&self.x25519);
        bytes
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.mlkem.as_slice() == other.mlkem.as_slice() && self.x25519 == other.x25519
    }
}
impl Eq for Recipient {}

impl FromStr for Recipient {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        let bytes = decode::<PUBLIC_KEY_LEN>(s, RECIPIENT_HRP, "age1pq1")?;
        Recipient::from_bytes(&bytes).ok_or(ParseKeyError::Invalid)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(RECIPIENT_HRP, self.to_bytes().as_slice()))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_string();
        write!(f, "Recipient({}…{})", &text[..16], &text[text.len() - 8..])
    }
}

impl crate::Recipient for Recipient {
    fn wrap_file_key(&self, file_key: &FileKey) -> Result<Vec<Stanza>> {
        let (shared, enc) = kem::encapsulate(self)?.ok_or(EncryptError::LowOrderRecipient)?;
        Ok(vec![Stanza {
            tag: STANZA_TAG.into(),
            args: vec![encode_b64(enc.as_slice())],
            body: SUITE.seal(&shared, HPKE_INFO, file_key.expose()),
        }])
    }

    fn is_post_quantum(&self) -> bool {
        true
    }
}

/// A post-quantum identity (`AGE-SECRET-KEY-PQ-1…`): a 32-byte seed. Wiped
/// when dropped.
#[derive(Clone)]
pub struct Identity(Zeroizing<[u8; 32]>);

impl Identity {
    /// A new random identity.
    pub fn generate() -> Result<Self> {
        Ok(Identity(random_secret::<32>()?))
    }

    /// The identity whose 32-byte seed is `seed` (a derived key, e.g. the
    /// post-quantum package identity of docs/architecture.md §3).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Identity(Zeroizing::new(seed))
    }

    /// The recipient that files for this identity are encrypted to.
    pub fn to_public(&self) -> Recipient {
        let public = kem::expand(&self.0).public;
        Recipient::from_bytes(&public).expect("a generated ML-KEM key is valid")
    }

    /// The Bech32 encoding, upper case as age-keygen writes it.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(encode(IDENTITY_HRP, self.0.as_ref()).to_ascii_uppercase())
    }
}

impl FromStr for Identity {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, ParseKeyError> {
        Ok(Identity(decode::<32>(s, IDENTITY_HRP, "AGE-SECRET-KEY-PQ-1")?))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<post-quantum secret>)")
    }
}

fn invalid(reason: &'static str) -> Error {
    HeaderError::InvalidStanza { kind: STANZA_TAG, reason }.into()
}

impl crate::Identity for Identity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    /// Expands the seed once for the whole header: ML-KEM key generation is
    /// the costly step, and a header may hold many stanzas.
    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey>> {
        let mut secret = None;
        stanzas.iter().filter(|s| s.tag == STANZA_TAG).find_map(|stanza| {
            let secret = secret.get_or_insert_with(|| kem::expand(&self.0));
            unwrap_one(secret, stanza)
        })
    }
}

fn unwrap_one(secret: &kem::Secret, stanza: &Stanza) -> Option<Result<FileKey>> {
    if stanza.args.len() != 1 {
        return Some(Err(invalid("expected exactly one argument, the encapsulated key")));
    }
    let Some(enc) = decode_b64(&stanza.args[0]).and_then(|b| <Box<[u8; ENC_LEN]>>::try_from(b).ok()) else {
        return Some(Err(invalid("the encapsulated key is not 1120 bytes of canonical base64")));
    };
    if stanza.body.len() != WRAPPED_KEY_LEN {
        return Some(Err(invalid("the body is not 32 bytes")));
    }
    let Some(shared) = kem::decapsulate(secret, &enc) else {
        return Some(Err(invalid("the X25519 share is a low-order point")));
    };
    // A body that does not open was meant for another recipient.
    let key = SUITE.open(&shared, HPKE_INFO, &stanza.body)?;
    let key: [u8; 16] = key.as_slice().try_into().expect("body length checked");
    Some(Ok(FileKey::from_bytes(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity as _, Recipient as _};

    // From c2sp.org/age, "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type".
    const SPEC_IDENTITY: &str = "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR";
    const SPEC_RECIPIENT_START: &str = "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrq";
    const SPEC_RECIPIENT_END: &str = "aeq0d3fzv49zc0k";

    #[test]
    fn spec_example_keys() {
        let identity: Identity = SPEC_IDENTITY.parse().unwrap();
        let recipient = identity.to_public().to_string();
        assert!(recipient.starts_with(SPEC_RECIPIENT_START), "{recipient}");
        assert!(recipient.ends_with(SPEC_RECIPIENT_END), "{recipient}");
        assert_eq!(identity.to_secret_string().as_str(), SPEC_IDENTITY);
        assert!(recipient.parse::<Recipient>().unwrap() == identity.to_public());
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(SPEC_IDENTITY.parse::<Recipient>(), Err(ParseKeyError::WrongPrefix { .. })));
        let x25519 = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        assert!(matches!(x25519.parse::<Recipient>(), Err(ParseKeyError::WrongPrefix { .. })));
        // An ML-KEM key with a coefficient of q or more fails the input check.
        let mut bytes = *Identity::generate().unwrap().to_public().to_bytes();
        bytes[0] = 0xff;
        bytes[1] = 0xff;
        let text = encode(RECIPIENT_HRP, &bytes);
        assert_eq!(text.parse::<Recipient>(), Err(ParseKeyError::Invalid));
    }

    #[test]
    fn wrap_unwrap() {
        let identity = Identity::generate().unwrap();
        let key = FileKey::from_bytes([9; 16]);
        let stanzas = identity.to_public().wrap_file_key(&key).unwrap();
        assert_eq!(stanzas[0].tag, STANZA_TAG);
        let back = identity.unwrap_stanzas(&stanzas).unwrap().unwrap();
        assert_eq!(back.expose(), key.expose());
        let other = Identity::generate().unwrap();
        assert!(other.unwrap_stanzas(&stanzas).is_none());
    }

    #[test]
    fn files_are_post_quantum_only() {
        let pq = Identity::generate().unwrap();
        let other_pq = Identity::generate().unwrap();
        let file = crate::encrypt(&[&pq.to_public(), &other_pq.to_public()], b"hello").unwrap();
        assert_eq!(crate::decrypt(&[&other_pq], &file).unwrap(), b"hello");
        let classic = crate::x25519::Identity::generate().unwrap().to_public();
        let mixed = crate::encrypt(&[&pq.to_public(), &classic], b"hello");
        assert!(matches!(mixed, Err(Error::Encrypt(EncryptError::MixedPostQuantum))));
    }
}
