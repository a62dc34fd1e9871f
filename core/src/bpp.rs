//! Splitting a Bound Profile Package into the STORE DATA sequences of ES10b
//! LoadBoundProfilePackage (SGP.22 §2.5.5), without copying it and without allocating.
//!
//! The BPP is not sent to the eUICC as one TLV. Each of these is its own ES10 "command" (one
//! STORE DATA sequence, segmented by [`crate::apdu::StoreDataBlocks`]):
//!
//! | # | bytes sent | [`BppCommandKind`] |
//! |---|---|---|
//! | 1 | tag + length of `BF36`, then the whole `BF23` | `InitialiseSecureChannel` |
//! | 2 | the whole `A0` (firstSequenceOf87: ConfigureISDP) | `ConfigureIsdp` |
//! | 3 | tag + length of `A1` only | `StoreMetadata` |
//! | 4 | each `88` TLV | `StoreMetadata` |
//! | 5 | the whole `A2` when present (ReplaceSessionKeys) | `ReplaceSessionKeys` |
//! | 6 | tag + length of `A3` only | `LoadProfileElements` |
//! | 7 | each `86` TLV | `LoadProfileElements` |
//!
//! Every piece is a contiguous slice of the server's bytes: the LPA forwards the BPP exactly
//! as the SM-DP+ produced it. [`BppCommands`] yields the slices; [`BppCommands::ranges`] yields
//! where they lie instead ([`BppCommandRange`]), for a caller that keeps the package in an
//! owned buffer and hands each sequence out later. The card answers every command but the last with `9000` and no
//! data unless it fails early, in which case its answer is a ProfileInstallationResult
//! (`BF37`) and the LPA stops sending.

use core::fmt;
use core::ops::Range;

use crate::tlv::{Tag, Tlv, TlvError, TlvReader};

/// Which part of the BPP a command carries; matches SGP.22's `BppCommandId` where one exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BppCommandKind {
    /// `BF36` header and InitialiseSecureChannelRequest (`BF23`).
    InitialiseSecureChannel,
    /// `A0`: the ConfigureISDP `87` segment(s).
    ConfigureIsdp,
    /// `A1` header or one StoreMetadata `88` segment.
    StoreMetadata,
    /// `A2`: the ReplaceSessionKeys `87` segment(s).
    ReplaceSessionKeys,
    /// `A3` header or one profile element `86` segment.
    LoadProfileElements,
}

/// One STORE DATA sequence of a BPP load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BppCommand<'a> {
    /// What it carries.
    pub kind: BppCommandKind,
    /// The bytes to send as one ES10 command.
    pub bytes: &'a [u8],
}

/// Where one STORE DATA sequence of a BPP load lies in the package: the sequence is
/// `&bpp[range]` of the `bpp` given to [`BppCommands::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BppCommandRange {
    /// What it carries.
    pub kind: BppCommandKind,
    /// Its bytes' position in the BPP.
    pub range: Range<usize>,
}

/// The commands of a BPP as [`BppCommandRange`]s; from [`BppCommands::ranges`].
#[derive(Clone, Debug)]
pub struct BppCommandRanges<'a> {
    commands: BppCommands<'a>,
}

impl Iterator for BppCommandRanges<'_> {
    type Item = BppCommandRange;

    fn next(&mut self) -> Option<BppCommandRange> {
        self.commands.next_range()
    }
}

/// Why a BPP cannot be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BppError {
    /// Not well-formed TLV.
    Tlv(TlvError),
    /// An element is missing, misplaced or of the wrong tag.
    Structure {
        /// Offset of the element (or of the end of the BPP when one is missing).
        offset: usize,
        /// The tag expected there.
        expected: Tag,
    },
    /// A segment list holds an element of another tag.
    UnexpectedSegment {
        /// Offset of the element.
        offset: usize,
        /// Its tag.
        found: Tag,
    },
}

impl From<TlvError> for BppError {
    fn from(e: TlvError) -> Self {
        BppError::Tlv(e)
    }
}

impl fmt::Display for BppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BppError::Tlv(e) => write!(f, "malformed Bound Profile Package: {e}"),
            BppError::Structure { offset, expected } => write!(
                f,
                "Bound Profile Package: expected {expected} at offset {offset}"
            ),
            BppError::UnexpectedSegment { offset, found } => write!(
                f,
                "Bound Profile Package: unexpected segment {found} at offset {offset}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BppError {}

/// The checked structure of a BPP, iterable as [`BppCommand`]s.
#[derive(Clone, Debug)]
pub struct BppCommands<'a> {
    bpp: &'a [u8],
    init_end: usize,
    a0: Tlv<'a>,
    a1: Tlv<'a>,
    a2: Option<Tlv<'a>>,
    a3: Tlv<'a>,
    state: State<'a>,
}

