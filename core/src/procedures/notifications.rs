//! Notification delivery (SGP.22 §3.5): pending notifications from the eUICC to the servers
//! they name, removed from the card only once a server accepted them.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::common::{
    Pending, card_answer, card_failure, card_unreachable, server_answer, server_failure,
    server_request,
};
use super::download::Installation;
use super::error::{ApiMisuse, CardRefusal, Fault};
use super::{
    Awaiting, Es10Command, Input, Procedure, ProcedureError, ServerFunction, ServerRequest, Step,
};
use crate::der::Encode;
use crate::es9::{self, EmptyBody, Es9Function};
use crate::ids::Iccid;
use crate::messages::{
    DeleteNotificationStatus, ListNotificationRequest, ListNotificationResponse, NotificationEvent,
    NotificationMetadata, NotificationSearchCriteria, NotificationSentRequest,
    NotificationSentResponse, RetrieveNotificationsListError, RetrieveNotificationsListRequest,
    RetrieveNotificationsListResponse,
};

/// Which notifications to deliver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// Only these sequence numbers; all when `None`.
    pub seq_numbers: Option<Vec<u32>>,
    /// Only these operations; all when `None`.
    pub operations: Option<Vec<NotificationEvent>>,
}

impl NotificationFilter {
    /// Every pending notification.
    pub fn all() -> Self {
        NotificationFilter::default()
    }

    /// Only the notifications with these sequence numbers.
    pub fn seq_numbers(seq_numbers: impl IntoIterator<Item = u32>) -> Self {
        NotificationFilter {
            seq_numbers: Some(seq_numbers.into_iter().collect()),
            operations: None,
        }
    }

    /// Only the notifications of these operations.
    pub fn operations(operations: impl IntoIterator<Item = NotificationEvent>) -> Self {
        NotificationFilter {
            seq_numbers: None,
            operations: Some(operations.into_iter().collect()),
        }
    }

    /// Whether the notification described by `metadata` passes.
    pub fn matches(&self, metadata: &NotificationMetadata) -> bool {
        self.seq_numbers
            .as_ref()
            .is_none_or(|s| s.contains(&metadata.seq_number))
            && self
                .operations
                .as_ref()
                .is_none_or(|o| o.contains(&metadata.profile_management_operation))
    }
}

/// What happened to one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationResult {
    /// The card's sequence number.
    pub seq_number: u32,
    /// The operation it reports.
    pub operation: NotificationEvent,
    /// The server it was for, trimmed.
    pub address: String,
    /// The profile concerned, when the card said.
    pub iccid: Option<Iccid>,
    /// The outcome.
    pub outcome: DeliveryOutcome,
}

/// The outcome of delivering one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The server accepted it and it was removed from the card.
    Delivered,
    /// The server accepted it but the card did not remove it; the next delivery sends it again
    /// (servers accept a notification sent twice).
    DeliveredNotRemoved(Fault),
    /// Not delivered: it stays on the card. When the card was lost during the procedure, the
    /// notification being retrieved and every one not yet tried carry that loss
    /// ([`Fault::TransportFailed`], see [`DeliveryReport::card_lost`]).
    NotDelivered(Fault),
}

impl DeliveryOutcome {
    /// Whether the server accepted the notification.
    pub fn is_delivered(&self) -> bool {
        !matches!(self, DeliveryOutcome::NotDelivered(_))
    }

    /// Whether delivering it again later may succeed (the server or the card could not be
    /// reached, or had a passing problem); a refusal by the server is not worth repeating soon.
    pub fn is_worth_retrying(&self) -> bool {
        match self {
            DeliveryOutcome::NotDelivered(fault) => fault.is_transient(),
            _ => false,
        }
    }

    /// What went wrong, unless it was delivered and removed.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            DeliveryOutcome::Delivered => None,
            DeliveryOutcome::DeliveredNotRemoved(fault) | DeliveryOutcome::NotDelivered(fault) => {
                Some(fault)
            }
        }
    }
}

/// What a [`NotificationDelivery`] did, notification by notification, in the card's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// One entry per notification that passed the filter.
    pub notifications: Vec<NotificationResult>,
}

