//! DER values and the tolerant SEQUENCE/CHOICE codec the SGP.22 messages are built with.
//!
//! # Why not a generic ASN.1 library here
//! The SGP.22 module (Annex H, `RSPDefinitions`) is `AUTOMATIC TAGS EXTENSIBILITY IMPLIED`:
//! every SEQUENCE may grow new elements in later versions, and eUICCs and SM-DP+ servers built to
//! SGP.22 v3 already send them. A v2.5 LPA must skip what it does not know. rasn 0.30's BER/DER
//! decoder refuses such input ("Unexpected extra data") even for extensible types, and its
//! derived decoders leave no hook to skip elements; it also needs a heap. So the messages are
//! declared here with three small macros over the zero-copy [`crate::tlv`] layer:
//! - [`der_sequence!`](crate::der::der_sequence) decodes a SEQUENCE by walking its elements in
//!   order and matching each element's tag against the fields not yet seen; an element that
//!   matches no remaining field is an extension and is skipped (X.680 §52 "extensibility
//!   implied", X.690 §8.9 order). Missing mandatory fields are errors naming type and field.
//! - [`der_choice!`](crate::der::der_choice) decodes a CHOICE by its alternative's tag.
//! - [`der_int_enum!`](crate::der::der_int_enum) gives INTEGER-with-named-numbers types (result
//!   and error codes) an `Unknown(i64)` variant, because newer peers add codes, and their
//!   SGP.22 identifiers ([`NamedNumber::name`]), which tools show as SGP.22 spells them.
//!
//! Encoding is always DER in declaration order, size first ([`DerValue::value_len`]), then
//! written into a caller buffer through [`TlvWriter`]. The test suite cross-checks encodings
//! with rasn as an independent encoder, and against recorded session bytes.
//!
//! Signed data objects (serverSigned1, smdpSigned2, euiccSigned1...) are carried as
//! [`Signed<T>`]: decoded for reading, but re-sent byte for byte as received, because
//! re-encoding a structure with unknown elements skipped would break the signature.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::tlv::{Tag, Tlv, TlvError, TlvWriter, tlv_len};

/// Why a DER message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not well-formed TLV.
    Tlv(TlvError),
    /// An element has a tag its type does not allow.
    UnexpectedTag {
        /// The ASN.1 type being decoded.
        ty: &'static str,
        /// Offset of the element.
        offset: usize,
        /// The tag that was found.
        found: Tag,
    },
    /// A mandatory SEQUENCE element is absent.
    MissingField {
        /// The ASN.1 type being decoded.
        ty: &'static str,
        /// The SGP.22 name of the absent element.
        field: &'static str,
        /// Offset of the SEQUENCE.
        offset: usize,
    },
    /// An element's value breaks its type's rules.
    InvalidValue {
        /// The ASN.1 type being decoded.
        ty: &'static str,
        /// Offset of the element.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    /// Offset in the input where the problem was found.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Tlv(e) => match *e {
                TlvError::Truncated { offset, .. }
                | TlvError::InvalidTag { offset }
                | TlvError::IndefiniteLength { offset }
                | TlvError::InvalidLength { offset }
                | TlvError::UnexpectedTag { offset, .. }
                | TlvError::TrailingData { offset }
                | TlvError::NotConstructed { offset, .. } => offset,
                _ => 0,
            },
            DecodeError::UnexpectedTag { offset, .. }
            | DecodeError::MissingField { offset, .. }
            | DecodeError::InvalidValue { offset, .. } => *offset,
        }
    }
}

