//! The ISD-R behind the APDU front end: ES10 requests dispatched by tag (SGP.22 §5.7), the
//! information commands (EUICCInfo1/2, EID, challenge, addresses, RAT) and the state shared by
//! the download, profile and notification handlers.

use lpa_core::der::{Decode, Encode};
use lpa_core::messages::{
    EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse, EuiccInfo1, EuiccInfo2,
    GetEuiccChallengeRequest, GetEuiccChallengeResponse, GetEuiccDataRequest, GetEuiccDataResponse,
    GetEuiccInfo1Request, GetEuiccInfo2Request, GetRatRequest, GetRatResponse, RspCapability,
    SetDefaultDpAddressRequest, SetDefaultDpAddressResponse, SetDefaultDpAddressResult,
    UiccCapability, Version,
};
use lpa_core::tlv::{Tag, Tlv};

use super::apdu::{Es10Handler, Reply, sw};
use super::config::{EuiccConfig, EuiccIdentity};
use super::session::Session;
use super::state::CardState;

/// Tags of the STORE DATA sequences that continue a Bound Profile Package (SGP.22 §2.5.5).
const BPP_PART_TAGS: [u32; 6] = [0xA0, 0xA1, 0xA2, 0xA3, 0x86, 0x88];

/// The ES10 side of the card.
pub(crate) struct Es10Core {
    pub identity: EuiccIdentity,
    pub config: EuiccConfig,
    pub state: CardState,
    pub session: Session,
}

/// Reads a tag and a definite length at the start of `bytes` without requiring the value to
/// be complete (the first BPP command carries `BF36`'s header and only part of its value):
/// `(tag, value length, header length)`.
pub(crate) fn read_header(bytes: &[u8]) -> Option<(Tag, usize, usize)> {
    let first = *bytes.first()?;
    let mut tag = u32::from(first);
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
            if pos >= 4 {
                return None;
            }
        }
    }
    let l = *bytes.get(pos)?;
    pos += 1;
    let len = match l {
        0x00..=0x7F => usize::from(l),
        0x81..=0x84 => {
            let n = usize::from(l & 0x7F);
            let raw = bytes.get(pos..pos + n)?;
            pos += n;
            raw.iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        _ => return None,
    };
    Some((Tag(tag), len, pos))
}

/// Decodes a request, or answers `6A80` (incorrect data).
pub(crate) fn decode<T: Decode>(request: &[u8]) -> Result<T, Reply> {
    T::from_der(request).map_err(|_| Reply::Status(sw::WRONG_DATA))
}

/// Encodes a response.
pub(crate) fn data<T: Encode>(response: &T) -> Reply {
    Reply::Data(response.to_der())
}

/// Fresh random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Option<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).ok()?;
    Some(out)
}

impl Es10Handler for Es10Core {
    fn handle_es10(&mut self, request: &[u8]) -> Reply {
        let Some((tag, _, _)) = read_header(request) else {
            return Reply::Status(sw::WRONG_DATA);
        };
        if tag == Tag(0xBF36) || BPP_PART_TAGS.contains(&tag.0) {
            return self.load_bound_profile_package(tag, request);
        }
        // Any other command ends a Bound Profile Package load half way, except CancelSession,
        // which ends it on purpose (and signs for the SM-DP+).
        if tag != Tag(0xBF41) {
            self.interrupt_load();
        }
        if Tlv::parse(request).is_err() {
            return Reply::Status(sw::WRONG_DATA);
        }
        let result = match tag.0 {
            0xBF20 => decode::<GetEuiccInfo1Request>(request).map(|_| data(&self.euicc_info1())),
            0xBF22 => decode::<GetEuiccInfo2Request>(request).map(|_| data(&self.euicc_info2())),
            0xBF3E => decode::<GetEuiccDataRequest>(request).and_then(|r| self.get_euicc_data(&r)),
            0xBF2E => decode::<GetEuiccChallengeRequest>(request).and_then(|_| self.challenge()),
            0xBF38 => decode(request).map(|r| self.authenticate_server(r)),
            0xBF21 => decode(request).map(|r| self.prepare_download(r)),
            0xBF41 => decode(request).map(|r| self.cancel_session(r)),
            0xBF2D => decode(request).map(|r| self.get_profiles_info(r)),
            0xBF31 => decode(request).map(|r| self.enable_profile(r)),
            0xBF32 => decode(request).map(|r| self.disable_profile(r)),
            0xBF33 => decode(request).map(|r| self.delete_profile(r)),
            0xBF29 => decode(request).map(|r| self.set_nickname(r)),
            0xBF34 => decode(request).map(|r| self.memory_reset(r)),
            0xBF28 => decode(request).map(|r| self.list_notification(r)),
            0xBF2B => decode(request).map(|r| self.retrieve_notifications(r)),
            0xBF30 => decode(request).map(|r| self.notification_sent(r)),
            0xBF3C => decode::<EuiccConfiguredAddressesRequest>(request)
                .map(|_| data(&self.configured_addresses())),
            0xBF3F => decode(request).map(|r| self.set_default_dp_address(r)),
            0xBF43 => decode::<GetRatRequest>(request).map(|_| {
                data(&GetRatResponse {
                    rat: self.config.rules_authorisation_table.clone(),
                })
            }),
            0xBF35 => decode(request).map(|r| self.load_crl(r)),
            // A tag this ISD-R does not implement.
            _ => Err(Reply::Status(sw::REFERENCED_DATA_NOT_FOUND)),
        };
        result.unwrap_or_else(|reply| reply)
    }
}

