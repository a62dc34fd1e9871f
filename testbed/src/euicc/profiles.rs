//! ES10c local profile management (SGP.22 §5.7.15 to §5.7.21) and the ES10b notification
//! commands (§5.7.10 to §5.7.12), with the signed notifications enable, disable and delete
//! produce.

use lpa_core::der::{Certificate, Decode, Encode, Signed};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    ConfigureIsdpRequest, DeleteNotificationStatus, DeleteProfileRequest, DeleteProfileResponse,
    DeleteResult, DisableProfileRequest, DisableProfileResponse, DisableResult,
    EnableProfileRequest, EnableProfileResponse, EnableResult, EuiccMemoryResetRequest,
    EuiccMemoryResetResponse, ListNotificationRequest, ListNotificationResponse, NotificationEvent,
    NotificationMetadata, NotificationSearchCriteria, NotificationSentRequest,
    NotificationSentResponse, OtherSignedNotification, PendingNotification, PprIds, ProfileClass,
    ProfileIdentifier, ProfileInfo, ProfileInfoListError, ProfileInfoListRequest,
    ProfileInfoListResponse, ProfileSearchCriteria, ProfileState, ResetOptions, ResetResult,
    RetrieveNotificationsListError, RetrieveNotificationsListRequest,
    RetrieveNotificationsListResponse, SetNicknameRequest, SetNicknameResponse, SetNicknameResult,
    StoreMetadataRequest,
};

use super::apdu::{Reply, sw};
use super::es10::{Es10Core, data};
use super::state::{StoredNotification, StoredProfile};

/// Longest nickname (SGP.22 §5.7.21: `UTF8String (SIZE(0..64))`).
const MAX_NICKNAME: usize = 64;

/// Reads the tags of a tagList (`5C`): a concatenation of BER tags.
fn parse_tag_list(list: &[u8]) -> Option<Vec<u32>> {
    let mut tags = Vec::new();
    let mut iter = list.iter();
    while let Some(&first) = iter.next() {
        let mut tag = u32::from(first);
        if first & 0x1F == 0x1F {
            let mut bytes = 1;
            loop {
                let &b = iter.next()?;
                tag = (tag << 8) | u32::from(b);
                bytes += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if bytes >= 4 {
                    return None;
                }
            }
        }
        tags.push(tag);
    }
    Some(tags)
}