impl From<TlvError> for DecodeError {
    fn from(e: TlvError) -> Self {
        DecodeError::Tlv(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Tlv(e) => write!(f, "malformed DER: {e}"),
            DecodeError::UnexpectedTag { ty, offset, found } => {
                write!(f, "{ty}: unexpected tag {found} at offset {offset}")
            }
            DecodeError::MissingField { ty, field, offset } => write!(
                f,
                "{ty} at offset {offset}: mandatory element {field} is missing"
            ),
            DecodeError::InvalidValue { ty, offset, reason } => {
                write!(f, "{ty} at offset {offset}: {reason}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// A type that encodes as one whole TLV with its own tag.
pub trait Encode {
    /// Bytes of the whole encoding (tag, length, value).
    fn encoded_len(&self) -> usize;

    /// Writes the whole encoding; `w` must have [`Encode::encoded_len`] bytes of room.
    fn encode(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError>;

    /// Encodes into a new vector.
    fn to_der(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.encoded_len()];
        let mut w = TlvWriter::new(&mut out);
        // The buffer has exactly the computed size, so this cannot fail unless a length
        // computation is wrong; the tests compare sizes with output for every message.
        let written = match self.encode(&mut w) {
            Ok(()) => w.position(),
            Err(_) => 0,
        };
        out.truncate(written);
        out
    }
}

/// A type that decodes from one whole TLV.
pub trait Decode: Sized {
    /// Whether an element with this tag can be a value of this type.
    fn accepts(tag: Tag) -> bool;

    /// Decodes from an element whose tag [`Decode::accepts`] allows.
    fn decode(tlv: Tlv<'_>) -> Result<Self, DecodeError>;

    /// Decodes from bytes holding exactly one element.
    fn from_der(bytes: &[u8]) -> Result<Self, DecodeError> {
        let tlv = Tlv::parse(bytes)?;
        if !Self::accepts(tlv.tag()) {
            return Err(DecodeError::UnexpectedTag {
                ty: core::any::type_name::<Self>(),
                offset: tlv.offset(),
                found: tlv.tag(),
            });
        }
        Self::decode(tlv)
    }
}

/// A type whose value can be carried under its own tag or under an implicit context tag
/// (everything but CHOICE: X.680 §31.2.7, a tagged CHOICE is always explicit).
pub trait DerValue: Sized {
    /// The tag used when the type is not re-tagged.
    const TAG: Tag;

    /// Bytes of the value alone.
    fn value_len(&self) -> usize;

    /// Writes the value alone.
    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError>;

    /// Decodes the value of `tlv`; its tag was already matched by the caller.
    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError>;
}

impl<T: DerValue> Encode for T {
    fn encoded_len(&self) -> usize {
        tlv_len(T::TAG, self.value_len())
    }

    fn encode(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_header(T::TAG, self.value_len())?;
        self.write_value(w)
    }
}

impl<T: DerValue> Decode for T {
    fn accepts(tag: Tag) -> bool {
        tag == T::TAG
    }

    fn decode(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        T::decode_value(tlv)
    }
}

/// Field and alternative helpers used by the macros.
#[doc(hidden)]
pub mod field {
    use super::*;

    pub fn implicit_len<T: DerValue>(tag: u32, v: &T) -> usize {
        tlv_len(Tag(tag), v.value_len())
    }
    pub fn implicit_write<T: DerValue>(
        tag: u32,
        v: &T,
        w: &mut TlvWriter<'_>,
    ) -> Result<(), TlvError> {
        w.write_header(Tag(tag), v.value_len())?;
        v.write_value(w)
    }
    pub fn explicit_len<T: Encode>(tag: u32, v: &T) -> usize {
        tlv_len(Tag(tag), v.encoded_len())
    }
    pub fn explicit_write<T: Encode>(
        tag: u32,
        v: &T,
        w: &mut TlvWriter<'_>,
    ) -> Result<(), TlvError> {
        w.write_header(Tag(tag), v.encoded_len())?;
        v.encode(w)
    }
    /// The single element inside an explicit tag. Elements after the first are skipped:
    /// an explicit wrapper holds exactly one value, anything more is a newer peer's addition.
    pub fn explicit_decode<T: Decode>(ty: &'static str, tlv: Tlv<'_>) -> Result<T, DecodeError> {
        let inner = tlv.children().next().ok_or(DecodeError::InvalidValue {
            ty,
            offset: tlv.offset(),
            reason: "explicit tag holds no value",
        })??;
        if !T::accepts(inner.tag()) {
            return Err(DecodeError::UnexpectedTag {
                ty,
                offset: inner.offset(),
                found: inner.tag(),
            });
        }
        T::decode(inner)
    }
    pub fn seq_of_value_len<T: Encode>(v: &[T]) -> usize {
        v.iter().map(Encode::encoded_len).sum()
    }
    pub fn seq_of_len<T: Encode>(tag: u32, v: &[T]) -> usize {
        tlv_len(Tag(tag), seq_of_value_len(v))
    }
    pub fn seq_of_write<T: Encode>(
        tag: u32,
        v: &[T],
        w: &mut TlvWriter<'_>,
    ) -> Result<(), TlvError> {
        w.write_header(Tag(tag), seq_of_value_len(v))?;
        for e in v {
            e.encode(w)?;
        }
        Ok(())
    }
    pub fn seq_of_decode<T: Decode>(ty: &'static str, tlv: Tlv<'_>) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        for child in tlv.children() {
            let child = child?;
            if !T::accepts(child.tag()) {
                return Err(DecodeError::UnexpectedTag {
                    ty,
                    offset: child.offset(),
                    found: child.tag(),
                });
            }
            out.push(T::decode(child)?);
        }
        Ok(out)
    }
    pub fn missing<T>(
        v: Option<T>,
        ty: &'static str,
        field: &'static str,
        offset: usize,
    ) -> Result<T, DecodeError> {
        v.ok_or(DecodeError::MissingField { ty, field, offset })
    }
}

/// Internal: the per-field code of the macros, by encoding mode.
#[doc(hidden)]
#[macro_export]
macro_rules! __der_field {
    (@len implicit $tag:literal, $v:expr) => {
        $crate::der::field::implicit_len($tag, $v)
    };
    (@len natural, $v:expr) => {
        $crate::der::Encode::encoded_len($v)
    };
    (@len explicit $tag:literal, $v:expr) => {
        $crate::der::field::explicit_len($tag, $v)
    };
    (@len seq_of $tag:literal, $v:expr) => {
        $crate::der::field::seq_of_len($tag, $v)
    };

    (@write implicit $tag:literal, $v:expr, $w:expr) => {
        $crate::der::field::implicit_write($tag, $v, $w)
    };
    (@write natural, $v:expr, $w:expr) => {
        $crate::der::Encode::encode($v, $w)
    };
    (@write explicit $tag:literal, $v:expr, $w:expr) => {
        $crate::der::field::explicit_write($tag, $v, $w)
    };
    (@write seq_of $tag:literal, $v:expr, $w:expr) => {
        $crate::der::field::seq_of_write($tag, $v, $w)
    };

    (@accepts implicit $tag:literal, $t:ty, $found:expr) => {
        $found == $crate::tlv::Tag($tag)
    };
    (@accepts natural, $t:ty, $found:expr) => {
        <$t as $crate::der::Decode>::accepts($found)
    };
    (@accepts explicit $tag:literal, $t:ty, $found:expr) => {
        $found == $crate::tlv::Tag($tag)
    };
    (@accepts seq_of $tag:literal, $t:ty, $found:expr) => {
        $found == $crate::tlv::Tag($tag)
    };

    (@decode implicit $tag:literal, $t:ty, $ty:expr, $tlv:expr) => {
        <$t as $crate::der::DerValue>::decode_value($tlv)
    };
    (@decode natural, $t:ty, $ty:expr, $tlv:expr) => {
        <$t as $crate::der::Decode>::decode($tlv)
    };
    (@decode explicit $tag:literal, $t:ty, $ty:expr, $tlv:expr) => {
        $crate::der::field::explicit_decode::<$t>($ty, $tlv)
    };
    (@decode seq_of $tag:literal, $t:ty, $ty:expr, $tlv:expr) => {
        $crate::der::field::seq_of_decode::<$t>($ty, $tlv)
    };
}

/// Internal: the stored type of a field.
#[doc(hidden)]
#[macro_export]
macro_rules! __der_field_type {
    (req seq_of $t:ty) => { ::alloc::vec::Vec<$t> };
    (opt seq_of $t:ty) => { ::core::option::Option<::alloc::vec::Vec<$t>> };
    (req $mode:ident $t:ty) => { $t };
    (default $mode:ident $t:ty) => { $t };
    (opt $mode:ident $t:ty) => { ::core::option::Option<$t> };
}

/// Internal: the decoded type of a field (before optionality).
#[doc(hidden)]
#[macro_export]
macro_rules! __der_decoded_type {
    (seq_of $t:ty) => { ::alloc::vec::Vec<$t> };
    ($mode:ident $t:ty) => { $t };
}

/// Internal: per-field code that depends on optionality.
#[doc(hidden)]
#[macro_export]
macro_rules! __der_opt {
    (@len req, $mode:ident $($tag:literal)?, $v:expr) => {
        $crate::__der_field!(@len $mode $($tag)?, $v)
    };
    (@len opt, $mode:ident $($tag:literal)?, $v:expr) => {
        match $v { ::core::option::Option::Some(x) => $crate::__der_field!(@len $mode $($tag)?, x), ::core::option::Option::None => 0 }
    };
    (@write req, $mode:ident $($tag:literal)?, $v:expr, $w:expr) => {
        $crate::__der_field!(@write $mode $($tag)?, $v, $w)
    };
    (@write opt, $mode:ident $($tag:literal)?, $v:expr, $w:expr) => {
        match $v { ::core::option::Option::Some(x) => $crate::__der_field!(@write $mode $($tag)?, x, $w), ::core::option::Option::None => Ok(()) }
    };
    // `DEFAULT` components (X.690 §11.5): DER leaves out a value equal to the default, and an
    // absent one reads as the default. The type's `Default` is the module's DEFAULT value.
    (@len default, $mode:ident $($tag:literal)?, $v:expr) => {
        if *$v == ::core::default::Default::default() { 0 } else { $crate::__der_field!(@len $mode $($tag)?, $v) }
    };
    (@write default, $mode:ident $($tag:literal)?, $v:expr, $w:expr) => {
        if *$v == ::core::default::Default::default() { Ok(()) } else { $crate::__der_field!(@write $mode $($tag)?, $v, $w) }
    };
    (@finish default, $v:expr, $ty:expr, $field:expr, $offset:expr) => {
        $v.unwrap_or_default()
    };
    (@finish req, $v:expr, $ty:expr, $field:expr, $offset:expr) => {
        $crate::der::field::missing($v, $ty, $field, $offset)?
    };
    (@finish opt, $v:expr, $ty:expr, $field:expr, $offset:expr) => { $v };
}

/// Declares a SEQUENCE type with its tag and fields, and its DER codec.
///
/// ```text
/// der_sequence! {
///     /// SGP.22 SetNicknameRequest.
///     pub struct SetNicknameRequest: 0xBF29 {
///         /// The profile.
///         pub iccid: Iccid => req implicit 0x5A,
///         /// The new nickname.
///         pub profile_nickname: String => req implicit 0x90,
///     }
/// }
/// ```
/// Each field is `req`, `opt` or `default` (an ASN.1 `DEFAULT` component: the field has the
/// plain type, whose `Default` impl must be the module's default value), then its mode: `implicit TAG` (the value under a
/// context/application tag), `natural` (the type's own tag, e.g. a nested SEQUENCE or an
/// untagged CHOICE), `explicit TAG` (a tagged CHOICE), or `seq_of TAG` (a SEQUENCE OF
/// under a tag, stored as `Vec<T>` of the element type given).
#[doc(hidden)]
#[macro_export]
macro_rules! der_sequence {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident : $tag:literal {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $fname:ident : $fty:ty => $req:ident $mode:ident $($ftag:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        $vis struct $name {
            $(
                $(#[$fmeta])*
                $fvis $fname: $crate::__der_field_type!($req $mode $fty),
            )*
        }

        impl $crate::der::DerValue for $name {
            const TAG: $crate::tlv::Tag = $crate::tlv::Tag($tag);

            fn value_len(&self) -> usize {
                0 $( + $crate::__der_opt!(@len $req, $mode $($ftag)?, &self.$fname) )*
            }

            fn write_value(
                &self,
                #[allow(unused_variables)] w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                $( $crate::__der_opt!(@write $req, $mode $($ftag)?, &self.$fname, w)?; )*
                Ok(())
            }

            #[allow(unused_mut, unused_variables, unused_assignments)]
            fn decode_value(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                #[allow(dead_code)]
                const TY: &str = stringify!($name);
                $( let mut $fname: ::core::option::Option<$crate::__der_decoded_type!($mode $fty)> = None; )*
                // Fields are matched in declaration order; an element that matches none of the
                // fields after the last one matched is an extension of a newer peer: skipped.
                let mut cursor = 0usize;
                for child in tlv.children() {
                    let child = child?;
                    let mut index = 0usize;
                    let mut matched = false;
                    $(
                        if !matched
                            && index >= cursor
                            && $crate::__der_field!(@accepts $mode $($ftag)?, $fty, child.tag())
                        {
                            $fname = Some($crate::__der_field!(@decode $mode $($ftag)?, $fty, TY, child)?);
                            cursor = index + 1;
                            matched = true;
                        }
                        index += 1;
                    )*
                }
                Ok($name {
                    $( $fname: $crate::__der_opt!(@finish $req, $fname, TY, stringify!($fname), tlv.offset()), )*
                })
            }
        }
    };
}

/// Declares a CHOICE type and its codec (`Variant(Type) => mode TAG` per alternative); with
/// `: explicit(TAG)` the whole CHOICE sits inside an explicit tag, as SGP.22's
/// `[45] CHOICE {...}` responses do.
#[doc(hidden)]
#[macro_export]
macro_rules! der_choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident $(: explicit($outer:literal))? {
            $(
                $(#[$vmeta:meta])*
                $variant:ident ( $vty:ty ) => $mode:ident $($vtag:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        // Responses are short-lived values read once; boxing the large alternative would only
        // make matching on them clumsier.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant($crate::__der_decoded_type!($mode $vty)),
            )*
        }

        impl $name {
            #[allow(dead_code)]
            fn inner_len(&self) -> usize {
                match self {
                    $( $name::$variant(v) => $crate::__der_field!(@len $mode $($vtag)?, v), )*
                }
            }

            #[allow(dead_code)]
            fn inner_encode(
                &self,
                w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                match self {
                    $( $name::$variant(v) => $crate::__der_field!(@write $mode $($vtag)?, v, w), )*
                }
            }

            #[allow(dead_code)]
            fn inner_accepts(tag: $crate::tlv::Tag) -> bool {
                false $( || $crate::__der_field!(@accepts $mode $($vtag)?, $vty, tag) )*
            }

            #[allow(dead_code)]
            fn inner_decode(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                const TY: &str = stringify!($name);
                $(
                    if $crate::__der_field!(@accepts $mode $($vtag)?, $vty, tlv.tag()) {
                        return Ok($name::$variant($crate::__der_field!(@decode $mode $($vtag)?, $vty, TY, tlv)?));
                    }
                )*
                Err($crate::der::DecodeError::UnexpectedTag {
                    ty: TY,
                    offset: tlv.offset(),
                    found: tlv.tag(),
                })
            }
        }

        $crate::__der_choice_impl!($name $(, $outer)?);
    };
}

/// Internal: Encode/Decode for a CHOICE, bare or inside an explicit tag.
#[doc(hidden)]
#[macro_export]
macro_rules! __der_choice_impl {
    ($name:ident) => {
        impl $crate::der::Encode for $name {
            fn encoded_len(&self) -> usize {
                self.inner_len()
            }
            fn encode(
                &self,
                w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                self.inner_encode(w)
            }
        }
        impl $crate::der::Decode for $name {
            fn accepts(tag: $crate::tlv::Tag) -> bool {
                Self::inner_accepts(tag)
            }
            fn decode(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                Self::inner_decode(tlv)
            }
        }
    };
    ($name:ident, $outer:literal) => {
        // A tagged CHOICE (`[n] CHOICE`) behaves like a constructed value holding one
        // alternative, so it can itself be re-tagged implicitly (X.680 §31.2.7), as
        // CancelSessionRequestEs9 does with `[1]`.
        impl $crate::der::DerValue for $name {
            const TAG: $crate::tlv::Tag = $crate::tlv::Tag($outer);
            fn value_len(&self) -> usize {
                self.inner_len()
            }
            fn write_value(
                &self,
                w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                self.inner_encode(w)
            }
            fn decode_value(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                let inner =
                    tlv.children()
                        .next()
                        .ok_or($crate::der::DecodeError::InvalidValue {
                            ty: stringify!($name),
                            offset: tlv.offset(),
                            reason: "tagged CHOICE holds no alternative",
                        })??;
                Self::inner_decode(inner)
            }
        }
    };
}

/// An INTEGER with named numbers (X.680 §19), as [`der_int_enum!`](crate::der::der_int_enum)
/// declares them: SGP.22's result and error codes, profile states and classes.
pub trait NamedNumber: Copy {
    /// The INTEGER value.
    fn code(self) -> i64;

    /// The identifier SGP.22 gives the value, spelled exactly as in Annex H
    /// (`installFailedDueToIccidAlreadyExistsOnEuicc`, `ciPKUnknown`); `None` for a value this
    /// version does not name.
    fn name(self) -> Option<&'static str>;
}

/// Declares an INTEGER with named numbers (SGP.22 result and error codes). Values a newer peer
/// sends that this version does not name decode to `Unknown(n)` instead of failing.
///
/// Each variant carries its value and the identifier SGP.22 Annex H gives it, because the Rust
/// variant name cannot always be derived from it (`ciPKUnknown`, `configureISDP`,
/// `installFailedDueToPEProcessingError`):
///
/// ```text
/// der_int_enum! {
///     /// `ErrorReason`.
///     pub enum ErrorReason {
///         /// installFailedDueToIccidAlreadyExistsOnEuicc.
///         IccidAlreadyExistsOnEuicc = 9 => "installFailedDueToIccidAlreadyExistsOnEuicc",
///     }
/// }
/// ```
///
/// The type gets `code`/`from_code`, `name` (the SGP.22 identifier), [`NamedNumber`], and a
/// `Display` that writes the SGP.22 identifier, or `unknown(n)`.
#[doc(hidden)]
#[macro_export]
macro_rules! der_int_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal => $sgp_name:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of SGP.22 does not name.
            Unknown(i64),
        }

        impl $name {
            /// The INTEGER value.
            pub fn code(self) -> i64 {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Unknown(v) => v,
                }
            }

            /// The named value for `code`, or `Unknown`.
            pub fn from_code(code: i64) -> Self {
                match code {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }

            /// The identifier SGP.22 Annex H gives the value, spelled as there; `None` for
            /// `Unknown`.
            pub fn name(self) -> ::core::option::Option<&'static str> {
                match self {
                    $( $name::$variant => ::core::option::Option::Some($sgp_name), )*
                    $name::Unknown(_) => ::core::option::Option::None,
                }
            }
        }

        impl $crate::der::NamedNumber for $name {
            fn code(self) -> i64 {
                $name::code(self)
            }
            fn name(self) -> ::core::option::Option<&'static str> {
                $name::name(self)
            }
        }

        /// The SGP.22 identifier (`profileNotInDisabledState`), or `unknown(n)`.
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    ::core::option::Option::Some(name) => f.write_str(name),
                    ::core::option::Option::None => ::core::write!(f, "unknown({})", self.code()),
                }
            }
        }