impl DeliveryReport {
    /// The notifications the servers accepted.
    pub fn delivered(&self) -> impl Iterator<Item = &NotificationResult> {
        self.notifications
            .iter()
            .filter(|n| n.outcome.is_delivered())
    }

    /// The notifications still on the card, undelivered.
    pub fn failed(&self) -> impl Iterator<Item = &NotificationResult> {
        self.notifications
            .iter()
            .filter(|n| !n.outcome.is_delivered())
    }

    /// Whether every notification was delivered.
    pub fn all_delivered(&self) -> bool {
        self.failed().next().is_none()
    }

    /// Why the procedure stopped early, when the card could not be reached any more
    /// ([`Fault::TransportFailed`], transient): the notifications from the one in progress on
    /// are in the report with that fault, not delivered (or, when the server had accepted the
    /// one in progress, delivered but not removed). Deliver again once the card is back.
    pub fn card_lost(&self) -> Option<&Fault> {
        self.notifications
            .iter()
            .filter_map(|n| n.outcome.fault())
            .find(|fault| card_unreachable(fault))
    }
}

/// Notification delivery (SGP.22 §3.5) as a sans-IO machine; drive it as the
/// [module documentation](super) shows.
///
/// For each pending notification that passes the filter, in the card's order:
/// RetrieveNotificationsList for its sequence number, ES9+ handleNotification to its address
/// (trimmed: cards have been seen with stray spaces there), and only once the server accepted
/// it, RemoveNotificationFromList. A notification that fails stays on the card and the next
/// one is tried; the [`DeliveryReport`] says which failed and whether retrying is worthwhile
/// (timing retries is the driver's). Only a card that cannot list its notifications (refused,
/// garbled, or unreachable for ListNotification) ends the procedure with an error. A card lost
/// later ends it with the report so far: the notification in progress and every one not yet
/// tried are in it with the card's [`Fault::TransportFailed`] ([`DeliveryReport::card_lost`]),
/// so none goes missing from the report.
///
/// The states, named after what each expects next:
///
/// | state | sends |
/// |---|---|
/// | `ExpectNotificationList` | ES10b ListNotification |
/// | `ExpectPendingNotification` | ES10b RetrieveNotificationsList (one sequence number) |
/// | `ExpectHandleNotification` | ES9+ handleNotification |
/// | `ExpectNotificationSent` | ES10b RemoveNotificationFromList |
/// | `Done` | [`DeliveryReport`] or [`ProcedureError`] |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationDelivery {
    state: State,
}

impl NotificationDelivery {
    /// Delivers the pending notifications `filter` lets through.
    pub fn new(filter: NotificationFilter) -> Self {
        let operation = match filter.operations.as_deref() {
            // One operation: let the card filter (ListNotificationRequest).
            Some([operation]) => Some(*operation),
            _ => None,
        };
        NotificationDelivery {
            state: State::ExpectNotificationList(ExpectNotificationList {
                filter,
                request: Pending::card(
                    Es10Command::ListNotification,
                    &ListNotificationRequest {
                        profile_management_operation: operation,
                    },
                ),
            }),
        }
    }

    /// Delivers every pending notification.
    pub fn all() -> Self {
        NotificationDelivery::new(NotificationFilter::all())
    }

    /// Delivers the install notification of a finished download.
    pub fn for_installation(installation: &Installation) -> Self {
        NotificationDelivery::new(NotificationFilter::seq_numbers([installation.seq_number]))
    }
}

impl Procedure for NotificationDelivery {
    type Output = DeliveryReport;

    fn poll(&self) -> Step<DeliveryReport> {
        match &self.state {
            State::ExpectNotificationList(s) => s.request.step(),
            State::ExpectPendingNotification(s) => s.request.step(),
            State::ExpectHandleNotification(s) => Step::Server(s.request.clone()),
            State::ExpectNotificationSent(s) => s.request.step(),
            State::Done(result) => Step::Done(result.clone()),
        }
    }

