//! ES10b LoadBoundProfilePackage (SGP.22 §5.7.6, ES8+ §5.5) on the eUICC side, one STORE DATA
//! sequence at a time, exactly as the LPA splits the BPP (`lpa_core::bpp::BppCommands`):
//!
//! | # | sequence | checked here | bppCommandId on failure |
//! |---|---|---|---|
//! | 1 | `BF36` header + `BF23` | remoteOpId, transactionId, smdpSign, CRT, key agreement | initialiseSecureChannel |
//! | 2 | `A0` with its `87`s | C-MAC, decryption, ConfigureISDPRequest, free memory | configureISDP |
//! | 3 | `A1` header | length within `BF36` | storeMetadata |
//! | 4 | each `88` | C-MAC; after the last: StoreMetadataRequest, ICCID unused, class, PPRs | storeMetadata |
//! | 5 | `A2` with its `87`s (optional) | C-MAC, decryption, ReplaceSessionKeysRequest | replaceSessionKeys |
//! | 6 | `A3` header | it is the rest of `BF36` | loadProfileElements |
//! | 7 | each `86` | C-MAC, decryption; after the last: the ProfileHeader ICCID equals the metadata's | loadProfileElements |
//!
//! Intermediate sequences are answered with `9000` and no data. The last `86` is answered with
//! the signed ProfileInstallationResult (`BF37`); so is the first sequence that fails, after
//! which the session is over and further sequences are refused with `6985`. Either result is
//! also kept as a pending install notification.
//!
//! Lengths are tracked: every sequence must fit in what the `BF36` header announced, the `88`s
//! must fill `A1` exactly, the `86`s must fill `A3`, and `A3` must end `BF36`.

use lpa_core::der::{Decode, Encode, ObjectIdentifier, Signed};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    BppCommandId, ConfigureIsdpRequest, ErrorReason, ErrorResult, FinalResult,
    InitialiseSecureChannelRequest, NotificationEvent, NotificationMetadata, OperatorId, PprIds,
    ProfileInstallationResult, ProfileInstallationResultData, RemoteOpId, StoreMetadataRequest,
    SuccessResult,
};
use lpa_core::tlv::{Tag, Tlv};

use super::apdu::{Reply, sw};
use super::es10::{Es10Core, read_header};
use super::profile_package::header_iccid;
use super::session::{Authenticated, Prepared, Session};
use super::signed_data::initialise_secure_channel_data;
use super::state::{StoredNotification, StoredProfile};
use crate::bsp::{self, BspError, BspVerifier, ReplaceSessionKeys, SegmentTag, SessionKeys};

/// `EUICCResponse` (SIMalliance eUICC Profile Package, `PEDefinitions`): `peStatus` with one
/// `PEStatus { status ok(0) }`, for the simaResponse of a successful installation.
const EUICC_RESPONSE_OK: [u8; 9] = [0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00];

/// The ISD-P AIDs handed out: `A0000005591010FFFFFFFF8900` then a two-byte number, then `00`
/// (the pattern of the ISD-P AIDs real eUICCs report, e.g. `...89000010 00`).
const ISDP_AID_PREFIX: [u8; 13] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00,
];

/// Why a BPP load failed: the step and the SGP.22 error reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    command: BppCommandId,
    reason: ErrorReason,
}

fn failure(command: BppCommandId, reason: ErrorReason) -> Failure {
    Failure { command, reason }
}

fn structure(command: BppCommandId) -> Failure {
    failure(command, ErrorReason::Scp03tStructureError)
}

/// A refused segment: a MAC or padding failure is a security error, anything else (tag,
/// length, TLV form) a structure error.
fn segment_failure(command: BppCommandId, e: &BspError) -> Failure {
    match e {
        BspError::MacMismatch { .. } | BspError::BadPadding { .. } => {
            failure(command, ErrorReason::Scp03tSecurityError)
        }
        _ => structure(command),
    }
}

/// What the next STORE DATA sequence must be.
#[derive(Debug)]
enum Stage {
    /// `A0` (ConfigureISDP).
    ConfigureIsdp,
    /// The `A1` header.
    MetadataHeader,
    /// `88` segments, `remaining` bytes of `A1` to go.
    Metadata {
        remaining: usize,
        plaintext: Vec<u8>,
    },
    /// `A2` or the `A3` header.
    ReplaceSessionKeysOrElements,
    /// The `A3` header (after `A2`).
    ElementsHeader,
    /// `86` segments, `remaining` bytes of `A3` to go.
    Elements { remaining: usize },
}

