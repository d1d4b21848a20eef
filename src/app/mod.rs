//! Start-up of `uic serve`: configuration → flows → salt → store → engine →
//! socket ([`startup`]), with the flows checked against the codes the
//! database issued ([`versions`]); the flows served, loaded again on `SIGHUP`
//! ([`flows`]).

pub mod flows;
pub mod startup;
pub mod versions;