impl Es10Core {
    /// Writes the state file, if there is one. `false` when it could not be written: the
    /// command is then answered `6581` (memory problem).
    pub fn persist(&self) -> bool {
        match &self.config.state_path {
            Some(path) => self.state.save(path).is_ok(),
            None => true,
        }
    }

    /// [`Es10Core::persist`], then `reply`, or `6581`.
    pub fn commit(&self, reply: Reply) -> Reply {
        if self.persist() {
            reply
        } else {
            Reply::Status(sw::MEMORY_FAILURE)
        }
    }

    /// EUICCInfo1 (SGP.22 §5.7.8).
    pub fn euicc_info1(&self) -> EuiccInfo1 {
        EuiccInfo1 {
            svn: self.config.svn,
            euicc_ci_pkid_list_for_verification: self.identity.verification_ci_pkids(),
            euicc_ci_pkid_list_for_signing: vec![self.identity.signing_ci_pkid.clone()],
        }
    }

    /// EUICCInfo2 (SGP.22 §5.7.9).
    pub fn euicc_info2(&self) -> EuiccInfo2 {
        let installed = u8::try_from(self.state.profiles.len()).unwrap_or(u8::MAX);
        let free_profiles = self
            .config
            .max_profiles
            .saturating_sub(self.state.profiles.len());
        // 64 KiB of non-volatile memory per free profile slot, 8 KiB of RAM.
        let free_nvm = u32::try_from(free_profiles.saturating_mul(0x1_0000)).unwrap_or(u32::MAX);
        let mut ext_card_resource = vec![0x81, 0x01, installed, 0x82, 0x04];
        ext_card_resource.extend_from_slice(&free_nvm.to_be_bytes());
        ext_card_resource.extend_from_slice(&[0x83, 0x02, 0x20, 0x00]);
        let mut rsp = vec![RspCapability::CRL_SUPPORT];
        if free_profiles > 0 {
            rsp.push(RspCapability::ADDITIONAL_PROFILE);
        }
        if self
            .config
            .supported_profile_classes
            .contains(&lpa_core::messages::ProfileClass::Test)
        {
            rsp.push(RspCapability::TEST_PROFILE_SUPPORT);
        }
        EuiccInfo2 {
            profile_version: self.config.profile_version,
            svn: self.config.svn,
            euicc_firmware_ver: self.config.euicc_firmware_version,
            ext_card_resource,
            uicc_capability: UiccCapability::from_bits(&[
                UiccCapability::USIM,
                UiccCapability::ISIM,
                UiccCapability::AKA_MILENAGE,
                UiccCapability::JAVACARD,
                UiccCapability::MULTIPLE_USIM,
                UiccCapability::BER_TLV_FILE,
                UiccCapability::GET_IDENTITY,
                UiccCapability::PROFILE_A_X25519,
                UiccCapability::PROFILE_B_P256,
            ]),
            ts102241_version: Some(Version::new(15, 1, 0)),
            globalplatform_version: Some(Version::new(2, 3, 1)),
            rsp_capability: RspCapability::from_bits(&rsp),
            euicc_ci_pkid_list_for_verification: self.identity.verification_ci_pkids(),
            euicc_ci_pkid_list_for_signing: vec![self.identity.signing_ci_pkid.clone()],
            euicc_category: Some(lpa_core::messages::EuiccCategory::Other),
            forbidden_profile_policy_rules: self.config.forbidden_profile_policy_rules.clone(),
            pp_version: Version::new(1, 0, 0),
            sas_accreditation_number: self.config.sas_accreditation_number.clone(),
            certification_data_object: None,
            tre_properties: None,
            tre_product_reference: None,
            additional_euicc_profile_package_versions: None,
        }
    }

    /// GetEuiccData (SGP.22 §5.7.20): only the EID (tagList `5A`) exists.
    fn get_euicc_data(&self, request: &GetEuiccDataRequest) -> Result<Reply, Reply> {
        if request.tag_list != [0x5A] {
            return Err(Reply::Status(sw::WRONG_DATA));
        }
        Ok(data(&GetEuiccDataResponse {
            eid_value: self.identity.eid,
        }))
    }

    /// GetEuiccChallenge (SGP.22 §5.7.7): a fresh challenge starts a new RSP session.
    fn challenge(&mut self) -> Result<Reply, Reply> {
        let challenge = random::<16>().ok_or(Reply::Status(sw::TECHNICAL_PROBLEM))?;
        self.session = Session::Challenged {
            challenge: challenge.to_vec(),
        };
        Ok(data(&GetEuiccChallengeResponse {
            euicc_challenge: challenge.to_vec(),
        }))
    }

    /// GetEuiccConfiguredAddresses (SGP.22 §5.7.3).
    fn configured_addresses(&self) -> EuiccConfiguredAddressesResponse {
        EuiccConfiguredAddressesResponse {
            default_dp_address: self.state.default_dp_address.clone(),
            root_ds_address: self.config.root_ds_address.clone(),
        }
    }

    /// SetDefaultDpAddress (SGP.22 §5.7.4): an empty address removes it.
    fn set_default_dp_address(&mut self, request: SetDefaultDpAddressRequest) -> Reply {
        let address = request.default_dp_address;
        self.state.default_dp_address = if address.is_empty() {
            None
        } else {
            Some(address)
        };
        self.commit(data(&SetDefaultDpAddressResponse {
            set_default_dp_address_result: SetDefaultDpAddressResult::Ok,
        }))
    }
}
