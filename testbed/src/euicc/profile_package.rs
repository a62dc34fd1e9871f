//! What the eUICC reads of the unprotected profile package it installs: the package must be a
//! well-formed SAIP profile ([`crate::saip::ProfilePackage::parse`]; anything else is
//! installFailedDueToPEProcessingError, SGP.22 §2.5.6), and its ProfileHeader's ICCID is
//! compared with the metadata's.

use crate::saip::ProfilePackage;

/// The ICCID (10 bytes, EF.ICCID coding) of the package's ProfileHeader, or `None` when the
/// package is not a valid SAIP profile.
pub(crate) fn header_iccid(package: &[u8]) -> Option<[u8; 10]> {
    ProfilePackage::parse(package)
        .ok()
        .map(|p| *p.iccid().as_bytes())
}