impl Stage {
    /// The step a failure at this point is reported against.
    fn command(&self, tag: Tag) -> BppCommandId {
        match self {
            Stage::ConfigureIsdp => BppCommandId::ConfigureIsdp,
            Stage::MetadataHeader | Stage::Metadata { .. } => BppCommandId::StoreMetadata,
            Stage::ReplaceSessionKeysOrElements if tag == Tag(0xA2) => {
                BppCommandId::ReplaceSessionKeys
            }
            _ => BppCommandId::LoadProfileElements,
        }
    }
}

/// Who the session is with: what a ProfileInstallationResult needs.
#[derive(Clone, Debug)]
struct Context {
    auth: Authenticated,
    pb_smdp_oid: ObjectIdentifier,
}

/// A Bound Profile Package being loaded.
#[derive(Debug)]
pub(crate) struct LoadState {
    context: Context,
    verifier: BspVerifier,
    stage: Stage,
    /// Bytes of the `BF36` value not received yet.
    bpp_remaining: usize,
    configure_isdp: Vec<u8>,
    metadata: Option<(Vec<u8>, StoreMetadataRequest)>,
    package: Vec<u8>,
}

impl LoadState {
    /// The authentication of the session.
    pub fn auth(&self) -> &Authenticated {
        &self.context.auth
    }

    fn iccid(&self) -> Option<Iccid> {
        self.metadata.as_ref().map(|(_, m)| m.iccid)
    }
}

/// A whole TLV of the given tag filling `bytes`.
fn whole(bytes: &[u8], tag: Tag, command: BppCommandId) -> Result<Tlv<'_>, Failure> {
    match Tlv::parse(bytes) {
        Ok(t) if t.tag() == tag => Ok(t),
        _ => Err(structure(command)),
    }
}

/// A bare tag and length (the `A1` / `A3` headers): the value length.
fn header_only(bytes: &[u8], tag: Tag, command: BppCommandId) -> Result<usize, Failure> {
    match read_header(bytes) {
        Some((t, len, header_len)) if t == tag && header_len == bytes.len() && len > 0 => Ok(len),
        _ => Err(structure(command)),
    }
}

/// Verifies and deciphers every `87` of an `A0`/`A2`, concatenating the plaintexts.
fn open_87s(
    verifier: &mut BspVerifier,
    list: Tlv<'_>,
    command: BppCommandId,
) -> Result<Vec<u8>, Failure> {
    let mut plaintext = Vec::new();
    let mut count = 0usize;
    for segment in list.children() {
        let segment = segment.map_err(|_| structure(command))?;
        let part = verifier
            .verify_segment(SegmentTag::Es8Command87, segment.raw())
            .map_err(|e| segment_failure(command, &e))?;
        plaintext.extend_from_slice(&part);
        count += 1;
    }
    if count == 0 {
        return Err(structure(command));
    }
    Ok(plaintext)
}

/// Whether an operator matches a RAT entry: `E` nibbles of the rule's MCC/MNC are wildcards,
/// GIDs must match when the rule names them (SGP.22 §2.9.2.2).
fn operator_matches(rule: &OperatorId, owner: &OperatorId) -> bool {
    let nibbles = |b: &[u8]| -> Vec<u8> { b.iter().flat_map(|x| [x & 0x0F, x >> 4]).collect() };
    let (r, o) = (nibbles(&rule.mcc_mnc), nibbles(&owner.mcc_mnc));
    r.len() == o.len()
        && r.iter().zip(&o).all(|(r, o)| *r == 0x0E || r == o)
        && rule
            .gid1
            .as_ref()
            .is_none_or(|g| owner.gid1.as_ref() == Some(g))
        && rule
            .gid2
            .as_ref()
            .is_none_or(|g| owner.gid2.as_ref() == Some(g))
}

impl Es10Core {
    /// One STORE DATA sequence of LoadBoundProfilePackage.
    pub fn load_bound_profile_package(&mut self, tag: Tag, bytes: &[u8]) -> Reply {
        if tag == Tag(0xBF36) {
            // A new BPP ends any load in progress.
            self.interrupt_load();
            return match std::mem::take(&mut self.session) {
                Session::Prepared(prepared) => self.start_load(*prepared, bytes),
                other => {
                    self.session = other;
                    Reply::Status(sw::CONDITIONS_NOT_SATISFIED)
                }
            };
        }
        let mut load = match std::mem::take(&mut self.session) {
            Session::Loading(load) => load,
            other => {
                self.session = other;
                return Reply::Status(sw::CONDITIONS_NOT_SATISFIED);
            }
        };
        match self.continue_load(&mut load, tag, bytes) {
            Ok(None) => {
                self.session = Session::Loading(load);
                Reply::Data(Vec::new())
            }
            Ok(Some(reply)) => reply,
            Err(f) => {
                let iccid = load.iccid();
                self.fail_load(&load.context, iccid, f)
            }
        }
    }