        impl $crate::der::DerValue for $name {
            const TAG: $crate::tlv::Tag = $crate::tlv::Tag::INTEGER;
            fn value_len(&self) -> usize {
                $crate::der::DerValue::value_len(&self.code())
            }
            fn write_value(
                &self,
                w: &mut $crate::tlv::TlvWriter<'_>,
            ) -> ::core::result::Result<(), $crate::tlv::TlvError> {
                $crate::der::DerValue::write_value(&self.code(), w)
            }
            fn decode_value(
                tlv: $crate::tlv::Tlv<'_>,
            ) -> ::core::result::Result<Self, $crate::der::DecodeError> {
                Ok(Self::from_code(<i64 as $crate::der::DerValue>::decode_value(tlv)?))
            }
        }
    };
}

pub use crate::{der_choice, der_int_enum, der_sequence};

fn invalid(ty: &'static str, tlv: &Tlv<'_>, reason: &'static str) -> DecodeError {
    DecodeError::InvalidValue {
        ty,
        offset: tlv.offset(),
        reason,
    }
}

/// INTEGER (X.690 §8.3): two's complement, minimal on output; non-minimal input is accepted.
impl DerValue for i64 {
    const TAG: Tag = Tag::INTEGER;

    fn value_len(&self) -> usize {
        let mut len = 8;
        while len > 1 {
            let top = (*self >> ((len - 1) * 8)) as i8;
            let next_high_bit_set = ((*self >> ((len - 2) * 8)) as u8) & 0x80 != 0;
            if (top == 0 && !next_high_bit_set) || (top == -1 && next_high_bit_set) {
                len -= 1;
            } else {
                break;
            }
        }
        len
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        let bytes = self.to_be_bytes();
        let len = self.value_len();
        w.write_bytes(bytes.get(8 - len..).unwrap_or_default())
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let v = tlv.value();
        if v.is_empty() {
            return Err(invalid("INTEGER", &tlv, "empty INTEGER"));
        }
        // Strip redundant sign bytes a lenient BER encoder may have written.
        let mut v = v;
        while v.len() > 1 {
            match (v.first(), v.get(1)) {
                (Some(0x00), Some(b)) if b & 0x80 == 0 => v = v.get(1..).unwrap_or_default(),
                (Some(0xFF), Some(b)) if b & 0x80 != 0 => v = v.get(1..).unwrap_or_default(),
                _ => break,
            }
        }
        if v.len() > 8 {
            return Err(invalid("INTEGER", &tlv, "INTEGER does not fit in 64 bits"));
        }
        let negative = v.first().is_some_and(|b| b & 0x80 != 0);
        let mut out: i64 = if negative { -1 } else { 0 };
        for b in v {
            out = (out << 8) | i64::from(*b);
        }
        Ok(out)
    }
}

