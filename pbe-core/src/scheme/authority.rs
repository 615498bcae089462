//! Authority setup and key generation (DESIGN.md §3: `AuthSetup`, `KeyGen`).

use std::fmt;

use ark_ff::{UniformRand, Zero};
use ark_serialize::{Compress, Validate};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::attribute::{validate_identifier, Attribute};
use crate::error::{DecodeError, Error, Result, SchemeError};
use crate::scheme::attribute_hashes::AttributeHashes;
use crate::scheme::gid::Gid;
use crate::scheme::user_key::{KeyComponent, UserKey};
use crate::suite::{Fr, Group, Gt, Suite, G1, G2};
use crate::wire::codec::{element_size, put_element, put_point, put_string, Reader};
use crate::wire::{Header, Kind};

/// Longest authority name (bytes).
pub const MAX_AUTHORITY_NAME: usize = 64;

/// An authority's public key `PK = (gt^α, g2^y)`, with its name.
pub struct AuthorityPublicKey<S: Suite> {
    name: String,
    e_alpha: Gt<S>,
    g2_y: G2<S>,
}

impl<S: Suite> Clone for AuthorityPublicKey<S> {
    fn clone(&self) -> Self {
        AuthorityPublicKey { name: self.name.clone(), e_alpha: self.e_alpha.clone(), g2_y: self.g2_y.clone() }
    }
}

impl<S: Suite> PartialEq for AuthorityPublicKey<S> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.e_alpha == other.e_alpha && self.g2_y == other.g2_y
    }
}

impl<S: Suite> Eq for AuthorityPublicKey<S> {}

impl<S: Suite> fmt::Debug for AuthorityPublicKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityPublicKey")
            .field("suite", &S::ID)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S: Suite> AuthorityPublicKey<S> {
    /// The authority's name (the `@authority` of its attributes).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn e_alpha(&self) -> &Gt<S> {
        &self.e_alpha
    }

    pub(crate) fn g2_y(&self) -> &G2<S> {
        &self.g2_y
    }

    /// Encodes as `header ‖ name ‖ gt^α ‖ g2^y` (compressed points).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        Header { kind: Kind::AuthorityPublicKey, suite: S::ID }.encode(&mut out);
        put_string(&mut out, &self.name);
        put_point(&mut out, &self.e_alpha, Compress::Yes);
        put_point(&mut out, &self.g2_y, Compress::Yes);
        out
    }

    /// Decodes and fully validates (GT and G2 subgroup membership, name syntax).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        Header::expect(&mut r, Kind::AuthorityPublicKey, S::ID)?;
        let name = read_authority_name(&mut r)?;
        let e_alpha: Gt<S> = r.point(Compress::Yes, Validate::Yes, "public key gt^alpha")?;
        let g2_y: G2<S> = r.point(Compress::Yes, Validate::Yes, "public key g2^y")?;
        r.finish("authority public key")?;
        Ok(AuthorityPublicKey { name, e_alpha, g2_y })
    }
}

pub(crate) fn read_authority_name(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let raw = r.string("authority name", MAX_AUTHORITY_NAME)?;
    match validate_identifier("authority", raw) {
        Ok(n) if n == raw => Ok(n),
        _ => Err(DecodeError::InvalidText("authority name")),
    }
}

/// An authority's master secret key `MSK = (α, y)`.
///
/// Holds its public key and `g1^α` (derived at load) so key generation needs no pairing.
/// The scalars are wiped on drop and never printed.
pub struct AuthoritySecretKey<S: Suite> {
    alpha: Fr<S>,
    y: Fr<S>,
    g1_alpha: G1<S>,
    public: AuthorityPublicKey<S>,
    /// `F(u)` of attributes already seen, with tables for the hot ones.
    attribute_hashes: AttributeHashes<S>,
}

