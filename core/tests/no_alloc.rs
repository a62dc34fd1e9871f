//! Proves at run time that the TLV and APDU layers never touch the heap.
//!
//! The `--no-default-features` build already shows that `tlv` and `apdu` compile without the
//! `alloc` crate; this test also catches a heap allocation sneaking in through `std` or a
//! dependency. It runs without the libtest harness (`harness = false` in Cargo.toml), because
//! the harness itself allocates on other threads while tests run: here nothing else runs
//! between the two reads of the counter.
//!
//! The counting global allocator is `stats_alloc`'s `StatsAlloc<System>`: it wraps
//! `std::alloc::System` and counts `alloc`, `alloc_zeroed` and `realloc` in atomics. It is a
//! dependency rather than code here because implementing `GlobalAlloc` takes `unsafe impl`, which
//! the workspace forbids (`unsafe_code = "forbid"` cannot be lifted for one file).

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use lpa_core::apdu::{
    ExchangeConfig, LogicalChannel, MAX_SHORT_COMMAND, STORE_DATA_P1_LAST_BLOCK,
    STORE_DATA_P1_MORE_BLOCKS, StoreDataBlocks, StoreDataExchange, Transmit,
};
use lpa_core::tlv::{Tag, Tlv, TlvError, TlvWriter, tlv_len};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap calls so far: allocations (`alloc` and `alloc_zeroed`) plus reallocations.
fn heap_calls() -> usize {
    let stats = GLOBAL.stats();
    stats.allocations + stats.reallocations
}

/// A check's verdict; failures are static strings so that failing does not allocate either.
type Outcome = Result<(), &'static str>;

/// A named check.
type Check = (&'static str, fn() -> Outcome);

fn ensure(condition: bool, failure: &'static str) -> Outcome {
    if condition { Ok(()) } else { Err(failure) }
}

/// A ProfileInfoListResponse (GetProfilesInfo, ES10c) with two ProfileInfo entries, by hand:
/// `BF2D { A0 { E3 {..}, E3 {..} } }`.
const PROFILE_INFO_LIST_RESPONSE: [u8; 118] = [
    0xBF, 0x2D, 0x73, // ProfileInfoListResponse, 115 bytes
    0xA0, 0x71, // profileInfoListOk, 113 bytes
    0xE3, 0x3B, // ProfileInfo 1, 59 bytes
    0x5A, 0x0A, 0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x21, 0xF3, // iccid
    0x4F, 0x10, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00,
    0x10, 0x00, // isdpAid
    0x9F, 0x70, 0x01, 0x01, // profileState: enabled
    0x90, 0x04, b'W', b'o', b'r', b'k', // profileNickname
    0x91, 0x05, b'O', b'p', b'C', b'o', b'1', // serviceProviderName
    0x92, 0x07, b'P', b'r', b'o', b'f', b'i', b'l', b'e', // profileName
    0x95, 0x01, 0x02, // profileClass: operational
    0xE3, 0x32, // ProfileInfo 2, 50 bytes
    0x5A, 0x0A, 0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x31, 0xF4, // iccid
    0x4F, 0x10, 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00,
    0x11, 0x00, // isdpAid
    0x9F, 0x70, 0x01, 0x00, // profileState: disabled
    0x91, 0x05, b'O', b'p', b'C', b'o', b'2', // serviceProviderName
    0x92, 0x04, b'T', b'e', b's', b't', // profileName
    0x95, 0x01, 0x00, // profileClass: test
];

/// Walks the response as an LPA listing profiles does: every entry, every field.
fn tlv_parsing() -> Outcome {
    let message = black_box(&PROFILE_INFO_LIST_RESPONSE[..]);
    let top = Tlv::parse(message)
        .and_then(|t| t.expect_tag(Tag(0xBF2D)))
        .map_err(|_| "BF2D does not parse")?;
    let mut top_children = top.children();
    let list = top_children
        .expect(Tag(0xA0))
        .map_err(|_| "no profileInfoListOk")?;
    top_children
        .finish()
        .map_err(|_| "trailing data after A0")?;

    let mut profiles = 0usize;
    let mut enabled = 0usize;
    let mut providers: [&[u8]; 2] = [&[]; 2];
    for entry in list.children() {
        let entry = entry
            .and_then(|e| e.expect_tag(Tag(0xE3)))
            .map_err(|_| "bad ProfileInfo")?;
        for field in entry.children() {
            let field = field.map_err(|_| "bad ProfileInfo field")?;
            match field.tag() {
                Tag(0x5A) => ensure(field.value().len() == 10, "ICCID is not 10 bytes")?,
                Tag(0x9F70) if field.value() == [0x01] => enabled += 1,
                Tag(0x91) => {
                    let slot = providers.get_mut(profiles).ok_or("too many profiles")?;
                    *slot = field.value();
                }
                _ => {}
            }
        }
        profiles += 1;
    }
    ensure(profiles == 2, "expected two profiles")?;
    ensure(enabled == 1, "expected one enabled profile")?;
    ensure(
        providers == [&b"OpCo1"[..], &b"OpCo2"[..]],
        "service provider names differ",
    )
}

/// The fields of one ProfileInfo entry that the test writes.
struct ProfileInfo<'a> {
    iccid: &'a [u8],
    isdp_aid: &'a [u8],
    state: u8,
    nickname: Option<&'a [u8]>,
    provider: &'a [u8],
    name: &'a [u8],
    class: u8,
}