    /// Ends a load in progress as installFailedDueToInterruption (another command came, or the
    /// card was reset), keeping the result as a pending notification.
    pub fn interrupt_load(&mut self) {
        if !matches!(self.session, Session::Loading(_)) {
            return;
        }
        if let Session::Loading(load) = std::mem::take(&mut self.session) {
            let command = load.stage.command(Tag(0));
            let _ = self.fail_load(
                &load.context,
                load.iccid(),
                failure(command, ErrorReason::Interruption),
            );
        }
    }

    fn start_load(&mut self, prepared: Prepared, bytes: &[u8]) -> Reply {
        let context = Context {
            auth: prepared.auth.clone(),
            pb_smdp_oid: prepared.pb_smdp_oid.clone(),
        };
        match self.initialise_secure_channel(&prepared, bytes) {
            Ok((verifier, bpp_remaining)) => {
                self.session = Session::Loading(Box::new(LoadState {
                    context,
                    verifier,
                    stage: Stage::ConfigureIsdp,
                    bpp_remaining,
                    configure_isdp: Vec::new(),
                    metadata: None,
                    package: Vec::new(),
                }));
                Reply::Data(Vec::new())
            }
            Err(f) => self.fail_load(&context, None, f),
        }
    }

    /// The first sequence: `BF36` header and InitialiseSecureChannelRequest (SGP.22 §5.5.1).
    fn initialise_secure_channel(
        &self,
        prepared: &Prepared,
        bytes: &[u8],
    ) -> Result<(BspVerifier, usize), Failure> {
        const STEP: BppCommandId = BppCommandId::InitialiseSecureChannel;
        let (_, bpp_len, header_len) = read_header(bytes).ok_or(structure(STEP))?;
        let bf23 = bytes.get(header_len..).unwrap_or_default();
        whole(bf23, Tag(0xBF23), STEP)?;
        let bpp_remaining = bpp_len.checked_sub(bf23.len()).ok_or(structure(STEP))?;
        let request = InitialiseSecureChannelRequest::from_der(bf23)
            .map_err(|_| failure(STEP, ErrorReason::IncorrectInputValues))?;
        if request.remote_op_id != RemoteOpId::InstallBoundProfilePackage {
            return Err(failure(STEP, ErrorReason::UnsupportedRemoteOperationType));
        }
        if request.transaction_id != prepared.auth.transaction_id {
            return Err(failure(STEP, ErrorReason::InvalidTransactionId));
        }
        let signed = initialise_secure_channel_data(bf23, &prepared.euicc_otpk)
            .map_err(|_| failure(STEP, ErrorReason::IncorrectInputValues))?;
        if prepared
            .dppb_key
            .verify(&signed, &request.smdp_sign)
            .is_err()
        {
            return Err(failure(STEP, ErrorReason::InvalidSignature));
        }
        let crt = &request.control_ref_template;
        let (&[key_type], &[key_len]) = (crt.key_type.as_slice(), crt.key_len.as_slice()) else {
            return Err(failure(STEP, ErrorReason::UnsupportedCrtValues));
        };
        let crt = bsp::ControlRefTemplate {
            key_type,
            key_len,
            host_id: crt.host_id.clone(),
        };
        let shs = prepared
            .one_time
            .shared_secret(&request.smdp_otpk)
            .map_err(|_| failure(STEP, ErrorReason::IncorrectInputValues))?;
        // Only AES-128 with a hostId of 1 to 16 bytes (SGP.22 §5.5.1).
        let keys = SessionKeys::derive(&shs, &crt, self.identity.eid.as_bytes())
            .map_err(|_| failure(STEP, ErrorReason::UnsupportedCrtValues))?;
        Ok((BspVerifier::new(keys), bpp_remaining))
    }