/// INTEGER restricted to 0..=u32::MAX (sequence numbers, counts).
impl DerValue for u32 {
    const TAG: Tag = Tag::INTEGER;

    fn value_len(&self) -> usize {
        i64::from(*self).value_len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        i64::from(*self).write_value(w)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let v = i64::decode_value(tlv)?;
        u32::try_from(v).map_err(|_| invalid("INTEGER", &tlv, "INTEGER out of range 0..2^32"))
    }
}

/// BOOLEAN (X.690 §8.2): DER writes FF for TRUE; any non-zero octet reads as TRUE.
impl DerValue for bool {
    const TAG: Tag = Tag::BOOLEAN;

    fn value_len(&self) -> usize {
        1
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&[if *self { 0xFF } else { 0x00 }])
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        match tlv.value() {
            [b] => Ok(*b != 0),
            _ => Err(invalid("BOOLEAN", &tlv, "BOOLEAN must be one octet")),
        }
    }
}

/// OCTET STRING, primitive form only (DER).
impl DerValue for Vec<u8> {
    const TAG: Tag = Tag::OCTET_STRING;

    fn value_len(&self) -> usize {
        self.len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(self)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        if tlv.tag().is_constructed() {
            return Err(invalid(
                "OCTET STRING",
                &tlv,
                "constructed OCTET STRING is not DER",
            ));
        }
        Ok(tlv.value().to_vec())
    }
}