impl ProfileInfo<'_> {
    /// Length of the E3 value, computed before anything is written.
    fn value_len(&self) -> usize {
        tlv_len(Tag(0x5A), self.iccid.len())
            + tlv_len(Tag(0x4F), self.isdp_aid.len())
            + tlv_len(Tag(0x9F70), 1)
            + self.nickname.map_or(0, |n| tlv_len(Tag(0x90), n.len()))
            + tlv_len(Tag(0x91), self.provider.len())
            + tlv_len(Tag(0x92), self.name.len())
            + tlv_len(Tag(0x95), 1)
    }

    fn write(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
        w.write_header(Tag(0xE3), self.value_len())?;
        w.write_tlv(Tag(0x5A), self.iccid)?;
        w.write_tlv(Tag(0x4F), self.isdp_aid)?;
        w.write_tlv(Tag(0x9F70), &[self.state])?;
        if let Some(nickname) = self.nickname {
            w.write_tlv(Tag(0x90), nickname)?;
        }
        w.write_tlv(Tag(0x91), self.provider)?;
        w.write_tlv(Tag(0x92), self.name)?;
        w.write_tlv(Tag(0x95), &[self.class])
    }
}

/// Writes `BF2D { A0 { profiles } }`, sizes first.
fn write_list(w: &mut TlvWriter<'_>, profiles: &[ProfileInfo<'_>]) -> Result<(), TlvError> {
    let entries: usize = profiles
        .iter()
        .map(|p| tlv_len(Tag(0xE3), p.value_len()))
        .sum();
    w.write_header(Tag(0xBF2D), tlv_len(Tag(0xA0), entries))?;
    w.write_header(Tag(0xA0), entries)?;
    profiles.iter().try_for_each(|p| p.write(w))
}

/// Rebuilds the same ProfileInfoListResponse with `TlvWriter` into a stack buffer.
fn tlv_writing() -> Outcome {
    // ISD-P AIDs share the ISD-R's prefix and differ in the last two bytes.
    let mut aid1 = lpa_core::apdu::ISD_R_AID;
    let mut aid2 = lpa_core::apdu::ISD_R_AID;
    if let (Some(t1), Some(t2)) = (aid1.get_mut(14..), aid2.get_mut(14..)) {
        t1.copy_from_slice(&[0x10, 0x00]);
        t2.copy_from_slice(&[0x11, 0x00]);
    }
    let profiles = [
        ProfileInfo {
            iccid: &[0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x21, 0xF3],
            isdp_aid: &aid1,
            state: 1,
            nickname: Some(b"Work"),
            provider: b"OpCo1",
            name: b"Profile",
            class: 2,
        },
        ProfileInfo {
            iccid: &[0x98, 0x94, 0x00, 0x21, 0x43, 0x65, 0x87, 0x09, 0x31, 0xF4],
            isdp_aid: &aid2,
            state: 0,
            nickname: None,
            provider: b"OpCo2",
            name: b"Test",
            class: 0,
        },
    ];
    let mut buf = [0u8; 128];
    let mut w = TlvWriter::new(black_box(&mut buf));
    write_list(&mut w, black_box(&profiles)).map_err(|_| "TlvWriter failed")?;
    ensure(
        w.finish() == PROFILE_INFO_LIST_RESPONSE,
        "TlvWriter output differs from the hand-written message",
    )
}