impl<S: Suite> fmt::Debug for AuthoritySecretKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthoritySecretKey")
            .field("suite", &S::ID)
            .field("name", &self.public.name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl<S: Suite> Drop for AuthoritySecretKey<S> {
    fn drop(&mut self) {
        self.alpha.zeroize();
        self.y.zeroize();
        self.g1_alpha.zeroize();
    }
}

impl<S: Suite> AuthoritySecretKey<S> {
    /// `AuthSetup(θ)`: draws `α, y` and derives the public key.
    pub fn setup<R: RngCore + CryptoRng>(name: &str, rng: &mut R) -> Result<Self> {
        let name = validate_identifier("authority", name)?;
        Ok(Self::from_scalars(name, Fr::<S>::rand(rng), Fr::<S>::rand(rng)))
    }

    fn from_scalars(name: String, alpha: Fr<S>, y: Fr<S>) -> Self {
        let tables = S::tables();
        let e_alpha = tables.gt_table.mul(&alpha);
        let g2_y = tables.g2_table.mul(&y);
        let g1_alpha = S::g1_generator().mul_secret(&alpha);
        AuthoritySecretKey {
            alpha,
            y,
            g1_alpha,
            public: AuthorityPublicKey { name, e_alpha, g2_y },
            attribute_hashes: Default::default(),
        }
    }

    /// The authority's name.
    pub fn name(&self) -> &str {
        &self.public.name
    }

    /// The matching public key.
    pub fn public_key(&self) -> &AuthorityPublicKey<S> {
        &self.public
    }

    /// `KeyGen(GID, θ, u)` for every attribute `u` in `attributes` (all must be this
    /// authority's): `K = g1^α · H(GID)^y · F(u)^t`, `K' = g2^t` with a fresh `t` each.
    pub fn keygen<R: RngCore + CryptoRng>(
        &self,
        gid: &Gid,
        attributes: &[Attribute],
        rng: &mut R,
    ) -> Result<UserKey<S>> {
        if attributes.is_empty() {
            return Err(Error::Misuse("key generation needs at least one attribute"));
        }
        if attributes.len() > crate::scheme::user_key::MAX_KEY_ATTRIBUTES {
            return Err(Error::Misuse("too many attributes for one key bundle"));
        }
        for a in attributes {
            if a.authority() != self.public.name {
                return Err(SchemeError::ForeignAttribute {
                    attribute: a.to_string(),
                    authority: self.public.name.clone(),
                }
                .into());
            }
        }
        let h_gid = S::hash_gid(&gid.encode());
        // g1^α · H(GID)^y is the same for every attribute of this bundle: compute it once.
        // It is enough to mint keys for this GID (issue 23, item 4), so it and H(GID)^y are
        // wiped before returning, as is each F(u)^t.
        let mut h_gid_y = h_gid.mul_secret(&self.y);
        let mut base = self.g1_alpha.add(&h_gid_y);
        h_gid_y.zeroize();
        let tables = S::tables();
        // The randomness is drawn here, in order, on this thread; the components are
        // independent and computed in parallel (a TAT has 19), as encryption's rows are.
        let mut ts: Vec<Fr<S>> = attributes.iter().map(|_| Fr::<S>::rand(rng)).collect();
        let jobs: Vec<_> = attributes.iter().zip(&ts).collect();
        // Written in place (`parallel::fill`), never moved between buffers: a moved-from
        // buffer would keep a copy of the key components in freed memory.
        let mut components = vec![(G1::<S>::identity(), G2::<S>::identity()); attributes.len()];
        crate::parallel::fill(&jobs, &mut components, |(a, t), (k, k_prime)| {
            let mut f_t = self.attribute_hashes.mul_secret(&a.to_string(), t);
            *k = base.add(&f_t);
            f_t.zeroize();
            *k_prime = tables.g2_table.mul(t);
        });
        drop(jobs);
        ts.zeroize();
        let mut k = Vec::with_capacity(attributes.len());
        let mut k_prime = Vec::with_capacity(attributes.len());
        for (component, component_prime) in &mut components {
            k.push(component.clone());
            k_prime.push(component_prime.clone());
            component.zeroize();
            component_prime.zeroize();
        }
        base.zeroize();
        G1::<S>::normalize_batch(&mut k);
        G2::<S>::normalize_batch(&mut k_prime);
        // Cloned out, then the vector wiped: moving the elements out would leave their bytes
        // in the freed buffer.
        let components = attributes
            .iter()
            .cloned()
            .zip(
                k.iter()
                    .cloned()
                    .zip(k_prime.iter().cloned())
                    .map(|(k, k_prime)| KeyComponent::new(k, k_prime)),
            )
            .collect::<Vec<_>>();
        k.zeroize();
        UserKey::from_components(gid.clone(), h_gid, components)
    }

    /// Encodes as `header ‖ name ‖ α ‖ y`. The result is secret: store it with mode 0600.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = Vec::new();
        Header { kind: Kind::AuthoritySecretKey, suite: S::ID }.encode(&mut out);
        put_string(&mut out, &self.public.name);
        put_element(&mut out, &self.alpha, Compress::Yes);
        put_element(&mut out, &self.y, Compress::Yes);
        zeroize::Zeroizing::new(out)
    }

    /// Decodes a master secret key and re-derives its public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        Header::expect(&mut r, Kind::AuthoritySecretKey, S::ID)?;
        let name = read_authority_name(&mut r)?;
        let size = element_size::<Fr<S>>(Compress::Yes);
        let alpha: Fr<S> = r
            .element(size, Compress::Yes, Validate::Yes, "secret alpha")
            .map_err(|_| DecodeError::InvalidScalar("secret alpha"))?;
        let y: Fr<S> = r
            .element(size, Compress::Yes, Validate::Yes, "secret y")
            .map_err(|_| DecodeError::InvalidScalar("secret y"))?;
        r.finish("authority secret key")?;
        // A zero α or y gives the neutral element as public key (which every decoder refuses)
        // and keys that do not depend on it: refused like any other invalid scalar.
        if alpha.is_zero() {
            return Err(DecodeError::InvalidScalar("secret alpha").into());
        }
        if y.is_zero() {
            return Err(DecodeError::InvalidScalar("secret y").into());
        }
        Ok(Self::from_scalars(name, alpha, y))
    }
}
