//! Profile Policy Rules (SGP.22 §2.9), checked by the LPA before it asks the card.
//!
//! The eUICC enforces the rules itself; checking them first lets the LPA explain a refusal
//! before anything is sent, and decide at download time whether a profile may be installed at
//! all and whether the user has to consent to its rules (SGP.22 §2.9.2.2, §3.1.3.2).
//!
//! - PPR1, "disabling of this profile is not allowed": stops DisableProfile on it, and
//!   EnableProfile of another profile while it is the enabled one (enabling implies disabling
//!   the current profile).
//! - PPR2, "deletion of this profile is not allowed": stops DeleteProfile.
//! - At installation, every PPR a profile carries must be allowed: not in the eUICC's
//!   forbiddenProfilePolicyRules (EUICCInfo2), and authorised for the profile owner by the
//!   Rules Authorisation Table (GetRAT); the authorising rule may require the user's consent.
//!   A profile that fails this is refused with CancelSession reason pprNotAllowed.
//!
//! eUICCMemoryReset deletes profiles regardless of their rules and is not checked here.

use lpa_core::messages::{
    OperatorId, PprFlags, PprIds, ProfileIdentifier, ProfileInfo, ProfilePolicyAuthorisationRule,
    ProfileState, StoreMetadataRequest,
};

use super::error::{Es10Command, Es10Error, PolicyRule};

fn has_rule(profile: &ProfileInfo, bit: usize) -> bool {
    profile
        .profile_policy_rules
        .as_ref()
        .is_some_and(|rules| rules.contains(bit))
}

/// Whether `profile` is the one `id` names (by ICCID or ISD-P AID).
pub fn is_profile(profile: &ProfileInfo, id: &ProfileIdentifier) -> bool {
    match id {
        ProfileIdentifier::Iccid(iccid) => profile.iccid.as_ref() == Some(iccid),
        ProfileIdentifier::IsdpAid(aid) => profile.isdp_aid.as_ref() == Some(aid),
    }
}

/// Fails with [`Es10Error::PolicyForbids`] when `profile` carries PPR1 (SGP.22 §2.9.1):
/// DisableProfile on it would be answered disallowedByPolicy.
///
/// `profile` must come from GetProfilesInfo with the profilePolicyRules element (`99`); a
/// profile read without it is treated as having no rules.
pub fn check_disable(profile: &ProfileInfo) -> Result<(), Es10Error> {
    if has_rule(profile, PprIds::PPR1) {
        return Err(Es10Error::PolicyForbids {
            command: Es10Command::DisableProfile,
            rule: PolicyRule::Ppr1,
        });
    }
    Ok(())
}

/// Fails with [`Es10Error::PolicyForbids`] when `profile` carries PPR2 (SGP.22 §2.9.1):
/// DeleteProfile on it would be answered disallowedByPolicy.
pub fn check_delete(profile: &ProfileInfo) -> Result<(), Es10Error> {
    if has_rule(profile, PprIds::PPR2) {
        return Err(Es10Error::PolicyForbids {
            command: Es10Command::DeleteProfile,
            rule: PolicyRule::Ppr2,
        });
    }
    Ok(())
}

/// Fails with [`Es10Error::PolicyForbids`] when enabling `target` would disable an enabled
/// profile that carries PPR1. `profiles` is the whole list from GetProfilesInfo (with profile
/// state and policy rules).
pub fn check_enable(profiles: &[ProfileInfo], target: &ProfileIdentifier) -> Result<(), Es10Error> {
    let blocking = profiles.iter().any(|p| {
        p.profile_state == Some(ProfileState::Enabled)
            && !is_profile(p, target)
            && has_rule(p, PprIds::PPR1)
    });
    if blocking {
        return Err(Es10Error::PolicyForbids {
            command: Es10Command::EnableProfile,
            rule: PolicyRule::Ppr1,
        });
    }
    Ok(())
}

/// Why a profile's policy rule cannot be accepted at installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PprRefusal {
    /// The eUICC lists the rule in EUICCInfo2.forbiddenProfilePolicyRules.
    ForbiddenByEuicc,
    /// No Profile Policy Authorisation Rule of the RAT allows it for the profile owner.
    NotAuthorisedForOwner,
    /// The profile carries rules but names no profile owner to authorise them for.
    NoProfileOwner,
}

