//! The hard wallet limit: reserve from the worker's credit, or ask the ledger for a
//! lease (the request waits), or refuse before any provider is called.

use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tollgate_core::lease::{
    decide, decide_without_credit, CreditDecision, LeaseAnswer, LeaseRequest, WithoutCredit,
};
use tollgate_core::money::format_usd;
use tollgate_core::refusal::LocalError;

use crate::host::now_ms;
use crate::wallet::{self, UpdateError};

use super::{Gate, Prepared, RequestFlow};

impl RequestFlow {
    /// Reserves the request's upper-bound cost from the instance's leased credit.
    pub(super) fn try_reserve(&mut self, prepared: &Prepared) -> Gate {
        let team = self.team();
        match wallet::reserve(&team, prepared.reservation, prepared.planned_ms) {
            Ok((lease_id, notice)) => {
                self.budget_notice = notice;
                self.reservation = Some((lease_id, prepared.reservation));
                if let Some(r) = self.record.as_mut() {
                    r.lease_id = Some(lease_id);
                }
                Gate::Pass
            }
            Err(UpdateError::Refused(_)) => {
                let now = now_ms();
                match decide_without_credit(
                    wallet::recently_exhausted(&team, now),
                    wallet::ledger_memory(),
                    now,
                    self.failure_mode(),
                ) {
                    WithoutCredit::Exhausted { available } if self.may_count(prepared) => {
                        Gate::Count { available }
                    }
                    WithoutCredit::Exhausted { available } => {
                        Gate::Refuse(self.refuse_wallet(&team, available, prepared.reservation))
                    }
                    WithoutCredit::AskLedger => Gate::AskLedger,
                    // A lease call found the ledger unreachable moments ago: decide now
                    // rather than make this request wait for the timeout again.
                    WithoutCredit::Remembered(CreditDecision::SendUnchecked) => {
                        log::debug!("tollgate: ledger unreachable moments ago; team {team} fails open: request sent without a wallet check");
                        self.mark_unchecked();
                        Gate::Pass
                    }
                    WithoutCredit::Remembered(
                        CreditDecision::RefuseUnavailable | CreditDecision::UseGrant(_),
                    ) => Gate::Refuse(self.refuse(
                        LocalError::WalletUnavailable,
                        "The wallet authority (Tollgate ledger) was found unreachable moments ago; the request was not sent.",
                    )),
                }
            }
            Err(UpdateError::Host(status)) => {
                log::warn!("tollgate: wallet credit unavailable: {status:?}");
                Gate::Refuse(self.refuse(
                    LocalError::WalletUnavailable,
                    "Tollgate could not check the team wallet; try again.",
                ))
            }
        }
    }

    pub(super) fn refuse_wallet(&mut self, team: &str, available: i64, needed: i64) -> Action {
        let msg = format!(
            "Wallet '{team}' cannot cover this request: ${} available to this gateway, up to ${} needed. \
             Ask your Tollgate admin to allocate more to the wallet.",
            format_usd(available.max(0)),
            format_usd(needed)
        );
        self.refuse(LocalError::WalletExhausted, &msg)
    }