/// UTF8String. Invalid UTF-8 from a card is replaced (U+FFFD) rather than refused: one odd
/// nickname must not hide the whole profile list from the user.
impl DerValue for String {
    const TAG: Tag = Tag::UTF8_STRING;

    fn value_len(&self) -> usize {
        self.len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(self.as_bytes())
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Ok(String::from_utf8_lossy(tlv.value()).into_owned())
    }
}

/// An empty value (the `{}` requests such as GetEuiccInfo1Request carry nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Null;

impl DerValue for Null {
    const TAG: Tag = Tag::NULL;

    fn value_len(&self) -> usize {
        0
    }

    fn write_value(&self, _w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        Ok(())
    }

    fn decode_value(_tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Ok(Null)
    }
}

/// BIT STRING (X.690 §8.6), as SGP.22 uses it for named-bit flags (`NotificationEvent`,
/// `PprIds`, `RspCapability`, ...). Bit 0 is the most significant bit of the first octet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BitString {
    bytes: Vec<u8>,
    unused_bits: u8,
}

impl BitString {
    /// A bit string of `bit_len` bits, all clear.
    pub fn with_len(bit_len: usize) -> Self {
        let bytes = vec![0; bit_len.div_ceil(8)];
        let unused_bits = ((8 - bit_len % 8) % 8) as u8;
        BitString { bytes, unused_bits }
    }