/// Whether a profile's policy rules may be installed (SGP.22 §2.9.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PprVerdict {
    /// Every rule is allowed (or the profile has none).
    Allowed {
        /// An authorising rule has consentRequired: the user must accept the profile's
        /// policy rules before the download goes on.
        consent_required: bool,
    },
    /// A rule is not allowed: the download must be ended with CancelSession reason
    /// pprNotAllowed.
    NotAllowed {
        /// The PprIds bit number (1 for PPR1, 2 for PPR2).
        ppr: usize,
        /// Why.
        reason: PprRefusal,
    },
}

impl PprVerdict {
    /// Whether installation may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, PprVerdict::Allowed { .. })
    }

    /// Whether the user must consent first.
    pub fn consent_required(&self) -> bool {
        matches!(
            self,
            PprVerdict::Allowed {
                consent_required: true
            }
        )
    }
}

/// Whether `operator` is covered by an allowedOperators entry of a RAT rule: MCC/MNC nibbles
/// compared one by one with `E` in the rule as a wildcard (so `EE EE EE` is every operator),
/// GID1/GID2 compared only when the rule names them (SGP.22 §2.9.2.2).
pub fn operator_matches(rule: &OperatorId, operator: &OperatorId) -> bool {
    let nibbles = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|b| [b & 0x0F, b >> 4])
            .collect::<Vec<u8>>()
    };
    let (r, o) = (nibbles(&rule.mcc_mnc), nibbles(&operator.mcc_mnc));
    r.len() == o.len()
        && r.iter().zip(&o).all(|(r, o)| *r == 0x0E || r == o)
        && rule
            .gid1
            .as_ref()
            .is_none_or(|g| operator.gid1.as_ref() == Some(g))
        && rule
            .gid2
            .as_ref()
            .is_none_or(|g| operator.gid2.as_ref() == Some(g))
}

/// Checks the policy rules of a profile about to be installed (SGP.22 §2.9.2.2): `rules` and
/// `owner` from StoreMetadataRequest (profilePolicyRules, profileOwner), `rat` from GetRAT,
/// `forbidden` from EUICCInfo2.forbiddenProfilePolicyRules.
///
/// Each rule the profile sets (PPR1, PPR2 and any later one; pprUpdateControl is not a rule to
/// authorise) must not be forbidden by the eUICC, and the first RAT entry (in table order)
/// whose pprIds name it and whose allowedOperators cover the owner authorises it; that entry's
/// consentRequired flag decides whether the user must consent.
pub fn check_install_rules(
    rules: Option<&PprIds>,
    owner: Option<&OperatorId>,
    rat: &[ProfilePolicyAuthorisationRule],
    forbidden: Option<&PprIds>,
) -> PprVerdict {
    let mut consent_required = false;
    let set = rules
        .map(|r| r.0.set_bits().collect::<Vec<usize>>())
        .unwrap_or_default();
    for ppr in set.into_iter().filter(|&bit| bit != PprIds::UPDATE_CONTROL) {
        if forbidden.is_some_and(|f| f.contains(ppr)) {
            return PprVerdict::NotAllowed {
                ppr,
                reason: PprRefusal::ForbiddenByEuicc,
            };
        }
        let Some(owner) = owner else {
            return PprVerdict::NotAllowed {
                ppr,
                reason: PprRefusal::NoProfileOwner,
            };
        };
        let authorising = rat.iter().find(|rule| {
            rule.ppr_ids.contains(ppr)
                && rule
                    .allowed_operators
                    .iter()
                    .any(|op| operator_matches(op, owner))
        });
        match authorising {
            Some(rule) => consent_required |= rule.ppr_flags.contains(PprFlags::CONSENT_REQUIRED),
            None => {
                return PprVerdict::NotAllowed {
                    ppr,
                    reason: PprRefusal::NotAuthorisedForOwner,
                };
            }
        }
    }
    PprVerdict::Allowed { consent_required }
}