    /// Asks the ledger for more credit; the request waits, paused, for the answer.
    pub(super) fn ask_ledger(&mut self, prepared: Prepared) -> Action {
        let request = LeaseRequest {
            instance: self.rt.instance_id.clone(),
            team: self.team(),
            want_nanos: self.rt.config.lease_chunk_nanos.max(prepared.reservation),
            need_nanos: Some(prepared.reservation),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let sink = &self.rt.config.events;
        let headers = crate::ledger_auth::headers(
            "POST",
            &self.rt.config.lease_path,
            &sink.ledger_authority,
            self.rt.ledger_authorization.as_deref(),
            true,
        );
        match self.dispatch_http_call(
            &sink.ledger_cluster,
            headers,
            Some(&body),
            vec![],
            Duration::from_millis(u64::from(sink.ledger_timeout_ms)),
        ) {
            Ok(_) => {
                self.pending = Some(prepared);
                Action::Pause
            }
            Err(status) => {
                log::warn!("tollgate: cannot reach the ledger for credit: {status:?}");
                wallet::note_ledger_answer(&LeaseAnswer::Unreachable, now_ms());
                match decide(LeaseAnswer::Unreachable, self.failure_mode()) {
                    CreditDecision::SendUnchecked => {
                        log::warn!("tollgate: ledger unreachable; team {} fails open: request sent without a wallet check", self.team());
                        self.mark_unchecked();
                        self.send(prepared)
                    }
                    _ => self.refuse(LocalError::WalletUnavailable, "The wallet authority (Tollgate ledger) is unreachable; the request was not sent."),
                }
            }
        }
    }

    pub(super) fn on_lease_answer(&mut self, body_size: usize) {
        let Some(prepared) = self.pending.take() else {
            return;
        };
        let status = self
            .get_http_call_response_header(":status")
            .and_then(|s| s.parse::<u16>().ok());
        let body = (status == Some(200))
            .then(|| self.get_http_call_response_body(0, body_size))
            .flatten();
        let answer = LeaseAnswer::from_http(status, body.as_deref());
        wallet::note_ledger_answer(&answer, now_ms());
        let mode = self.failure_mode();
        let team = self.team();
        let unknown_wallet = answer == LeaseAnswer::Rejected { status: 404 };
        let decision = decide(answer, mode);
        if self.event_sent && !matches!(decision, CreditDecision::UseGrant(_)) {
            return; // the request already ended: nothing to send or refuse
        }
        let grant = match decision {
            CreditDecision::UseGrant(grant) => grant,
            CreditDecision::SendUnchecked => {
                log::warn!("tollgate: ledger lease call answered {status:?}; team {team} fails open: request sent without a wallet check");
                self.mark_unchecked();
                if let Action::Continue = self.send(prepared) {
                    self.resume_http_request();
                }
                return;
            }
            CreditDecision::RefuseUnavailable if unknown_wallet => {
                log::warn!("tollgate: the ledger has no wallet '{team}'");
                self.refuse(LocalError::WalletUnavailable, &format!("The wallet authority (Tollgate ledger) has no wallet '{team}'; the request was not sent."));
                return;
            }
            CreditDecision::RefuseUnavailable => {
                log::warn!("tollgate: ledger lease call answered {status:?}");
                self.refuse(LocalError::WalletUnavailable, "The wallet authority (Tollgate ledger) did not grant credit; the request was not sent.");
                return;
            }
        };
        match wallet::install_grant(&team, &grant, now_ms()) {
            wallet::GrantEffect::Extended => {}
            wallet::GrantEffect::Opened => {
                self.rt.tick_buffer.count(self.rt.metrics.leases_opened, 1)
            }
            wallet::GrantEffect::Replaced => {
                self.rt.tick_buffer.count(self.rt.metrics.leases_opened, 1);
                self.rt.tick_buffer.count(self.rt.metrics.leases_closed, 1);
            }
        }
        // The grant is the instance's now (it closes and reports it like any lease), but
        // a request that already ended reserves nothing: it would never be settled.
        if self.event_sent {
            return;
        }
        match wallet::reserve(&team, prepared.reservation, now_ms()) {
            Ok((lease_id, notice)) => {
                self.budget_notice = notice;
                wallet::clear_exhausted(&team);
                self.reservation = Some((lease_id, prepared.reservation));
                if let Some(r) = self.record.as_mut() {
                    r.lease_id = Some(lease_id);
                }
                if let Action::Continue = self.send(prepared) {
                    self.resume_http_request();
                }
            }
            Err(_) => {
                // The ledger answered: the wallet cannot cover the request. Never
                // bypassed, whatever the group's failure mode.
                wallet::mark_exhausted(&team, now_ms(), grant.wallet_available_nanos);
                let available = grant.wallet_available_nanos + grant.granted_nanos;
                if self.may_count(&prepared) {
                    self.count_before_refusing(prepared, available);
                } else {
                    self.refuse_wallet(&team, available, prepared.reservation);
                }
            }
        }
    }
}
