//! A user's key bundle: attribute keys from one authority (or several, merged) for one GID.
//! A Time Access Token and a Purpose Access Token are each one `UserKey`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use ark_serialize::{Compress, Validate};
use zeroize::Zeroize;

use crate::attribute::Attribute;
use crate::error::{DecodeError, Error, Result, SchemeError};
use crate::scheme::gid::{Gid, MAX_GID_PART};
use crate::suite::{Group, Suite, G1, G2};
use crate::wire::codec::{put_point, put_string, put_u16, Reader};
use crate::wire::{Header, Kind};

/// Most attribute keys one bundle may hold (a TAT has 19).
pub const MAX_KEY_ATTRIBUTES: usize = 256;
/// Longest canonical attribute text (`name:value@authority`).
pub const MAX_ATTRIBUTE_TEXT: usize = 260;

/// One attribute's key: `K ∈ G1` (secret) and `K' ∈ G2`, with `K'` prepared for pairing on
/// first use (preparing costs ≈0.12 ms; a key is used for many decryptions).
pub(crate) struct KeyComponent<S: Suite> {
    pub(crate) k: G1<S>,
    pub(crate) k_prime: G2<S>,
    prepared: OnceLock<S::G2Prepared>,
}

impl<S: Suite> KeyComponent<S> {
    pub(crate) fn new(k: G1<S>, k_prime: G2<S>) -> Self {
        KeyComponent { k, k_prime, prepared: OnceLock::new() }
    }

    pub(crate) fn k_prime_prepared(&self) -> S::G2Prepared {
        self.prepared.get_or_init(|| S::prepare_g2_for_reuse(&self.k_prime)).clone()
    }
}

impl<S: Suite> Clone for KeyComponent<S> {
    fn clone(&self) -> Self {
        KeyComponent { k: self.k.clone(), k_prime: self.k_prime.clone(), prepared: self.prepared.clone() }
    }
}

impl<S: Suite> Drop for KeyComponent<S> {
    fn drop(&mut self) {
        self.k.zeroize();
    }
}

/// Attribute keys bound to one `(UID, SESSIONID)`.
pub struct UserKey<S: Suite> {
    gid: Gid,
    h_gid: G1<S>,
    components: BTreeMap<Attribute, KeyComponent<S>>,
}

impl<S: Suite> Clone for UserKey<S> {
    fn clone(&self) -> Self {
        UserKey { gid: self.gid.clone(), h_gid: self.h_gid.clone(), components: self.components.clone() }
    }
}

impl<S: Suite> fmt::Debug for UserKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKey")
            .field("suite", &S::ID)
            .field("attributes", &self.components.len())
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl<S: Suite> UserKey<S> {
    pub(crate) fn from_components(
        gid: Gid,
        h_gid: G1<S>,
        components: impl IntoIterator<Item = (Attribute, KeyComponent<S>)>,
    ) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (a, c) in components {
            if map.insert(a, c).is_some() {
                return Err(Error::Misuse("the same attribute twice in one key bundle"));
            }
        }
        Ok(UserKey { gid, h_gid, components: map })
    }

    /// The identity this bundle is bound to.
    pub fn gid(&self) -> &Gid {
        &self.gid
    }

    /// The attributes this bundle holds keys for, in canonical order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.components.keys()
    }

    /// Number of attribute keys.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether the bundle holds no key (never true for a decoded or generated bundle).
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// The authorities that issued these keys.
    pub fn authorities(&self) -> BTreeSet<&str> {
        self.components.keys().map(Attribute::authority).collect()
    }

    pub(crate) fn h_gid(&self) -> &G1<S> {
        &self.h_gid
    }

    pub(crate) fn component(&self, a: &Attribute) -> Option<&KeyComponent<S>> {
        self.components.get(a)
    }

    /// Adds `other`'s keys (e.g. a PAT to a TAT). Both must be bound to the same GID: keys
    /// of different users or sessions never combine (the collusion rule).
    pub fn merge(&mut self, other: &UserKey<S>) -> Result<()> {
        if self.gid != other.gid {
            return Err(SchemeError::MixedIdentities.into());
        }
        if self.components.len() + other.components.len() > 2 * MAX_KEY_ATTRIBUTES {
            return Err(Error::Misuse("merged key bundle too large"));
        }
        for (a, c) in &other.components {
            self.components.entry(a.clone()).or_insert_with(|| c.clone());
        }
        Ok(())
    }

    /// Encodes as
    /// `header ‖ uid ‖ session ‖ count ‖ (attribute ‖ K ‖ K')*` (strings u16-length-prefixed,
    /// points compressed). The result is secret.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = Vec::new();
        Header { kind: Kind::UserKey, suite: S::ID }.encode(&mut out);
        put_string(&mut out, self.gid.uid());
        put_string(&mut out, self.gid.session());
        put_u16(&mut out, self.components.len().min(usize::from(u16::MAX)) as u16);
        for (a, c) in &self.components {
            put_string(&mut out, &a.to_string());
            put_point(&mut out, &c.k, Compress::Yes);
            put_point(&mut out, &c.k_prime, Compress::Yes);
        }
        zeroize::Zeroizing::new(out)
    }

    /// Decodes a bundle, validating every point (on curve, in subgroup), every attribute's
    /// syntax, and refusing duplicates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_for(bytes, &|_| true)
    }

    /// Decodes a bundle keeping only the components whose attribute `needed` accepts. Every
    /// component's attribute text is still checked and duplicates are refused, but the points
    /// of the others are skipped without being decoded. Decoding a validated G1 + G2 pair
    /// costs about 0.25 ms, and a TAT has 19 of them, of which a decryption uses a few. Pass
    /// the attributes of the policies about to be decrypted (`Policy::attributes`).
    pub fn from_bytes_for(bytes: &[u8], needed: &dyn Fn(&Attribute) -> bool) -> Result<Self> {
        let mut r = Reader::new(bytes);
        Header::expect(&mut r, Kind::UserKey, S::ID)?;
        let uid = r.string("uid", MAX_GID_PART)?;
        let session = r.string("session id", MAX_GID_PART)?;
        let gid = Gid::new(uid, session).map_err(|_| DecodeError::InvalidText("uid or session id"))?;
        let n = r.count("key attributes", MAX_KEY_ATTRIBUTES)?;
        if n == 0 {
            return Err(DecodeError::Empty("key bundle").into());
        }
        let g1_size = G1::<S>::encoded_len(Compress::Yes);
        let g2_size = G2::<S>::encoded_len(Compress::Yes);
        let mut map = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..n {
            let text = r.string("key attribute", MAX_ATTRIBUTE_TEXT)?;
            let a = Attribute::parse(text).map_err(|_| DecodeError::InvalidText("key attribute"))?;
            if a.to_string() != text {
                return Err(DecodeError::InvalidText("key attribute").into());
            }
            if !seen.insert(a.clone()) {
                return Err(DecodeError::DuplicateAttribute.into());
            }
            if needed(&a) {
                let k: G1<S> = r.point(Compress::Yes, Validate::Yes, "key component K")?;
                let k_prime: G2<S> = r.point(Compress::Yes, Validate::Yes, "key component K'")?;
                map.insert(a, KeyComponent::new(k, k_prime));
            } else {
                r.take(g1_size + g2_size, "key component")?;
            }
        }
        r.finish("key bundle")?;
        let h_gid = S::hash_gid(&gid.encode());
        Ok(UserKey { gid, h_gid, components: map })
    }
}