/// [`check_install_rules`] for the StoreMetadataRequest (profileMetadata) the SM-DP+ sent in
/// authenticateClient.
pub fn check_install(
    metadata: &StoreMetadataRequest,
    rat: &[ProfilePolicyAuthorisationRule],
    forbidden: Option<&PprIds>,
) -> PprVerdict {
    check_install_rules(
        metadata.profile_policy_rules.as_ref(),
        metadata.profile_owner.as_ref(),
        rat,
        forbidden,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(mcc_mnc: [u8; 3]) -> OperatorId {
        OperatorId {
            mcc_mnc: mcc_mnc.to_vec(),
            gid1: None,
            gid2: None,
        }
    }

    fn rule(
        pprs: &[usize],
        operators: Vec<OperatorId>,
        consent: bool,
    ) -> ProfilePolicyAuthorisationRule {
        ProfilePolicyAuthorisationRule {
            ppr_ids: PprIds::from_bits(pprs),
            allowed_operators: operators,
            ppr_flags: if consent {
                PprFlags::from_bits(&[PprFlags::CONSENT_REQUIRED])
            } else {
                PprFlags::from_bits(&[])
            },
        }
    }

    #[test]
    fn install_rules() {
        // MCC 001, MNC 01: 00 F1 10.
        let owner = op([0x00, 0xF1, 0x10]);
        let ppr1 = PprIds::from_bits(&[PprIds::PPR1]);
        let both = PprIds::from_bits(&[PprIds::PPR1, PprIds::PPR2]);
        // No rules: allowed, nothing asked, whatever the RAT.
        assert_eq!(
            check_install_rules(None, None, &[], None),
            PprVerdict::Allowed {
                consent_required: false
            }
        );
        // pprUpdateControl alone needs no authorisation.
        let update = PprIds::from_bits(&[PprIds::UPDATE_CONTROL]);
        assert!(check_install_rules(Some(&update), None, &[], None).is_allowed());
        // The first matching RAT entry decides consent.
        let rat = vec![
            rule(&[PprIds::PPR1], vec![op([0x00, 0xF1, 0x10])], true),
            rule(
                &[PprIds::PPR1, PprIds::PPR2],
                vec![op([0xEE, 0xEE, 0xEE])],
                false,
            ),
        ];
        let v = check_install_rules(Some(&ppr1), Some(&owner), &rat, None);
        assert!(v.consent_required());
        let other = op([0x02, 0xF6, 0x20]);
        let v = check_install_rules(Some(&both), Some(&other), &rat, None);
        assert_eq!(
            v,
            PprVerdict::Allowed {
                consent_required: false
            }
        );
        // Forbidden by the eUICC wins over the RAT.
        let v = check_install_rules(Some(&both), Some(&owner), &rat, Some(&ppr1));
        assert_eq!(
            v,
            PprVerdict::NotAllowed {
                ppr: PprIds::PPR1,
                reason: PprRefusal::ForbiddenByEuicc
            }
        );
        // Not in the RAT for this owner.
        let narrow = vec![rule(&[PprIds::PPR1], vec![op([0x00, 0xF1, 0x10])], false)];
        assert_eq!(
            check_install_rules(Some(&both), Some(&owner), &narrow, None),
            PprVerdict::NotAllowed {
                ppr: PprIds::PPR2,
                reason: PprRefusal::NotAuthorisedForOwner
            }
        );
        assert_eq!(
            check_install_rules(Some(&ppr1), Some(&other), &narrow, None),
            PprVerdict::NotAllowed {
                ppr: PprIds::PPR1,
                reason: PprRefusal::NotAuthorisedForOwner
            }
        );
        assert_eq!(
            check_install_rules(Some(&ppr1), None, &rat, None),
            PprVerdict::NotAllowed {
                ppr: PprIds::PPR1,
                reason: PprRefusal::NoProfileOwner
            }
        );
    }

    #[test]
    fn operator_wildcards_and_gids() {
        let owner = OperatorId {
            mcc_mnc: vec![0x00, 0xF1, 0x10],
            gid1: Some(vec![0x01]),
            gid2: None,
        };
        // MCC 00x: wildcard in the third MCC digit (low nibble of byte 1).
        assert!(operator_matches(&op([0x00, 0xFE, 0x10]), &owner));
        assert!(!operator_matches(&op([0x00, 0xF2, 0x10]), &owner));
        let with_gid = OperatorId {
            gid1: Some(vec![0x02]),
            ..op([0xEE, 0xEE, 0xEE])
        };
        assert!(!operator_matches(&with_gid, &owner));
        let short = OperatorId {
            mcc_mnc: vec![0xEE, 0xEE],
            gid1: None,
            gid2: None,
        };
        assert!(!operator_matches(&short, &owner));
    }
}