    fn awaiting(&self) -> Awaiting {
        match &self.state {
            State::ExpectNotificationList(s) => s.request.awaiting(),
            State::ExpectPendingNotification(s) => s.request.awaiting(),
            State::ExpectHandleNotification(s) => Awaiting::Server(s.request.function),
            State::ExpectNotificationSent(s) => s.request.awaiting(),
            State::Done(_) => Awaiting::Nothing,
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), ApiMisuse> {
        let awaiting = self.awaiting();
        if !awaiting.accepts(&input) {
            return Err(ApiMisuse::new(input.kind(), awaiting));
        }
        let state = core::mem::replace(&mut self.state, State::Done(Ok(DeliveryReport::default())));
        self.state = match state {
            State::ExpectNotificationList(s) => s.handle(input),
            State::ExpectPendingNotification(s) => s.handle(input),
            State::ExpectHandleNotification(s) => s.handle(input),
            State::ExpectNotificationSent(s) => s.handle(input),
            done @ State::Done(_) => done,
        };
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    ExpectNotificationList(ExpectNotificationList),
    ExpectPendingNotification(ExpectPendingNotification),
    ExpectHandleNotification(ExpectHandleNotification),
    ExpectNotificationSent(ExpectNotificationSent),
    Done(Result<DeliveryReport, ProcedureError>),
}

fn failed(fault: Fault) -> State {
    State::Done(Err(ProcedureError::new(fault)))
}

/// The notifications still to do and what was done so far.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Progress {
    queue: VecDeque<NotificationMetadata>,
    report: DeliveryReport,
}

impl Progress {
    /// Records the outcome of `current` and moves on.
    fn record(mut self, current: &NotificationMetadata, outcome: DeliveryOutcome) -> State {
        self.push(current, outcome);
        self.next()
    }

    /// The card was lost while `current` was in progress: it gets `outcome`, every notification
    /// still queued gets `fault` (not delivered), and the procedure ends with the report.
    fn card_lost(
        mut self,
        current: &NotificationMetadata,
        outcome: DeliveryOutcome,
        fault: &Fault,
    ) -> State {
        self.push(current, outcome);
        while let Some(untried) = self.queue.pop_front() {
            self.push(&untried, DeliveryOutcome::NotDelivered(fault.clone()));
        }
        State::Done(Ok(self.report))
    }

    fn push(&mut self, current: &NotificationMetadata, outcome: DeliveryOutcome) {
        self.report.notifications.push(NotificationResult {
            seq_number: current.seq_number,
            operation: current.profile_management_operation,
            address: current.notification_address.trim().into(),
            iccid: current.iccid,
            outcome,
        });
    }