/// Which profile an identifier names.
enum Target<'a> {
    Aid(&'a [u8]),
    Iccid(&'a Iccid),
}

impl StoredProfile {
    fn metadata(&self) -> Option<StoreMetadataRequest> {
        StoreMetadataRequest::from_der(&self.metadata).ok()
    }

    fn class(&self) -> ProfileClass {
        self.metadata()
            .map(|m| m.profile_class)
            .unwrap_or(ProfileClass::Operational)
    }

    fn policy_forbids(&self, ppr: usize) -> bool {
        self.metadata()
            .and_then(|m| m.profile_policy_rules)
            .is_some_and(|rules| rules.contains(ppr))
    }

    fn matches(&self, target: &Target<'_>) -> bool {
        match target {
            Target::Aid(aid) => self.isdp_aid == *aid,
            Target::Iccid(iccid) => self.iccid == iccid.as_bytes(),
        }
    }

    /// The full ProfileInfo (SGP.22 §5.7.15).
    fn info(&self) -> ProfileInfo {
        let metadata = self.metadata();
        let dp_proprietary_data = ConfigureIsdpRequest::from_der(&self.configure_isdp)
            .ok()
            .and_then(|c| c.dp_proprietary_data);
        ProfileInfo {
            iccid: Iccid::from_bcd(&self.iccid).ok(),
            isdp_aid: Some(self.isdp_aid.clone()),
            profile_state: Some(if self.enabled {
                ProfileState::Enabled
            } else {
                ProfileState::Disabled
            }),
            profile_nickname: self.nickname.clone(),
            service_provider_name: metadata.as_ref().map(|m| m.service_provider_name.clone()),
            profile_name: metadata.as_ref().map(|m| m.profile_name.clone()),
            icon_type: metadata.as_ref().and_then(|m| m.icon_type),
            icon: metadata.as_ref().and_then(|m| m.icon.clone()),
            profile_class: Some(self.class()),
            notification_configuration_info: metadata
                .as_ref()
                .and_then(|m| m.notification_configuration_info.clone()),
            profile_owner: metadata.as_ref().and_then(|m| m.profile_owner.clone()),
            dp_proprietary_data,
            profile_policy_rules: metadata.and_then(|m| m.profile_policy_rules),
            ref_ar_do: None,
        }
    }

    /// Where notifications of `event` for this profile go, if its
    /// notificationConfigurationInfo asks for them (SGP.22 §5.5.3, §3.2).
    fn notification_address(&self, event: NotificationEvent) -> Option<String> {
        self.metadata()?
            .notification_configuration_info?
            .into_iter()
            .find(|n| n.profile_management_operation.contains(event.bit()))
            .map(|n| n.notification_address)
    }
}

/// Keeps only the elements whose tag is in `tags`.
fn filter_info(info: ProfileInfo, tags: &[u32]) -> ProfileInfo {
    let keep = |tag: u32| tags.contains(&tag);
    ProfileInfo {
        iccid: info.iccid.filter(|_| keep(0x5A)),
        isdp_aid: info.isdp_aid.filter(|_| keep(0x4F)),
        profile_state: info.profile_state.filter(|_| keep(0x9F70)),
        profile_nickname: info.profile_nickname.filter(|_| keep(0x90)),
        service_provider_name: info.service_provider_name.filter(|_| keep(0x91)),
        profile_name: info.profile_name.filter(|_| keep(0x92)),
        icon_type: info.icon_type.filter(|_| keep(0x93)),
        icon: info.icon.filter(|_| keep(0x94)),
        profile_class: info.profile_class.filter(|_| keep(0x95)),
        notification_configuration_info: info
            .notification_configuration_info
            .filter(|_| keep(0xB6)),
        profile_owner: info.profile_owner.filter(|_| keep(0xB7)),
        dp_proprietary_data: info.dp_proprietary_data.filter(|_| keep(0xB8)),
        profile_policy_rules: info.profile_policy_rules.filter(|_| keep(0x99)),
        ref_ar_do: info.ref_ar_do.filter(|_| keep(0xBF76)),
    }
}

impl Es10Core {
    /// The installed profile with this ICCID.
    pub fn find_by_iccid(&self, iccid: &Iccid) -> Option<usize> {
        self.state
            .profiles
            .iter()
            .position(|p| p.iccid == iccid.as_bytes())
    }

    fn find(&self, target: &Target<'_>) -> Option<usize> {
        self.state.profiles.iter().position(|p| p.matches(target))
    }

    /// GetProfilesInfo (SGP.22 §5.7.15).
    pub fn get_profiles_info(&self, request: ProfileInfoListRequest) -> Reply {
        let tags = match &request.tag_list {
            Some(list) => match parse_tag_list(list) {
                Some(tags) => Some(tags),
                None => {
                    return data(&ProfileInfoListResponse::Error(
                        ProfileInfoListError::IncorrectInputValues,
                    ));
                }
            },
            None => None,
        };
        let list = self
            .state
            .profiles
            .iter()
            .filter(|p| match &request.search_criteria {
                None => true,
                Some(ProfileSearchCriteria::IsdpAid(aid)) => p.isdp_aid == *aid,
                Some(ProfileSearchCriteria::Iccid(iccid)) => p.iccid == iccid.as_bytes(),
                Some(ProfileSearchCriteria::ProfileClass(class)) => p.class() == *class,
            })
            .map(|p| match &tags {
                Some(tags) => filter_info(p.info(), tags),
                None => p.info(),
            })
            .collect();
        data(&ProfileInfoListResponse::Ok(list))
    }

    /// EnableProfile (SGP.22 §5.7.16): the target must be disabled, and the enabled profile
    /// (which gets disabled) must not forbid disabling (PPR1).
    pub fn enable_profile(&mut self, request: EnableProfileRequest) -> Reply {
        let respond = |enable_result| data(&EnableProfileResponse { enable_result });
        let target = match &request.profile_identifier {
            ProfileIdentifier::IsdpAid(aid) => Target::Aid(aid),
            ProfileIdentifier::Iccid(iccid) => Target::Iccid(iccid),
        };
        let Some(index) = self.find(&target) else {
            return respond(EnableResult::IccidOrAidNotFound);
        };
        if self.state.profiles.get(index).is_none_or(|p| p.enabled) {
            return respond(EnableResult::ProfileNotInDisabledState);
        }
        let current = self.state.profiles.iter().position(|p| p.enabled);
        if let Some(current) = current
            && self
                .state
                .profiles
                .get(current)
                .is_some_and(|p| p.policy_forbids(PprIds::PPR1))
        {
            return respond(EnableResult::DisallowedByPolicy);
        }
        if let Some(current) = current {
            if let Some(p) = self.state.profiles.get_mut(current) {
                p.enabled = false;
            }
            if self.notify(current, NotificationEvent::Disable).is_err() {
                return Reply::Status(sw::TECHNICAL_PROBLEM);
            }
        }
        if let Some(p) = self.state.profiles.get_mut(index) {
            p.enabled = true;
        }
        if self.notify(index, NotificationEvent::Enable).is_err() {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        }
        self.commit(respond(EnableResult::Ok))
    }

    /// DisableProfile (SGP.22 §5.7.17): the target must be enabled and not protected by PPR1.
    pub fn disable_profile(&mut self, request: DisableProfileRequest) -> Reply {
        let respond = |disable_result| data(&DisableProfileResponse { disable_result });
        let target = match &request.profile_identifier {
            ProfileIdentifier::IsdpAid(aid) => Target::Aid(aid),
            ProfileIdentifier::Iccid(iccid) => Target::Iccid(iccid),
        };
        let Some(index) = self.find(&target) else {
            return respond(DisableResult::IccidOrAidNotFound);
        };
        let Some(profile) = self.state.profiles.get_mut(index) else {
            return respond(DisableResult::IccidOrAidNotFound);
        };
        if !profile.enabled {
            return respond(DisableResult::ProfileNotInEnabledState);
        }
        if profile.policy_forbids(PprIds::PPR1) {
            return respond(DisableResult::DisallowedByPolicy);
        }
        profile.enabled = false;
        if self.notify(index, NotificationEvent::Disable).is_err() {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        }
        self.commit(respond(DisableResult::Ok))
    }

    /// DeleteProfile (SGP.22 §5.7.18): the target must be disabled and not protected by PPR2.
    pub fn delete_profile(&mut self, request: DeleteProfileRequest) -> Reply {
        let respond = |delete_result| data(&DeleteProfileResponse { delete_result });
        let target = match &request {
            DeleteProfileRequest::IsdpAid(aid) => Target::Aid(aid),
            DeleteProfileRequest::Iccid(iccid) => Target::Iccid(iccid),
        };
        let Some(index) = self.find(&target) else {
            return respond(DeleteResult::IccidOrAidNotFound);
        };
        let Some(profile) = self.state.profiles.get(index) else {
            return respond(DeleteResult::IccidOrAidNotFound);
        };
        if profile.enabled {
            return respond(DeleteResult::ProfileNotInDisabledState);
        }
        if profile.policy_forbids(PprIds::PPR2) {
            return respond(DeleteResult::DisallowedByPolicy);
        }
        // The notification names the profile, so it is made before the profile goes.
        if self.notify(index, NotificationEvent::Delete).is_err() {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        }
        self.state.profiles.remove(index);
        self.commit(respond(DeleteResult::Ok))
    }

    /// SetNickname (SGP.22 §5.7.21).
    pub fn set_nickname(&mut self, request: SetNicknameRequest) -> Reply {
        let respond = |set_nickname_result| {
            data(&SetNicknameResponse {
                set_nickname_result,
            })
        };
        if request.profile_nickname.len() > MAX_NICKNAME {
            return respond(SetNicknameResult::UndefinedError);
        }
        let Some(index) = self.find_by_iccid(&request.iccid) else {
            return respond(SetNicknameResult::IccidNotFound);
        };
        if let Some(p) = self.state.profiles.get_mut(index) {
            p.nickname = Some(request.profile_nickname);
        }
        self.commit(respond(SetNicknameResult::Ok))
    }

    /// eUICCMemoryReset (SGP.22 §5.7.19): deletes operational and/or test profiles
    /// regardless of their policy rules, and/or restores the default SM-DP+ address. No
    /// notifications are generated; nothingToDelete when nothing was there to reset.
    pub fn memory_reset(&mut self, request: EuiccMemoryResetRequest) -> Reply {
        let options = &request.reset_options;
        let delete_operational = options.contains(ResetOptions::DELETE_OPERATIONAL_PROFILES);
        let delete_test = options.contains(ResetOptions::DELETE_FIELD_LOADED_TEST_PROFILES);
        let before = self.state.profiles.len();
        self.state.profiles.retain(|p| match p.class() {
            ProfileClass::Operational => !delete_operational,
            ProfileClass::Test => !delete_test,
            _ => true,
        });
        let mut changed = self.state.profiles.len() != before;
        if options.contains(ResetOptions::RESET_DEFAULT_SMDP_ADDRESS) {
            changed |= self.state.default_dp_address != self.config.default_dp_address;
            self.state.default_dp_address = self.config.default_dp_address.clone();
        }
        let reset_result = if changed {
            ResetResult::Ok
        } else {
            ResetResult::NothingToDelete
        };
        self.commit(data(&EuiccMemoryResetResponse { reset_result }))
    }

    /// Makes and stores the signed notification of `event` for profile `index`, when the
    /// profile's notificationConfigurationInfo asks for one.
    fn notify(&mut self, index: usize, event: NotificationEvent) -> Result<(), ()> {
        let Some(profile) = self.state.profiles.get(index) else {
            return Ok(());
        };
        let Some(address) = profile.notification_address(event) else {
            return Ok(());
        };
        let iccid = Iccid::from_bcd(&profile.iccid).ok();
        let seq_number = self.state.take_seq_number();
        let tbs = Signed::new(NotificationMetadata {
            seq_number,
            profile_management_operation: event,
            notification_address: address,
            iccid,
        });
        let signature = self.identity.euicc.key.sign(tbs.raw()).map_err(|_| ())?;
        let euicc_certificate =
            Certificate::from_der(self.identity.euicc.certificate.clone()).map_err(|_| ())?;
        let eum_certificate =
            Certificate::from_der(self.identity.eum_certificate.clone()).map_err(|_| ())?;
        let notification = OtherSignedNotification {
            tbs_other_notification: tbs,
            euicc_notification_signature: signature.to_vec(),
            euicc_certificate,
            eum_certificate,
        };
        self.state.notifications.push(StoredNotification {
            seq_number,
            pending_notification: notification.to_der(),
        });
        Ok(())
    }

    fn pending(&self) -> Vec<(u32, PendingNotification)> {
        self.state
            .notifications
            .iter()
            .filter_map(|n| {
                PendingNotification::from_der(&n.pending_notification)
                    .ok()
                    .map(|p| (n.seq_number, p))
            })
            .collect()
    }

    /// ListNotification (SGP.22 §5.7.10), optionally of one operation.
    pub fn list_notification(&self, request: ListNotificationRequest) -> Reply {
        let list = self
            .pending()
            .into_iter()
            .map(|(_, p)| p.metadata().clone())
            .filter(|m| {
                request
                    .profile_management_operation
                    .is_none_or(|op| m.profile_management_operation == op)
            })
            .collect();
        data(&ListNotificationResponse::Ok(list))
    }

    /// RetrieveNotificationsList (SGP.22 §5.7.11): all, one by sequence number, or those of
    /// one operation; noResultAvailable when a search matches nothing.
    pub fn retrieve_notifications(&self, request: RetrieveNotificationsListRequest) -> Reply {
        let list: Vec<PendingNotification> = self
            .pending()
            .into_iter()
            .filter(|(seq, p)| match &request.search_criteria {
                None => true,
                Some(NotificationSearchCriteria::SeqNumber(n)) => seq == n,
                Some(NotificationSearchCriteria::ProfileManagementOperation(op)) => {
                    p.metadata().profile_management_operation == *op
                }
            })
            .map(|(_, p)| p)
            .collect();
        if list.is_empty() && request.search_criteria.is_some() {
            return data(&RetrieveNotificationsListResponse::Error(
                RetrieveNotificationsListError::NoResultAvailable,
            ));
        }
        data(&RetrieveNotificationsListResponse::Ok(list))
    }

    /// NotificationSent / RemoveNotificationFromList (SGP.22 §5.7.12).
    pub fn notification_sent(&mut self, request: NotificationSentRequest) -> Reply {
        let before = self.state.notifications.len();
        self.state
            .notifications
            .retain(|n| n.seq_number != request.seq_number);
        if self.state.notifications.len() == before {
            return data(&NotificationSentResponse {
                delete_notification_status: DeleteNotificationStatus::NothingToDelete,
            });
        }
        self.commit(data(&NotificationSentResponse {
            delete_notification_status: DeleteNotificationStatus::Ok,
        }))
    }
}