/// A 600-byte ES10 request: a BF20-style header (length 595) and counting filler.
fn request_600() -> [u8; 600] {
    let mut request = [0u8; 600];
    for (i, b) in request.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    if let Some(header) = request.get_mut(..5) {
        header.copy_from_slice(&[0xBF, 0x20, 0x82, 0x02, 0x53]);
    }
    request
}

/// Segments the request at 120 bytes on channel 1 and encodes every block.
fn store_data_segmentation() -> Outcome {
    let request = black_box(request_600());
    let channel = LogicalChannel::new(1).map_err(|_| "channel 1 refused")?;
    let blocks =
        StoreDataBlocks::new(channel, &request, 120).map_err(|_| "segmentation refused")?;
    ensure(blocks.len() == 5, "expected 5 blocks")?;
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    let mut offset = 0usize;
    for (i, block) in blocks.enumerate() {
        let n = block.encode(&mut apdu).map_err(|_| "encode failed")?;
        let p1 = if i == 4 {
            STORE_DATA_P1_LAST_BLOCK
        } else {
            STORE_DATA_P1_MORE_BLOCKS
        };
        let header = [0x81, 0xE2, p1, i as u8, 0x78];
        ensure(
            apdu.get(..5) == Some(&header[..]),
            "wrong STORE DATA header",
        )?;
        let expected = request
            .get(offset..offset + 120)
            .ok_or("segment past the request")?;
        ensure(apdu.get(5..n) == Some(expected), "wrong segment data")?;
        offset += 120;
    }
    ensure(offset == 600, "segments do not cover the request")
}

/// A fake eUICC: checks each command's first five bytes against a script and answers.
struct FakeCard<'s> {
    script: &'s [([u8; 5], &'s [u8])],
    step: usize,
}

impl FakeCard<'_> {
    fn answer(&mut self, command: &[u8]) -> Result<&[u8], &'static str> {
        let (expected, answer) = self
            .script
            .get(self.step)
            .ok_or("card: unexpected command")?;
        ensure(
            command.get(..5) == Some(&expected[..]),
            "card: wrong command",
        )?;
        self.step += 1;
        Ok(answer)
    }
}

/// The full exchange: 3 blocks at 255 bytes, the last answered 6110, then two GET RESPONSEs.
fn store_data_exchange() -> Outcome {
    let request = black_box(request_600());
    let mut first = [0u8; 18];
    let mut second = [0u8; 7];
    for (i, b) in first.iter_mut().enumerate() {
        *b = i as u8;
    }
    for (i, b) in second.iter_mut().enumerate() {
        *b = 16 + i as u8;
    }
    // SW 6105 after 16 bytes, 9000 after 5.
    if let (Some(sw1), Some(sw2)) = (first.get_mut(16..), second.get_mut(5..)) {
        sw1.copy_from_slice(&[0x61, 0x05]);
        sw2.copy_from_slice(&[0x90, 0x00]);
    }
    let script: [([u8; 5], &[u8]); 5] = [
        ([0x81, 0xE2, 0x11, 0x00, 0xFF], &[0x90, 0x00]),
        ([0x81, 0xE2, 0x11, 0x01, 0xFF], &[0x90, 0x00]),
        ([0x81, 0xE2, 0x91, 0x02, 0x5A], &[0x61, 0x10]),
        ([0x01, 0xC0, 0x00, 0x00, 0x10], &first),
        ([0x01, 0xC0, 0x00, 0x00, 0x05], &second),
    ];
    let mut card = FakeCard {
        script: &script,
        step: 0,
    };

    let channel = LogicalChannel::new(1).map_err(|_| "channel 1 refused")?;
    let mut response = [0u8; 64];
    let mut exchange =
        StoreDataExchange::new(channel, &request, ExchangeConfig::default(), &mut response)
            .map_err(|_| "exchange refused the request")?;
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    let len = loop {
        match exchange
            .poll_transmit(&mut apdu)
            .map_err(|_| "poll_transmit failed")?
        {
            Transmit::Command(bytes) => exchange
                .handle_response(card.answer(bytes)?)
                .map_err(|_| "handle_response failed")?,
            Transmit::Done { len } => break len,
        }
    };
    ensure(card.step == script.len(), "card script not used up")?;
    ensure(len == 21, "expected a 21-byte response")?;
    let collected = exchange.response();
    ensure(
        collected
            .iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i),
        "response bytes differ",
    )
}

