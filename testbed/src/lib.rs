//! The testbed: peers strict enough to catch the LPA's mistakes.
#![warn(missing_docs)]

pub mod bsp;
pub mod card;
pub mod euicc;
pub mod modem;
pub mod pki;
pub mod saip;
pub mod smdp;
pub mod support;
pub mod vpcd;