#[derive(Clone, Debug)]
enum State<'a> {
    Init,
    ConfigureIsdp,
    MetadataHeader,
    Metadata(TlvReader<'a>),
    ReplaceSessionKeys,
    ElementsHeader,
    Elements(TlvReader<'a>),
    Done,
}

fn check_segments(list: &Tlv<'_>, segment: Tag) -> Result<usize, BppError> {
    let mut n = 0;
    for child in list.children() {
        let child = child?;
        if child.tag() != segment {
            return Err(BppError::UnexpectedSegment {
                offset: child.offset(),
                found: child.tag(),
            });
        }
        n += 1;
    }
    Ok(n)
}

impl<'a> BppCommands<'a> {
    /// Checks the structure of `bpp` (a whole `BF36` element) and prepares the commands.
    pub fn new(bpp: &'a [u8]) -> Result<Self, BppError> {
        let top = Tlv::parse(bpp)?;
        if top.tag() != Tag(0xBF36) {
            return Err(BppError::Structure {
                offset: 0,
                expected: Tag(0xBF36),
            });
        }
        let mut children = top.children();
        let mut next_any = |expected: Tag| -> Result<Tlv<'a>, BppError> {
            match children.next() {
                Some(t) => Ok(t?),
                None => Err(BppError::Structure {
                    offset: bpp.len(),
                    expected,
                }),
            }
        };
        let expect = |t: Tlv<'a>, expected: Tag| {
            if t.tag() == expected {
                Ok(t)
            } else {
                Err(BppError::Structure {
                    offset: t.offset(),
                    expected,
                })
            }
        };
        let init = expect(next_any(Tag(0xBF23))?, Tag(0xBF23))?;
        let a0 = expect(next_any(Tag(0xA0))?, Tag(0xA0))?;
        let a1 = expect(next_any(Tag(0xA1))?, Tag(0xA1))?;
        // secondSequenceOf87 (A2) is OPTIONAL: the fourth element is A2 or A3.
        let fourth = next_any(Tag(0xA3))?;
        let (a2, a3) = if fourth.tag() == Tag(0xA2) {
            (Some(fourth), expect(next_any(Tag(0xA3))?, Tag(0xA3))?)
        } else {
            (None, expect(fourth, Tag(0xA3))?)
        };
        if let Some(extra) = top.children().nth(if a2.is_some() { 5 } else { 4 }) {
            let extra = extra?;
            return Err(BppError::UnexpectedSegment {
                offset: extra.offset(),
                found: extra.tag(),
            });
        }
        if check_segments(&a0, Tag(0x87))? == 0 {
            return Err(BppError::Structure {
                offset: a0.value_offset(),
                expected: Tag(0x87),
            });
        }
        check_segments(&a1, Tag(0x88))?;
        if let Some(a2) = &a2 {
            check_segments(a2, Tag(0x87))?;
        }
        if check_segments(&a3, Tag(0x86))? == 0 {
            return Err(BppError::Structure {
                offset: a3.value_offset(),
                expected: Tag(0x86),
            });
        }
        Ok(BppCommands {
            bpp,
            init_end: init.offset() + init.raw().len(),
            a0,
            a1,
            a2,
            a3,
            state: State::Init,
        })
    }

    /// The commands still to come as positions in the BPP rather than slices of it.
    pub fn ranges(self) -> BppCommandRanges<'a> {
        BppCommandRanges { commands: self }
    }

    /// Number of commands the whole load takes.
    pub fn command_count(&self) -> usize {
        let segments = |t: &Tlv<'_>| t.children().count();
        2 + 1 + segments(&self.a1) + usize::from(self.a2.is_some()) + 1 + segments(&self.a3)
    }
}

/// Where an element's tag and length lie (its header without the value).
fn header(t: &Tlv<'_>) -> Range<usize> {
    t.offset()..t.value_offset()
}

/// Where a whole element lies.
fn whole(t: &Tlv<'_>) -> Range<usize> {
    t.offset()..t.offset() + t.raw().len()
}

impl BppCommands<'_> {
    /// The next command, as a position in the BPP (every offset is from the start of the
    /// outermost input, which is the BPP).
    fn next_range(&mut self) -> Option<BppCommandRange> {
        loop {
            let (kind, range, next_state) = match &mut self.state {
                State::Init => (
                    BppCommandKind::InitialiseSecureChannel,
                    0..self.init_end,
                    State::ConfigureIsdp,
                ),
                State::ConfigureIsdp => (
                    BppCommandKind::ConfigureIsdp,
                    whole(&self.a0),
                    State::MetadataHeader,
                ),
                State::MetadataHeader => (
                    BppCommandKind::StoreMetadata,
                    header(&self.a1),
                    State::Metadata(self.a1.children()),
                ),
                State::Metadata(reader) => match reader.next() {
                    // The structure was checked in `new`, so the reader yields only `88`s.
                    Some(Ok(seg)) => {
                        return Some(BppCommandRange {
                            kind: BppCommandKind::StoreMetadata,
                            range: whole(&seg),
                        });
                    }
                    _ => {
                        self.state = if self.a2.is_some() {
                            State::ReplaceSessionKeys
                        } else {
                            State::ElementsHeader
                        };
                        continue;
                    }
                },
                State::ReplaceSessionKeys => match &self.a2 {
                    Some(a2) => (
                        BppCommandKind::ReplaceSessionKeys,
                        whole(a2),
                        State::ElementsHeader,
                    ),
                    None => {
                        self.state = State::ElementsHeader;
                        continue;
                    }
                },
                State::ElementsHeader => (
                    BppCommandKind::LoadProfileElements,
                    header(&self.a3),
                    State::Elements(self.a3.children()),
                ),
                State::Elements(reader) => match reader.next() {
                    Some(Ok(seg)) => {
                        return Some(BppCommandRange {
                            kind: BppCommandKind::LoadProfileElements,
                            range: whole(&seg),
                        });
                    }
                    _ => {
                        self.state = State::Done;
                        return None;
                    }
                },
                State::Done => return None,
            };
            self.state = next_state;
            return Some(BppCommandRange { kind, range });
        }
    }
}

impl<'a> Iterator for BppCommands<'a> {
    type Item = BppCommand<'a>;

    fn next(&mut self) -> Option<BppCommand<'a>> {
        let BppCommandRange { kind, range } = self.next_range()?;
        let bpp: &'a [u8] = self.bpp;
        Some(BppCommand {
            kind,
            bytes: bpp.get(range).unwrap_or_default(),
        })
    }
}
