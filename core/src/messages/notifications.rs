//! ES10b notification handling (SGP.22 §5.7.10 ListNotification, §5.7.11
//! RetrieveNotificationsList, §5.7.12 RemoveNotificationFromList) and the PendingNotification
//! the LPA forwards to `handleNotification` (§5.6.4).

use alloc::string::String;
use alloc::vec::Vec;

use super::bpp::ProfileInstallationResult;
use super::common::NotificationEvent;
use crate::der::{Certificate, Signed, der_choice, der_int_enum, der_sequence};
use crate::ids::Iccid;

der_sequence! {
    /// `NotificationMetadata` (tag `BF2F`).
    pub struct NotificationMetadata: 0xBF2F {
        /// The card's sequence number, the handle for removal.
        pub seq_number: u32 => req implicit 0x80,
        /// The operation this notification reports.
        pub profile_management_operation: NotificationEvent => req implicit 0x81,
        /// Where to send it. Servers have been seen with stray spaces here: trim before use.
        pub notification_address: String => req natural,
        /// The profile concerned.
        pub iccid: Iccid => opt natural,
    }
}

der_sequence! {
    /// `ListNotificationRequest` (tag `BF28`).
    pub struct ListNotificationRequest: 0xBF28 {
        /// Only notifications of this operation, when given.
        pub profile_management_operation: NotificationEvent => opt implicit 0x81,
    }
}

der_int_enum! {
    /// listNotificationsResultError.
    pub enum ListNotificationError {
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `ListNotificationResponse` (tag `BF28`).
    pub enum ListNotificationResponse: explicit(0xBF28) {
        /// notificationMetadataList (`A0`).
        Ok(NotificationMetadata) => seq_of 0xA0,
        /// listNotificationsResultError (`81`).
        Error(ListNotificationError) => implicit 0x81,
    }
}

der_choice! {
    /// The searchCriteria of RetrieveNotificationsListRequest.
    pub enum NotificationSearchCriteria {
        /// One notification by sequence number (`80`).
        SeqNumber(u32) => implicit 0x80,
        /// All notifications of one operation (`81`).
        ProfileManagementOperation(NotificationEvent) => implicit 0x81,
    }
}

der_sequence! {
    /// `RetrieveNotificationsListRequest` (tag `BF2B`).
    pub struct RetrieveNotificationsListRequest: 0xBF2B {
        /// Which notifications; all when absent.
        pub search_criteria: NotificationSearchCriteria => opt explicit 0xA0,
    }
}

der_sequence! {
    /// `OtherSignedNotification`: an enable/disable/delete notification.
    pub struct OtherSignedNotification: 0x30 {
        /// The signed metadata, exactly as the eUICC produced it.
        pub tbs_other_notification: Signed<NotificationMetadata> => req natural,
        /// euiccNotificationSignature (`5F37`).
        pub euicc_notification_signature: Vec<u8> => req implicit 0x5F37,
        /// CERT.EUICC.ECDSA.
        pub euicc_certificate: Certificate => req natural,
        /// CERT.EUM.ECDSA.
        pub eum_certificate: Certificate => req natural,
    }
}

der_choice! {
    /// `PendingNotification`: what `handleNotification` carries, byte for byte as the eUICC
    /// produced it (both alternatives keep their received encoding, see [`Signed`]).
    pub enum PendingNotification {
        /// profileInstallationResult (`BF37`).
        ProfileInstallationResult(Signed<ProfileInstallationResult>) => natural,
        /// otherSignedNotification (`30`).
        OtherSignedNotification(Signed<OtherSignedNotification>) => natural,
    }
}

impl PendingNotification {
    /// The metadata: sequence number, operation, address and ICCID.
    pub fn metadata(&self) -> &NotificationMetadata {
        match self {
            PendingNotification::ProfileInstallationResult(p) => {
                &p.value()
                    .profile_installation_result_data
                    .value()
                    .notification_metadata
            }
            PendingNotification::OtherSignedNotification(o) => {
                o.value().tbs_other_notification.value()
            }
        }
    }
}

der_int_enum! {
    /// notificationsListResultError.
    pub enum RetrieveNotificationsListError {
        /// noResultAvailable.
        NoResultAvailable = 1 => "noResultAvailable",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `RetrieveNotificationsListResponse` (tag `BF2B`).
    pub enum RetrieveNotificationsListResponse: explicit(0xBF2B) {
        /// notificationList (`A0`).
        Ok(PendingNotification) => seq_of 0xA0,
        /// notificationsListResultError (`81`).
        Error(RetrieveNotificationsListError) => implicit 0x81,
    }
}

der_sequence! {
    /// `NotificationSentRequest` (tag `BF30`), the ES10b RemoveNotificationFromList call.
    pub struct NotificationSentRequest: 0xBF30 {
        /// The notification the server acknowledged.
        pub seq_number: u32 => req implicit 0x80,
    }
}

der_int_enum! {
    /// deleteNotificationStatus.
    pub enum DeleteNotificationStatus {
        /// ok.
        Ok = 0 => "ok",
        /// nothingToDelete.
        NothingToDelete = 1 => "nothingToDelete",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `NotificationSentResponse` (tag `BF30`).
    pub struct NotificationSentResponse: 0xBF30 {
        /// Result.
        pub delete_notification_status: DeleteNotificationStatus => req implicit 0x80,
    }
}
