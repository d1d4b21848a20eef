//! The one rustls crypto provider compiled in: ring. sqlx's TLS picks it by
//! itself; reqwest is built without a provider of its own and needs one
//! installed before a client is built.

/// Makes ring the process's rustls crypto provider. Call it before building a
/// `reqwest::Client` (which panics without one); calling it again does nothing.
pub fn install_crypto_provider() {
    // Only an already installed provider makes this fail, and ring is the only one there is.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