    /// The next notification, or the report.
    fn next(mut self) -> State {
        match self.queue.pop_front() {
            Some(current) => {
                let request = Pending::card(
                    Es10Command::RetrieveNotificationsList,
                    &RetrieveNotificationsListRequest {
                        search_criteria: Some(NotificationSearchCriteria::SeqNumber(
                            current.seq_number,
                        )),
                    },
                );
                State::ExpectPendingNotification(ExpectPendingNotification {
                    progress: self,
                    current,
                    request,
                })
            }
            None => State::Done(Ok(self.report)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectNotificationList {
    filter: NotificationFilter,
    request: Pending,
}

impl ExpectNotificationList {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::ListNotification;
        match input {
            Input::Card(bytes) => match card_answer::<ListNotificationResponse>(command, &bytes) {
                Ok(ListNotificationResponse::Ok(list)) => Progress {
                    queue: list
                        .into_iter()
                        .filter(|m| self.filter.matches(m))
                        .collect(),
                    report: DeliveryReport::default(),
                }
                .next(),
                Ok(ListNotificationResponse::Error(code)) => {
                    failed(Fault::CardRefused(CardRefusal::ListNotification(code)))
                }
                Err(fault) => failed(fault),
            },
            Input::CardFailure(failure) => failed(card_failure(command, failure)),
            _ => State::ExpectNotificationList(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectPendingNotification {
    progress: Progress,
    current: NotificationMetadata,
    request: Pending,
}

impl ExpectPendingNotification {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::RetrieveNotificationsList;
        let not_delivered = |fault| DeliveryOutcome::NotDelivered(fault);
        let pending = match input {
            Input::Card(bytes) => {
                match card_answer::<RetrieveNotificationsListResponse>(command, &bytes) {
                    Ok(RetrieveNotificationsListResponse::Ok(list)) => list
                        .into_iter()
                        .find(|n| n.metadata().seq_number == self.current.seq_number)
                        .ok_or(Fault::CardRefused(CardRefusal::RetrieveNotificationsList(
                            RetrieveNotificationsListError::NoResultAvailable,
                        ))),
                    Ok(RetrieveNotificationsListResponse::Error(code)) => Err(Fault::CardRefused(
                        CardRefusal::RetrieveNotificationsList(code),
                    )),
                    Err(fault) => Err(fault),
                }
            }
            Input::CardFailure(failure) => match card_failure(command, failure) {
                fault if card_unreachable(&fault) => {
                    let outcome = DeliveryOutcome::NotDelivered(fault.clone());
                    return self.progress.card_lost(&self.current, outcome, &fault);
                }
                fault => Err(fault),
            },
            _ => return State::ExpectPendingNotification(self),
        };
        let request = pending.and_then(|pending| {
            server_request(
                &self.current.notification_address,
                ServerFunction::Es9(Es9Function::HandleNotification),
                &es9::HandleNotificationRequest {
                    // Forwarded exactly as the card produced it (`Signed` keeps the bytes).
                    pending_notification: pending.to_der(),
                },
            )
        });
        match request {
            Ok(request) => State::ExpectHandleNotification(ExpectHandleNotification {
                progress: self.progress,
                current: self.current,
                request,
            }),
            Err(fault) => self.progress.record(&self.current, not_delivered(fault)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectHandleNotification {
    progress: Progress,
    current: NotificationMetadata,
    request: ServerRequest,
}

impl ExpectHandleNotification {
    fn handle(self, input: Input) -> State {
        let outcome = match input {
            Input::Server { status, body } => {
                server_answer::<EmptyBody>(self.request.function, status, &body).map(|_| ())
            }
            Input::ServerFailure(failure) => Err(server_failure(&self.request, failure)),
            _ => return State::ExpectHandleNotification(self),
        };
        match outcome {
            Ok(()) => State::ExpectNotificationSent(ExpectNotificationSent {
                request: Pending::card(
                    Es10Command::RemoveNotificationFromList,
                    &NotificationSentRequest {
                        seq_number: self.current.seq_number,
                    },
                ),
                progress: self.progress,
                current: self.current,
            }),
            Err(fault) => self
                .progress
                .record(&self.current, DeliveryOutcome::NotDelivered(fault)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectNotificationSent {
    progress: Progress,
    current: NotificationMetadata,
    request: Pending,
}

impl ExpectNotificationSent {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::RemoveNotificationFromList;
        let outcome = match input {
            Input::Card(bytes) => match card_answer::<NotificationSentResponse>(command, &bytes) {
                // nothingToDelete: already gone, which is what was asked.
                Ok(NotificationSentResponse {
                    delete_notification_status:
                        DeleteNotificationStatus::Ok | DeleteNotificationStatus::NothingToDelete,
                }) => DeliveryOutcome::Delivered,
                Ok(NotificationSentResponse {
                    delete_notification_status: status,
                }) => DeliveryOutcome::DeliveredNotRemoved(Fault::CardRefused(
                    CardRefusal::RemoveNotificationFromList(status),
                )),
                Err(fault) => DeliveryOutcome::DeliveredNotRemoved(fault),
            },
            Input::CardFailure(failure) => match card_failure(command, failure) {
                // The server has it: delivered, not removed; the rest were not tried.
                fault if card_unreachable(&fault) => {
                    let outcome = DeliveryOutcome::DeliveredNotRemoved(fault.clone());
                    return self.progress.card_lost(&self.current, outcome, &fault);
                }
                fault => DeliveryOutcome::DeliveredNotRemoved(fault),
            },
            _ => return State::ExpectNotificationSent(self),
        };
        self.progress.record(&self.current, outcome)
    }
}
