//! Types shared by many SGP.22 messages.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::der::{BitString, DecodeError, DerValue, der_int_enum, der_sequence};
use crate::ids::{Eid, Iccid};
use crate::tlv::{Tag, Tlv, TlvError, TlvWriter};

/// `VersionType ::= OCTET STRING (SIZE(3))`: major, minor, revision (`02 02 00` is v2.2.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub [u8; 3]);

impl Version {
    /// From major, minor and revision.
    pub const fn new(major: u8, minor: u8, revision: u8) -> Self {
        Version([major, minor, revision])
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.0;
        write!(f, "{a}.{b}.{c}")
    }
}

impl DerValue for Version {
    const TAG: Tag = Tag::OCTET_STRING;

    fn value_len(&self) -> usize {
        3
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&self.0)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let v: [u8; 3] = tlv
            .value()
            .try_into()
            .map_err(|_| DecodeError::InvalidValue {
                ty: "VersionType",
                offset: tlv.offset(),
                reason: "VersionType must be 3 octets",
            })?;
        Ok(Version(v))
    }
}

/// `Iccid ::= [APPLICATION 26] OCTET STRING (SIZE(10))`, tag `5A`, EF.ICCID coding.
impl DerValue for Iccid {
    const TAG: Tag = Tag(0x5A);

    fn value_len(&self) -> usize {
        10
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(self.as_bytes())
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Iccid::from_bcd(tlv.value()).map_err(|_| DecodeError::InvalidValue {
            ty: "Iccid",
            offset: tlv.offset(),
            reason: "ICCID must be 10 octets of swapped BCD with F padding",
        })
    }
}

/// The EID as GetEuiccDataResponse carries it: tag `5A`, 16 octets of BCD. The check digits
/// are not enforced here (a card's identity is what it is); see [`Eid::is_valid`].
impl DerValue for Eid {
    const TAG: Tag = Tag(0x5A);

    fn value_len(&self) -> usize {
        16
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(self.as_bytes())
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Eid::from_bytes_unchecked(tlv.value()).map_err(|_| DecodeError::InvalidValue {
            ty: "EID",
            offset: tlv.offset(),
            reason: "EID must be 16 octets of BCD digits",
        })
    }
}

der_int_enum! {
    /// `ProfileState` (tag `9F70` in ProfileInfo).
    pub enum ProfileState {
        /// The profile is installed but not active.
        Disabled = 0 => "disabled",
        /// The profile is the active one.
        Enabled = 1 => "enabled",
    }
}

der_int_enum! {
    /// `ProfileClass` (tag `95`). Its [`Default`] is `Operational`, the DEFAULT of
    /// StoreMetadataRequest.profileClass.
    pub enum ProfileClass {
        /// Test profile (SGP.22 §2.9.1).
        Test = 0 => "test",
        /// Provisioning profile (connectivity for downloading others).
        Provisioning = 1 => "provisioning",
        /// Operational profile: the ordinary subscription.
        Operational = 2 => "operational",
    }
}

// `der_int_enum!` declares the enum, so `#[default]` cannot be put on the variant.
#[allow(clippy::derivable_impls)]
impl Default for ProfileClass {
    fn default() -> Self {
        ProfileClass::Operational
    }
}

der_int_enum! {
    /// `IconType` (tag `93`).
    pub enum IconType {
        /// JPEG.
        Jpg = 0 => "jpg",
        /// PNG.
        Png = 1 => "png",
    }
}

