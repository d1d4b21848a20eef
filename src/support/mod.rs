//! Small helpers every layer may use; they import nothing of the crate.

pub mod files;
pub mod ids;
pub mod privacy;
pub mod qr;
pub mod tls;