/// The recorded session's Bound Profile Package, split into its STORE DATA sequences
/// (SGP.22 §2.5.5) and each sequence into 120-byte STORE DATA blocks: all views, no copies.
fn bpp_splitting() -> Result<(), &'static str> {
    let bpp: &[u8] = include_bytes!("data/rsp-session/bound-profile-package.der");
    let commands = lpa_core::bpp::BppCommands::new(bpp).map_err(|_| "BPP refused")?;
    let (mut sequences, mut blocks, mut bytes) = (0usize, 0usize, 0usize);
    let channel = LogicalChannel::new(1).map_err(|_| "channel 1 refused")?;
    for command in commands {
        sequences += 1;
        bytes += command.bytes.len();
        let split =
            StoreDataBlocks::new(channel, command.bytes, 120).map_err(|_| "segmentation failed")?;
        blocks += split.count();
    }
    ensure(sequences == 6, "expected 6 STORE DATA sequences")?;
    ensure(
        bytes == bpp.len(),
        "the sequences do not cover the BPP exactly",
    )?;
    ensure(
        blocks >= sequences,
        "every sequence needs at least one block",
    )
}

/// Activation codes and the confirmation-code hash work on borrowed text and stack buffers.
fn activation_code_and_hash_cc() -> Result<(), &'static str> {
    let code = lpa_core::activation::ActivationCode::parse("LPA:1$smdp.example.com$MATCHING-ID$$1")
        .map_err(|_| "activation code refused")?;
    ensure(code.smdp_address() == "smdp.example.com", "wrong address")?;
    ensure(code.confirmation_code_required(), "CC flag lost")?;
    let hash = lpa_core::activation::hash_cc(b"1234", &[0x01, 0x02, 0x03]);
    ensure(hash != [0u8; 32], "hash not computed")
}

fn main() -> ExitCode {
    let checks: [Check; 6] = [
        ("TLV parsing of a ProfileInfoListResponse", tlv_parsing),
        ("TLV writing with TlvWriter", tlv_writing),
        (
            "STORE DATA segmentation of 600 bytes",
            store_data_segmentation,
        ),
        ("StoreDataExchange with a 61xx chain", store_data_exchange),
        (
            "BPP split into STORE DATA sequences and blocks",
            bpp_splitting,
        ),
        (
            "activation code parsing and hashCc",
            activation_code_and_hash_cc,
        ),
    ];
    let (mut passed, mut failed) = (0usize, 0usize);
    for (name, check) in checks {
        let before = heap_calls();
        let outcome = check();
        let allocations = heap_calls().wrapping_sub(before);
        match (outcome, allocations) {
            (Ok(()), 0) => {
                passed += 1;
                println!("no_alloc: {name} ... ok");
            }
            (Ok(()), n) => {
                failed += 1;
                eprintln!(
                    "no_alloc: FAILED {name}: {n} heap allocation(s) (alloc, alloc_zeroed or \
                     realloc) in code that must not allocate"
                );
            }
            (Err(why), _) => {
                failed += 1;
                eprintln!("no_alloc: FAILED {name}: {why}");
            }
        }
    }
    println!("no_alloc: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