    /// The DER form of a named-bit list with these bits set: trailing zero bits are removed
    /// (X.690 §11.2.2), so the empty set is `03 01 00`.
    pub fn from_bits(bits: &[usize]) -> Self {
        let len = bits.iter().map(|b| b + 1).max().unwrap_or(0);
        let mut s = BitString::with_len(len);
        for &b in bits {
            s.set(b, true);
        }
        s
    }

    /// From the raw content: octets and the count of unused bits in the last octet.
    pub fn from_raw(bytes: Vec<u8>, unused_bits: u8) -> Self {
        BitString { bytes, unused_bits }
    }

    /// Number of meaningful bits.
    pub fn bit_len(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(usize::from(self.unused_bits))
    }

    /// Whether bit `bit` is set; bits past the end read as clear.
    pub fn is_set(&self, bit: usize) -> bool {
        bit < self.bit_len()
            && self
                .bytes
                .get(bit / 8)
                .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
    }

    /// Sets or clears bit `bit` if it is within [`BitString::bit_len`].
    pub fn set(&mut self, bit: usize, on: bool) {
        if bit >= self.bit_len() {
            return;
        }
        if let Some(b) = self.bytes.get_mut(bit / 8) {
            if on {
                *b |= 0x80 >> (bit % 8);
            } else {
                *b &= !(0x80 >> (bit % 8));
            }
        }
    }

    /// Indices of the set bits.
    pub fn set_bits(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.bit_len()).filter(|b| self.is_set(*b))
    }

    /// The content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Unused bits in the last octet.
    pub fn unused_bits(&self) -> u8 {
        self.unused_bits
    }
}

impl DerValue for BitString {
    const TAG: Tag = Tag::BIT_STRING;

    fn value_len(&self) -> usize {
        1 + self.bytes.len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&[self.unused_bits])?;
        w.write_bytes(&self.bytes)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let (unused, bytes) = tlv
            .value()
            .split_first()
            .ok_or_else(|| invalid("BIT STRING", &tlv, "BIT STRING without unused-bits octet"))?;
        if *unused > 7 || (bytes.is_empty() && *unused != 0) {
            return Err(invalid("BIT STRING", &tlv, "invalid unused-bits count"));
        }
        Ok(BitString {
            bytes: bytes.to_vec(),
            unused_bits: *unused,
        })
    }
}