    /// Sequences 2 to 7: `Ok(Some(reply))` after the last `86`.
    fn continue_load(
        &mut self,
        load: &mut LoadState,
        tag: Tag,
        bytes: &[u8],
    ) -> Result<Option<Reply>, Failure> {
        let command = load.stage.command(tag);
        load.bpp_remaining = load
            .bpp_remaining
            .checked_sub(bytes.len())
            .ok_or(structure(command))?;
        let bpp_remaining = load.bpp_remaining;
        match (&mut load.stage, tag.0) {
            (Stage::ConfigureIsdp, 0xA0) => {
                let list = whole(bytes, Tag(0xA0), command)?;
                let plaintext = open_87s(&mut load.verifier, list, command)?;
                ConfigureIsdpRequest::from_der(&plaintext)
                    .map_err(|_| failure(command, ErrorReason::IncorrectInputValues))?;
                self.check_free_memory(command)?;
                load.configure_isdp = plaintext;
                load.stage = Stage::MetadataHeader;
            }
            (Stage::MetadataHeader, 0xA1) => {
                let len = header_only(bytes, Tag(0xA1), command)?;
                if len > bpp_remaining {
                    return Err(structure(command));
                }
                load.stage = Stage::Metadata {
                    remaining: len,
                    plaintext: Vec::new(),
                };
            }
            (
                Stage::Metadata {
                    remaining,
                    plaintext,
                },
                0x88,
            ) => {
                whole(bytes, Tag(0x88), command)?;
                *remaining = remaining
                    .checked_sub(bytes.len())
                    .ok_or(structure(command))?;
                let part = load
                    .verifier
                    .verify_segment(SegmentTag::StoreMetadata88, bytes)
                    .map_err(|e| segment_failure(command, &e))?;
                plaintext.extend_from_slice(&part);
                if *remaining == 0 {
                    let raw = std::mem::take(plaintext);
                    let metadata = self.check_metadata(&raw)?;
                    load.metadata = Some((raw, metadata));
                    load.stage = Stage::ReplaceSessionKeysOrElements;
                }
            }
            (Stage::ReplaceSessionKeysOrElements, 0xA2) => {
                let list = whole(bytes, Tag(0xA2), command)?;
                let plaintext = open_87s(&mut load.verifier, list, command)?;
                let request = ReplaceSessionKeys::decode(&plaintext)
                    .map_err(|_| failure(command, ErrorReason::IncorrectInputValues))?;
                load.verifier.replace_session_keys(&request);
                load.stage = Stage::ElementsHeader;
            }
            (Stage::ReplaceSessionKeysOrElements | Stage::ElementsHeader, 0xA3) => {
                // sequenceOf86 is the last element of the BPP: it fills the rest of BF36.
                let len = header_only(bytes, Tag(0xA3), command)?;
                if len != bpp_remaining {
                    return Err(structure(command));
                }
                load.stage = Stage::Elements { remaining: len };
            }
            (Stage::Elements { remaining }, 0x86) => {
                whole(bytes, Tag(0x86), command)?;
                *remaining = remaining
                    .checked_sub(bytes.len())
                    .ok_or(structure(command))?;
                let done = *remaining == 0;
                let part = load
                    .verifier
                    .verify_segment(SegmentTag::LoadProfileElements86, bytes)
                    .map_err(|e| segment_failure(command, &e))?;
                load.package.extend_from_slice(&part);
                if done {
                    return self.install(load).map(Some);
                }
            }
            _ => return Err(structure(command)),
        }
        Ok(None)
    }

    fn check_free_memory(&self, command: BppCommandId) -> Result<(), Failure> {
        if self.state.profiles.len() >= self.config.max_profiles {
            return Err(failure(command, ErrorReason::InsufficientMemoryForProfile));
        }
        Ok(())
    }

    /// StoreMetadata (SGP.22 §5.5.3): decodable, ICCID not installed yet, a class this eUICC
    /// takes, PPRs allowed by forbiddenProfilePolicyRules and the RAT.
    fn check_metadata(&self, raw: &[u8]) -> Result<StoreMetadataRequest, Failure> {
        const STEP: BppCommandId = BppCommandId::StoreMetadata;
        let metadata = StoreMetadataRequest::from_der(raw)
            .map_err(|_| failure(STEP, ErrorReason::IncorrectInputValues))?;
        if self.find_by_iccid(&metadata.iccid).is_some() {
            return Err(failure(STEP, ErrorReason::IccidAlreadyExistsOnEuicc));
        }
        if !self
            .config
            .supported_profile_classes
            .contains(&metadata.profile_class)
        {
            return Err(failure(STEP, ErrorReason::UnsupportedProfileClass));
        }
        if let Some(rules) = &metadata.profile_policy_rules {
            for ppr in [PprIds::PPR1, PprIds::PPR2] {
                if rules.contains(ppr) && !self.ppr_allowed(ppr, metadata.profile_owner.as_ref()) {
                    return Err(failure(STEP, ErrorReason::PprNotAllowed));
                }
            }
        }
        Ok(metadata)
    }

