//! Start-up of `uic serve`: configuration → flows → salt → store → engine →
//! socket ([`startup`]), with the flows checked against the codes the
//! database issued ([`versions`]).

pub mod startup;
pub mod versions;