/// OBJECT IDENTIFIER, kept as its content octets (X.690 §8.19).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ObjectIdentifier(Vec<u8>);

impl ObjectIdentifier {
    /// From the content octets, checked for well-formed sub-identifiers.
    pub fn from_content(bytes: Vec<u8>) -> Option<Self> {
        if bytes.is_empty() || bytes.last().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        Some(ObjectIdentifier(bytes))
    }

    /// Parses dotted decimal, e.g. `"2.999.10"`.
    pub fn parse(dotted: &str) -> Option<Self> {
        let mut arcs = dotted.split('.').map(|a| {
            if a.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) {
                None
            } else {
                a.parse::<u64>().ok()
            }
        });
        let first = arcs.next()??;
        let second = arcs.next()??;
        if first > 2 || (first < 2 && second > 39) {
            return None;
        }
        let mut out = Vec::new();
        push_base128(&mut out, first.checked_mul(40)?.checked_add(second)?);
        for arc in arcs {
            push_base128(&mut out, arc?);
        }
        Some(ObjectIdentifier(out))
    }

    /// The content octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The arcs, e.g. `[2, 999, 10]`.
    pub fn arcs(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut acc: u64 = 0;
        for b in &self.0 {
            acc = (acc << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                if out.is_empty() {
                    let first = if acc < 40 {
                        0
                    } else if acc < 80 {
                        1
                    } else {
                        2
                    };
                    out.push(first);
                    out.push(acc - first * 40);
                } else {
                    out.push(acc);
                }
                acc = 0;
            }
        }
        out
    }
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        if let Some(slot) = tmp.get_mut(n) {
            *slot = (v & 0x7F) as u8;
        }
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let b = tmp.get(i).copied().unwrap_or(0);
        out.push(if i == 0 { b } else { b | 0x80 });
    }
}

impl fmt::Display for ObjectIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.arcs().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ObjectIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectIdentifier({self})")
    }
}

impl DerValue for ObjectIdentifier {
    const TAG: Tag = Tag::OBJECT_IDENTIFIER;

    fn value_len(&self) -> usize {
        self.0.len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&self.0)
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        ObjectIdentifier::from_content(tlv.value().to_vec())
            .ok_or_else(|| invalid("OBJECT IDENTIFIER", &tlv, "malformed OBJECT IDENTIFIER"))
    }
}

/// An element kept exactly as received: tag, length and value. Used for X.509 `Certificate`
/// and `CertificateList` (SGP.22 imports them from PKIX; the LPA only forwards them, the
/// testbed parses them with an X.509 library).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawTlv(Vec<u8>);

impl RawTlv {
    /// Checks that `der` is exactly one well-formed SEQUENCE element.
    pub fn from_der(der: Vec<u8>) -> Result<Self, DecodeError> {
        let tlv = Tlv::parse(&der)?;
        if tlv.tag() != Tag::SEQUENCE {
            return Err(DecodeError::UnexpectedTag {
                ty: "Certificate",
                offset: 0,
                found: tlv.tag(),
            });
        }
        Ok(RawTlv(der))
    }

    /// The whole encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the encoding out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for RawTlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawTlv({} bytes)", self.0.len())
    }
}

impl Encode for RawTlv {
    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn encode(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&self.0)
    }
}

impl Decode for RawTlv {
    fn accepts(tag: Tag) -> bool {
        tag == Tag::SEQUENCE
    }

    fn decode(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Ok(RawTlv(tlv.raw().to_vec()))
    }
}

/// X.509 certificate (SGP.22 imports `Certificate` from PKIX1Explicit88), kept as DER.
pub type Certificate = RawTlv;

/// An X.509 `CertificateList` (CRL) kept as DER, which unlike [`Certificate`] can be
/// re-tagged: LoadCRLRequest carries it as `[0] IMPLICIT` (automatic tagging, tag `A0`), so
/// only its content is stored under the field tag and the `30` header is restored on decode.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateList(Vec<u8>);

impl CertificateList {
    /// Checks that `der` is exactly one SEQUENCE element.
    pub fn from_der(der: Vec<u8>) -> Result<Self, DecodeError> {
        RawTlv::from_der(der).map(|r| CertificateList(r.into_bytes()))
    }

    /// The CRL's DER (with its `30` header).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn content(&self) -> &[u8] {
        Tlv::parse(&self.0).map(|t| t.value()).unwrap_or_default()
    }
}

impl fmt::Debug for CertificateList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateList({} bytes)", self.0.len())
    }
}

impl DerValue for CertificateList {
    const TAG: Tag = Tag::SEQUENCE;

    fn value_len(&self) -> usize {
        self.content().len()
    }

    fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(self.content())
    }

    fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        let value = tlv.value();
        let mut der = vec![0u8; tlv_len(Tag::SEQUENCE, value.len())];
        let mut w = TlvWriter::new(&mut der);
        w.write_tlv(Tag::SEQUENCE, value)?;
        Ok(CertificateList(der))
    }
}