    fn ppr_allowed(&self, ppr: usize, owner: Option<&OperatorId>) -> bool {
        let forbidden = self
            .config
            .forbidden_profile_policy_rules
            .as_ref()
            .is_some_and(|f| f.contains(ppr));
        let Some(owner) = owner else {
            return false;
        };
        !forbidden
            && self.config.rules_authorisation_table.iter().any(|rule| {
                rule.ppr_ids.contains(ppr)
                    && rule
                        .allowed_operators
                        .iter()
                        .any(|op| operator_matches(op, owner))
            })
    }

    /// After the last `86`: the ProfileHeader's ICCID must be the metadata's; then the
    /// profile is installed, disabled.
    fn install(&mut self, load: &mut LoadState) -> Result<Reply, Failure> {
        const STEP: BppCommandId = BppCommandId::LoadProfileElements;
        let Some((raw_metadata, metadata)) = load.metadata.clone() else {
            return Err(structure(STEP));
        };
        let iccid =
            header_iccid(&load.package).ok_or(failure(STEP, ErrorReason::PeProcessingError))?;
        if &iccid != metadata.iccid.as_bytes() {
            return Err(failure(STEP, ErrorReason::DataMismatch));
        }
        if self.find_by_iccid(&metadata.iccid).is_some() {
            return Err(failure(STEP, ErrorReason::IccidAlreadyExistsOnEuicc));
        }
        self.check_free_memory(STEP)?;
        let number = self.state.next_isdp_number;
        self.state.next_isdp_number = number.saturating_add(1);
        let mut aid = ISDP_AID_PREFIX.to_vec();
        aid.extend_from_slice(&u16::try_from(number).unwrap_or(u16::MAX).to_be_bytes());
        aid.push(0x00);
        self.state.profiles.push(StoredProfile {
            iccid: iccid.to_vec(),
            isdp_aid: aid.clone(),
            enabled: false,
            nickname: None,
            metadata: raw_metadata,
            configure_isdp: std::mem::take(&mut load.configure_isdp),
            smdp_oid: load.context.pb_smdp_oid.to_string(),
            package: std::mem::take(&mut load.package),
        });
        let result = FinalResult::Success(SuccessResult {
            aid,
            sima_response: EUICC_RESPONSE_OK.to_vec(),
        });
        Ok(self.installation_result(&load.context, Some(metadata.iccid), result))
    }

    /// A failed load: the signed error result, kept as a notification; the session is over.
    fn fail_load(&mut self, context: &Context, iccid: Option<Iccid>, f: Failure) -> Reply {
        self.session = Session::Idle;
        let result = FinalResult::Error(ErrorResult {
            bpp_command_id: f.command,
            error_reason: f.reason,
            sima_response: None,
        });
        self.installation_result(context, iccid, result)
    }

    /// Signs a ProfileInstallationResult (euiccSignPIR over the `BF27` TLV, SGP.22 §5.5.6),
    /// stores it as the install notification (addressed to the SM-DP+ of the session) and
    /// answers with it.
    fn installation_result(
        &mut self,
        context: &Context,
        iccid: Option<Iccid>,
        final_result: FinalResult,
    ) -> Reply {
        let seq_number = self.state.take_seq_number();
        let data = Signed::new(ProfileInstallationResultData {
            transaction_id: context.auth.transaction_id.clone(),
            notification_metadata: NotificationMetadata {
                seq_number,
                profile_management_operation: NotificationEvent::Install,
                notification_address: context.auth.server_address.clone(),
                iccid,
            },
            smdp_oid: context.pb_smdp_oid.clone(),
            final_result,
        });
        let Ok(signature) = self.identity.euicc.key.sign(data.raw()) else {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        };
        let pir = ProfileInstallationResult {
            profile_installation_result_data: data,
            euicc_sign_pir: signature.to_vec(),
        }
        .to_der();
        self.state.notifications.push(StoredNotification {
            seq_number,
            pending_notification: pir.clone(),
        });
        self.commit(Reply::Data(pir))
    }
}