/// Declares a BIT STRING with named bits as a newtype over [`BitString`].
macro_rules! named_bits {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $( $(#[$bmeta:meta])* $bit:ident = $n:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        $vis struct $name(pub $crate::der::BitString);

        impl $name {
            $( $(#[$bmeta])* pub const $bit: usize = $n; )*

            /// The DER form with these named bits set.
            pub fn from_bits(bits: &[usize]) -> Self {
                $name($crate::der::BitString::from_bits(bits))
            }

            /// Whether a named bit is set.
            pub fn contains(&self, bit: usize) -> bool {
                self.0.is_set(bit)
            }
        }

        impl $crate::der::DerValue for $name {
            const TAG: $crate::tlv::Tag = $crate::tlv::Tag::BIT_STRING;
            fn value_len(&self) -> usize {
                $crate::der::DerValue::value_len(&self.0)
            }
            fn write_value(
                &self,
                w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                $crate::der::DerValue::write_value(&self.0, w)
            }
            fn decode_value(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                Ok($name(<$crate::der::BitString as $crate::der::DerValue>::decode_value(tlv)?))
            }
        }
    };
}
pub(crate) use named_bits;

named_bits! {
    /// `PprIds`: profile policy rules (SGP.22 §2.9.2).
    pub struct PprIds {
        /// pprUpdateControl: how PPRs may be updated via ES6.
        UPDATE_CONTROL = 0,
        /// PPR1: disabling this profile is not allowed.
        PPR1 = 1,
        /// PPR2: deleting this profile is not allowed.
        PPR2 = 2,
    }
}

named_bits! {
    /// `NotificationEvent` as a set: which operations a profile wants notified
    /// (NotificationConfigurationInformation).
    pub struct NotificationEvents {
        /// notificationInstall.
        INSTALL = 0,
        /// notificationEnable.
        ENABLE = 1,
        /// notificationDisable.
        DISABLE = 2,
        /// notificationDelete.
        DELETE = 3,
    }
}

/// `NotificationEvent` with exactly one bit set: the operation a notification reports
/// (NotificationMetadata.profileManagementOperation, "only one bit SHALL be set").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationEvent {
    /// notificationInstall (0).
    Install,
    /// notificationEnable (1).
    Enable,
    /// notificationDisable (2).
    Disable,
    /// notificationDelete (3).
    Delete,
    /// A bit this version does not name.
    Unknown(u8),
}

impl NotificationEvent {
    /// The bit number.
    pub fn bit(self) -> usize {
        match self {
            NotificationEvent::Install => 0,
            NotificationEvent::Enable => 1,
            NotificationEvent::Disable => 2,
            NotificationEvent::Delete => 3,
            NotificationEvent::Unknown(b) => usize::from(b),
        }
    }

    fn bits(self) -> BitString {
        BitString::from_bits(&[self.bit()])
    }
}

impl fmt::Display for NotificationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotificationEvent::Install => f.write_str("install"),
            NotificationEvent::Enable => f.write_str("enable"),
            NotificationEvent::Disable => f.write_str("disable"),
            NotificationEvent::Delete => f.write_str("delete"),
            NotificationEvent::Unknown(b) => write!(f, "event bit {b}"),
        }
    }
}

impl DerValue for NotificationEvent {
    const TAG: Tag = Tag::BIT_STRING;

    fn value_len(&self) -> usize {
        self.bits().value_len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        self.bits().write_value(w)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let bits = BitString::decode_value(tlv)?;
        // The first set bit names the operation; a card that sets more violates SGP.22 but
        // the first is still the best reading of it.
        match bits.set_bits().next() {
            Some(0) => Ok(NotificationEvent::Install),
            Some(1) => Ok(NotificationEvent::Enable),
            Some(2) => Ok(NotificationEvent::Disable),
            Some(3) => Ok(NotificationEvent::Delete),
            Some(n) => Ok(NotificationEvent::Unknown(
                u8::try_from(n).unwrap_or(u8::MAX),
            )),
            None => Err(DecodeError::InvalidValue {
                ty: "NotificationEvent",
                offset: tlv.offset(),
                reason: "no operation bit set",
            }),
        }
    }
}

der_sequence! {
    /// `OperatorId` (tag `30`, or `B7` as profileOwner): MCC/MNC (TS 24.008 coding) and GIDs.
    pub struct OperatorId: 0x30 {
        /// MCC and MNC, 3 octets.
        pub mcc_mnc: Vec<u8> => req implicit 0x80,
        /// EF.GID1 content.
        pub gid1: Vec<u8> => opt implicit 0x81,
        /// EF.GID2 content.
        pub gid2: Vec<u8> => opt implicit 0x82,
    }
}

der_sequence! {
    /// `NotificationConfigurationInformation`: where to send which notifications.
    pub struct NotificationConfigurationInformation: 0x30 {
        /// The operations to notify.
        pub profile_management_operation: NotificationEvents => req implicit 0x80,
        /// FQDN of the receiving server.
        pub notification_address: String => req implicit 0x81,
    }
}

der_sequence! {
    /// `DpProprietaryData` (tag `B8`): the OID of the SM-DP+ that made the profile. Its one
    /// component has no tag of its own, so automatic tagging makes dpOid `[0]` (`80`).
    pub struct DpProprietaryData: 0x30 {
        /// SM-DP+ OID.
        pub dp_oid: crate::der::ObjectIdentifier => req implicit 0x80,
    }
}