/// A signed data object: decoded for reading, re-encoded exactly as it was received.
///
/// SGP.22 signatures (serverSignature1, euiccSignature1, smdpSignature2...) cover the DER of
/// the signed structure *as the signer produced it*. A decoder that skips unknown elements
/// would, on re-encoding, drop what a newer peer added and break the signature, so the
/// received bytes are kept and forwarded untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<T> {
    raw: Vec<u8>,
    value: T,
}

impl<T: Encode> Signed<T> {
    /// Wraps a value we produce ourselves (its DER becomes the signed bytes).
    pub fn new(value: T) -> Self {
        Signed {
            raw: value.to_der(),
            value,
        }
    }
}

impl<T> Signed<T> {
    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The exact bytes that were (or are to be) signed.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

impl<T: Decode> Signed<T> {
    /// Decodes signed bytes, keeping them.
    pub fn from_raw(raw: Vec<u8>) -> Result<Self, DecodeError> {
        let value = T::from_der(&raw)?;
        Ok(Signed { raw, value })
    }
}

impl<T> Encode for Signed<T> {
    fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    fn encode(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_bytes(&self.raw)
    }
}

impl<T: Decode> Decode for Signed<T> {
    fn accepts(tag: Tag) -> bool {
        T::accepts(tag)
    }

    fn decode(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
        Ok(Signed {
            raw: tlv.raw().to_vec(),
            value: T::decode(tlv)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn int_der(v: i64) -> Vec<u8> {
        v.to_der()
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        assert_eq!(int_der(0), [0x02, 0x01, 0x00]);
        assert_eq!(int_der(127), [0x02, 0x01, 0x7F]);
        assert_eq!(int_der(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(int_der(256), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(int_der(-1), [0x02, 0x01, 0xFF]);
        assert_eq!(int_der(-128), [0x02, 0x01, 0x80]);
        assert_eq!(int_der(-129), [0x02, 0x02, 0xFF, 0x7F]);
        assert_eq!(
            int_der(i64::MAX),
            [0x02, 0x08, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        for v in [0i64, 1, -1, 127, 128, -128, -129, 65535, i64::MIN, i64::MAX] {
            assert_eq!(i64::from_der(&int_der(v)).unwrap(), v);
        }
        // Non-minimal input is read (lenient BER), empty and oversize are errors.
        assert_eq!(i64::from_der(&[0x02, 0x02, 0x00, 0x05]).unwrap(), 5);
        assert!(i64::from_der(&[0x02, 0x00]).is_err());
        assert!(i64::from_der(&[0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
        assert!(u32::from_der(&[0x02, 0x01, 0xFF]).is_err());
    }

    #[test]
    fn bit_strings_drop_trailing_zero_bits() {
        assert_eq!(BitString::from_bits(&[]).to_der(), [0x03, 0x01, 0x00]);
        // NotificationEvent notificationInstall(0): 03 02 07 80
        assert_eq!(
            BitString::from_bits(&[0]).to_der(),
            [0x03, 0x02, 0x07, 0x80]
        );
        // notificationDelete(3): 03 02 04 10
        assert_eq!(
            BitString::from_bits(&[3]).to_der(),
            [0x03, 0x02, 0x04, 0x10]
        );
        let b = BitString::from_bits(&[1, 9]);
        assert_eq!(b.to_der(), [0x03, 0x03, 0x06, 0x40, 0x40]);
        assert_eq!(b.set_bits().collect::<Vec<_>>(), [1, 9]);
        assert!(BitString::from_der(&[0x03, 0x00]).is_err());
        assert!(BitString::from_der(&[0x03, 0x01, 0x01]).is_err());
        assert!(BitString::from_der(&[0x03, 0x02, 0x08, 0x00]).is_err());
    }

    #[test]
    fn object_identifiers() {
        let oid = ObjectIdentifier::parse("2.23.146.1.2.1.0").unwrap();
        assert_eq!(
            oid.to_der(),
            [0x06, 0x07, 0x67, 0x81, 0x12, 0x01, 0x02, 0x01, 0x00]
        );
        assert_eq!(oid.to_string(), "2.23.146.1.2.1.0");
        let big = ObjectIdentifier::parse("1.2.840.10045.4.3.2").unwrap();
        assert_eq!(
            big.as_bytes(),
            [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        );
        assert_eq!(big.to_string(), "1.2.840.10045.4.3.2");
        for bad in ["", "1", "3.1", "1.40", "1..2", "1.a"] {
            assert!(ObjectIdentifier::parse(bad).is_none(), "{bad}");
        }
        assert!(ObjectIdentifier::from_der(&[0x06, 0x01, 0x81]).is_err());
    }

    #[test]
    fn booleans_and_strings() {
        assert_eq!(true.to_der(), [0x01, 0x01, 0xFF]);
        assert!(bool::from_der(&[0x01, 0x01, 0x01]).unwrap());
        assert!(bool::from_der(&[0x01, 0x02, 0x00, 0x00]).is_err());
        assert_eq!(
            String::from_der(&[0x0C, 0x02, 0xC3, 0x28]).unwrap(),
            "\u{FFFD}("
        );
        assert!(Vec::<u8>::from_der(&[0x24, 0x00]).is_err());
    }
}
