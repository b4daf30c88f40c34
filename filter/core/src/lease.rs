//! The credit-lease protocol between an Envoy instance and the ledger (the wallet
//! authority). One definition, used by the filter and the ledger.
//!
//! An instance asks for credit for one team; the ledger grants at most what the wallet
//! has left after spend and other instances' live leases, adds it to the instance's live
//! lease for that team (or opens a new one), and extends the lease's expiry. Credit the
//! instance has not spent when the lease expires returns to the wallet by itself, so a
//! dead instance never strands money for longer than the lease's time to live.

use serde::{Deserialize, Serialize};

use crate::config::LedgerFailureMode;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The Envoy instance asking (random per Envoy process).
    pub instance: String,
    pub team: String,
    /// Credit wanted, in nanodollars: a chunk to reserve from for a while.
    pub want_nanos: i64,
    /// Of that, what the request that asked must reserve now. A ledger grants it in
    /// full when the wallet can, but the rest of the chunk only up to a share of what
    /// is left (see [`grant_size`]). Absent (an older filter): all of `want_nanos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_nanos: Option<i64>,
}

/// The largest share of a wallet's unleased credit one lease call takes beyond what
/// its request needs, as a fraction `1 / MAX_SHARE_DIVISOR`: while one instance holds a
/// chunk, another always finds credit left to lease.
pub const MAX_SHARE_DIVISOR: i64 = 2;

/// What a lease call is granted from a wallet with `available_nanos` unleased: what its
/// request needs when the wallet has it, plus the rest of the chunk up to half of what
/// is left. No instance can take a whole wallet another instance may need, and one
/// instance alone can still spend a wallet to its last request.
pub fn grant_size(req: &LeaseRequest, available_nanos: i64) -> i64 {
    let available = available_nanos.max(0);
    let want = req.want_nanos.max(0);
    let need = req.need_nanos.unwrap_or(want).clamp(0, want);
    want.min(need.max(available / MAX_SHARE_DIVISOR))
        .min(available)
}

/// The share of a wallet one lease holder (an ingest token) may hold in live leases
/// while another holder draws on the same wallet, in percent, unless configured.
pub const DEFAULT_HOLDER_SHARE_PERCENT: u8 = 50;

/// Where a holder stands in a wallet when it asks for credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HolderStanding {
    /// Credit the holder's live leases on the wallet have not spent yet.
    pub held_nanos: i64,
    /// The wallet's credit not spent: unleased plus every live lease's unspent part.
    pub wallet_credit_nanos: i64,
    /// Another holder has a live lease on the wallet.
    pub others_active: bool,
}

/// What a lease call is granted once the holder's share is applied: [`grant_size`],
/// but while other holders draw on the wallet, never so much that this holder's live
/// leases exceed `share_percent` of the wallet's credit, whatever need it states. A
/// holder alone on a wallet keeps [`grant_size`], so it can still spend the wallet to
/// its last request.
pub fn holder_grant_size(
    req: &LeaseRequest,
    available_nanos: i64,
    standing: HolderStanding,
    share_percent: u8,
) -> i64 {
    let grant = grant_size(req, available_nanos);
    if !standing.others_active {
        return grant;
    }
    let cap =
        i128::from(standing.wallet_credit_nanos.max(0)) * i128::from(share_percent.min(100)) / 100;
    let room = (cap - i128::from(standing.held_nanos.max(0))).max(0);
    grant.min(i64::try_from(room).unwrap_or(i64::MAX))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    pub lease_id: u64,
    /// Credit added to the lease by this call (0 when the wallet is exhausted).
    pub granted_nanos: i64,
    /// When the lease ends (Unix ms); the instance must stop reserving before then.
    pub expires_ms: i64,
    /// What the wallet still has unleased after this grant, for error messages.
    pub wallet_available_nanos: i64,
    /// Set when the team is past a billing-budget threshold (soft: never blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_notice: Option<String>,
}

/// An instance's report that it closed a lease: it reserves no more from it, and
/// `unused_nanos` of its credit was never reserved (it returns to the wallet). What
/// the lease may have spent beyond the events the ledger has stays held, charged to
/// the team, until those events arrive. Sent to the ledger among the cost events, as
/// `{"lease_closed": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseClosed {
    pub lease_id: u64,
    pub team: String,
    pub instance: String,
    pub unused_nanos: i64,
    /// When the instance closed it (Unix ms).
    pub closed_ms: i64,
}

/// How a [`LeaseClosed`] travels in an event batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseClosedRecord {
    pub lease_closed: LeaseClosed,
}

/// How long a lease may go unused before its instance closes it (its unused credit then
/// returns to the wallet for other instances, and a stopped instance leaves nothing
/// held once its last events have arrived).
pub const IDLE_CLOSE_MS: i64 = 5_000;

/// Margin before a lease's expiry at which an instance stops using it, covering clock
/// skew between the instance and the ledger and requests about to start.
pub const EXPIRY_MARGIN_MS: i64 = 2_000;

/// What the ledger's answer to a lease call means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// The ledger granted credit — possibly none at all: the wallet is exhausted.
    Granted(LeaseGrant),
    /// The ledger answered and turned the call down (4xx: unknown wallet, bad request).
    Rejected { status: u16 },
    /// No usable answer: the call could not be made, Envoy could not connect (503) or
    /// timed out (504), the ledger failed (5xx), or its answer was not a grant.
    Unreachable,
}

impl LeaseAnswer {
    /// Classifies the HTTP answer to a lease call (`status` is `None` when the call
    /// could not be dispatched or the answer had no status).
    pub fn from_http(status: Option<u16>, body: Option<&[u8]>) -> LeaseAnswer {
        match status {
            Some(200) => body
                .and_then(|b| serde_json::from_slice::<LeaseGrant>(b).ok())
                .map_or(LeaseAnswer::Unreachable, LeaseAnswer::Granted),
            Some(status @ 400..=499) => LeaseAnswer::Rejected { status },
            _ => LeaseAnswer::Unreachable,
        }
    }
}

/// What wallet enforcement does with a request that needed credit from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditDecision {
    /// Add the grant to the instance's credit and reserve from it. A grant that does
    /// not cover the request (the wallet is exhausted) is a 402 in either failure mode.
    UseGrant(LeaseGrant),
    /// Refuse with 503 `wallet_unavailable`; nothing goes upstream.
    RefuseUnavailable,
    /// Send upstream without a reservation; the cost event is marked
    /// `wallet_unchecked`.
    SendUnchecked,
}

/// The decision for a lease answer under the consumer group's failure mode. Only an
/// unreachable ledger is affected by the mode: a grant (even an empty one) and a
/// refusal by a ledger that answered are the same in both.
pub fn decide(answer: LeaseAnswer, mode: LedgerFailureMode) -> CreditDecision {
    match (answer, mode) {
        (LeaseAnswer::Granted(grant), _) => CreditDecision::UseGrant(grant),
        (LeaseAnswer::Rejected { .. }, _) => CreditDecision::RefuseUnavailable,
        (LeaseAnswer::Unreachable, LedgerFailureMode::Closed) => CreditDecision::RefuseUnavailable,
        (LeaseAnswer::Unreachable, LedgerFailureMode::Open) => CreditDecision::SendUnchecked,
    }
}

/// How long an instance remembers that a lease call found the ledger unreachable.
/// Within this time a request that needs new credit is decided at once by its group's
/// failure mode instead of calling the ledger again: a hung ledger would otherwise cost
/// every such request the full `ledger_timeout_ms`, paused, piling requests up. Short,
/// so that a recovered ledger is probed again (and credit leased) within seconds; long
/// enough to cover a burst of requests arriving together.
pub const UNREACHABLE_MEMORY_MS: i64 = 2_000;

/// What an instance remembers about the ledger's reachability, shared by its workers:
/// when a lease call last found the ledger unreachable (Unix ms), if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerMemory {
    pub unreachable_at_ms: Option<i64>,
}

impl LedgerMemory {
    /// The memory after a lease call ended at `now_ms` with `answer`: an unreachable
    /// ledger is remembered from now on; any answer from the ledger itself (a grant,
    /// even an empty one, or a 4xx) shows it is reachable and clears the memory.
    pub fn after(self, answer: &LeaseAnswer, now_ms: i64) -> LedgerMemory {
        match answer {
            LeaseAnswer::Unreachable => LedgerMemory {
                unreachable_at_ms: Some(now_ms),
            },
            LeaseAnswer::Granted(_) | LeaseAnswer::Rejected { .. } => LedgerMemory::default(),
        }
    }

    /// A lease call found the ledger unreachable less than [`UNREACHABLE_MEMORY_MS`]
    /// before `now_ms`. A memory from the future (the clock went back) is not trusted,
    /// so it can never last longer than the window.
    pub fn recently_unreachable(&self, now_ms: i64) -> bool {
        self.unreachable_at_ms
            .is_some_and(|at| (0..UNREACHABLE_MEMORY_MS).contains(&now_ms.saturating_sub(at)))
    }

    /// The shared-data value: the failure time as 8 little-endian bytes, or nothing.
    pub fn encode(&self) -> Vec<u8> {
        self.unreachable_at_ms
            .map_or_else(Vec::new, |at| at.to_le_bytes().to_vec())
    }

    /// Reads [`encode`](Self::encode)'s value; anything else is no memory.
    pub fn decode(bytes: &[u8]) -> LedgerMemory {
        LedgerMemory {
            unreachable_at_ms: <[u8; 8]>::try_from(bytes).ok().map(i64::from_le_bytes),
        }
    }
}

/// What a request does when the instance's leased credit cannot cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithoutCredit {
    /// The ledger answered moments ago that the wallet cannot cover requests: refuse
    /// with 402, quoting the last known available credit. Takes precedence over an
    /// unreachable ledger, in both failure modes.
    Exhausted { available: i64 },
    /// A lease call found the ledger unreachable moments ago: decided at once, as for
    /// an unreachable ledger (by the group's failure mode), without calling it again.
    Remembered(CreditDecision),
    /// Call the ledger for credit.
    AskLedger,
}

/// The decision for a request that needs new credit, before calling the ledger.
/// `exhausted` is the last known available credit if the ledger reported the wallet
/// exhausted moments ago; `memory` is what the instance remembers about the ledger's
/// reachability. Only consulted once leased credit cannot cover the request, so
/// requests served from leased credit are never affected by either memory.
pub fn decide_without_credit(
    exhausted: Option<i64>,
    memory: LedgerMemory,
    now_ms: i64,
    mode: LedgerFailureMode,
) -> WithoutCredit {
    match exhausted {
        Some(available) => WithoutCredit::Exhausted { available },
        None if memory.recently_unreachable(now_ms) => {
            WithoutCredit::Remembered(decide(LeaseAnswer::Unreachable, mode))
        }
        None => WithoutCredit::AskLedger,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_plain_json() {
        let g: LeaseGrant = serde_json::from_str(
            r#"{"lease_id":3,"granted_nanos":5,"expires_ms":9,"wallet_available_nanos":0}"#,
        )
        .unwrap();
        assert_eq!(g.lease_id, 3);
        let r = LeaseRequest {
            instance: "i".into(),
            team: "t".into(),
            want_nanos: 1,
            need_nanos: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"instance":"i","team":"t","want_nanos":1}"#
        );
    }

    fn asking(want: i64, need: Option<i64>) -> LeaseRequest {
        LeaseRequest {
            instance: "i".into(),
            team: "t".into(),
            want_nanos: want,
            need_nanos: need,
        }
    }

    #[test]
    fn a_grant_takes_what_its_request_needs_and_at_most_half_of_the_rest() {
        // Plenty left: the whole chunk.
        assert_eq!(grant_size(&asking(1_000, Some(10)), 1_000_000), 1_000);
        // A chunk bigger than half the wallet: half of what is left.
        assert_eq!(grant_size(&asking(1_000, Some(10)), 1_000), 500);
        // The request's own need is granted in full even above half...
        assert_eq!(grant_size(&asking(1_000, Some(800)), 1_000), 800);
        // ...but never beyond what the wallet has.
        assert_eq!(grant_size(&asking(1_000, Some(800)), 700), 700);
        // One instance alone still spends a wallet to its last request.
        assert_eq!(grant_size(&asking(1_000, Some(3)), 3), 3);
        // Nothing left, or nonsense amounts: nothing granted.
        assert_eq!(grant_size(&asking(1_000, Some(10)), 0), 0);
        assert_eq!(grant_size(&asking(-5, Some(10)), 1_000), 0);
        assert_eq!(grant_size(&asking(1_000, Some(10)), -7), 0);
        // An older filter that does not say what it needs: all it asks for, as before.
        assert_eq!(grant_size(&asking(1_000, None), 1_500), 1_000);
    }

    #[test]
    fn a_holder_among_others_holds_at_most_its_share_whatever_need_it_states() {
        let alone = HolderStanding {
            held_nanos: 0,
            wallet_credit_nanos: 1_000,
            others_active: false,
        };
        // Alone: as before, even a stated need of the whole wallet.
        assert_eq!(
            holder_grant_size(&asking(1_000, Some(1_000)), 1_000, alone, 50),
            1_000
        );
        assert_eq!(
            holder_grant_size(&asking(1_000, None), 1_000, alone, 50),
            1_000
        );
        // Another holder draws on the wallet: half of its credit at most, in total.
        let among = HolderStanding {
            others_active: true,
            ..alone
        };
        assert_eq!(
            holder_grant_size(&asking(1_000, Some(1_000)), 1_000, among, 50),
            500
        );
        assert_eq!(
            holder_grant_size(&asking(1_000, None), 1_000, among, 50),
            500
        );
        let holding = HolderStanding {
            held_nanos: 400,
            ..among
        };
        assert_eq!(
            holder_grant_size(&asking(1_000, Some(1_000)), 600, holding, 50),
            100
        );
        let full = HolderStanding {
            held_nanos: 500,
            ..among
        };
        assert_eq!(holder_grant_size(&asking(10, Some(10)), 500, full, 50), 0);
        // Below the share, the grant is grant_size's; the share is configurable.
        assert_eq!(
            holder_grant_size(&asking(100, Some(10)), 1_000, among, 50),
            100
        );
        assert_eq!(
            holder_grant_size(&asking(1_000, Some(1_000)), 1_000, among, 80),
            800
        );
        assert_eq!(
            holder_grant_size(&asking(1_000, Some(1_000)), 1_000, among, 100),
            1_000
        );
    }

    #[test]
    fn the_need_travels_with_the_request() {
        let r: LeaseRequest =
            serde_json::from_str(r#"{"instance":"i","team":"t","want_nanos":9,"need_nanos":4}"#)
                .unwrap();
        assert_eq!(r.need_nanos, Some(4));
        let old: LeaseRequest =
            serde_json::from_str(r#"{"instance":"i","team":"t","want_nanos":9}"#).unwrap();
        assert_eq!(old.need_nanos, None);
    }

    const GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":500,"expires_ms":60000,"wallet_available_nanos":0}"#;
    const EMPTY_GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":0,"expires_ms":60000,"wallet_available_nanos":0}"#;

    #[test]
    fn answers_are_classified_by_status_and_body() {
        assert!(matches!(
            LeaseAnswer::from_http(Some(200), Some(GRANT)),
            LeaseAnswer::Granted(LeaseGrant {
                granted_nanos: 500,
                ..
            })
        ));
        // Envoy's answers when the ledger is down, hangs, or fails.
        for status in [None, Some(0), Some(500), Some(502), Some(503), Some(504)] {
            assert_eq!(
                LeaseAnswer::from_http(status, Some(b"upstream connect error")),
                LeaseAnswer::Unreachable,
                "{status:?}"
            );
        }
        assert_eq!(
            LeaseAnswer::from_http(Some(200), Some(b"<html>proxy</html>")),
            LeaseAnswer::Unreachable,
            "a 200 that is not a grant is no answer"
        );
        assert_eq!(
            LeaseAnswer::from_http(Some(200), None),
            LeaseAnswer::Unreachable
        );
        assert_eq!(
            LeaseAnswer::from_http(Some(404), Some(b"{}")),
            LeaseAnswer::Rejected { status: 404 }
        );
    }

    #[test]
    fn only_an_unreachable_ledger_depends_on_the_failure_mode() {
        use LedgerFailureMode::{Closed, Open};
        let unreachable = || LeaseAnswer::from_http(Some(503), None);
        assert_eq!(
            decide(unreachable(), Closed),
            CreditDecision::RefuseUnavailable
        );
        assert_eq!(decide(unreachable(), Open), CreditDecision::SendUnchecked);
        assert_eq!(
            decide(LeaseAnswer::Unreachable, Open),
            CreditDecision::SendUnchecked
        );
        // A ledger that answered "no" is never bypassed.
        let unknown_wallet = || LeaseAnswer::from_http(Some(404), None);
        assert_eq!(
            decide(unknown_wallet(), Open),
            CreditDecision::RefuseUnavailable
        );
        assert_eq!(
            decide(unknown_wallet(), Closed),
            CreditDecision::RefuseUnavailable
        );
    }

    #[test]
    fn an_unreachable_ledger_is_remembered_for_a_short_time() {
        use LedgerFailureMode::{Closed, Open};
        let t0 = 1_800_000_000_000;
        let ask = |memory, now_ms, mode| decide_without_credit(None, memory, now_ms, mode);
        let none = LedgerMemory::default();
        assert_eq!(ask(none, t0, Closed), WithoutCredit::AskLedger);

        // A lease call times out at t0: remembered from then on.
        let failed = none.after(&LeaseAnswer::from_http(Some(504), None), t0);
        assert_eq!(failed.unreachable_at_ms, Some(t0));
        for dt in [0, 1, UNREACHABLE_MEMORY_MS / 2, UNREACHABLE_MEMORY_MS - 1] {
            assert_eq!(
                ask(failed, t0 + dt, Closed),
                WithoutCredit::Remembered(CreditDecision::RefuseUnavailable),
                "+{dt} ms"
            );
            assert_eq!(
                ask(failed, t0 + dt, Open),
                WithoutCredit::Remembered(CreditDecision::SendUnchecked),
                "+{dt} ms"
            );
        }
        // Then the next request probes the ledger again.
        for dt in [UNREACHABLE_MEMORY_MS, UNREACHABLE_MEMORY_MS + 1, 3_600_000] {
            assert_eq!(
                ask(failed, t0 + dt, Closed),
                WithoutCredit::AskLedger,
                "+{dt} ms"
            );
            assert_eq!(
                ask(failed, t0 + dt, Open),
                WithoutCredit::AskLedger,
                "+{dt} ms"
            );
        }
        // A clock that went back does not stretch the memory.
        assert_eq!(ask(failed, t0 - 1, Closed), WithoutCredit::AskLedger);
        assert_eq!(ask(failed, t0 - 60_000, Closed), WithoutCredit::AskLedger);

        // A probe that fails again restarts the window from its own time.
        let t1 = t0 + UNREACHABLE_MEMORY_MS + 500;
        let again = failed.after(&LeaseAnswer::Unreachable, t1);
        assert!(again.recently_unreachable(t1 + UNREACHABLE_MEMORY_MS - 1));
        assert!(!again.recently_unreachable(t1 + UNREACHABLE_MEMORY_MS));
    }

    #[test]
    fn a_wallet_known_to_be_exhausted_is_refused_even_while_the_ledger_is_unreachable() {
        let t0 = 1_800_000_000_000;
        let failed = LedgerMemory::default().after(&LeaseAnswer::Unreachable, t0);
        for mode in [LedgerFailureMode::Closed, LedgerFailureMode::Open] {
            for memory in [LedgerMemory::default(), failed] {
                assert_eq!(
                    decide_without_credit(Some(42), memory, t0 + 1, mode),
                    WithoutCredit::Exhausted { available: 42 },
                    "{mode:?} {memory:?}"
                );
            }
        }
    }

    #[test]
    fn any_answer_from_the_ledger_clears_the_memory() {
        let t0 = 1_800_000_000_000;
        let failed = LedgerMemory::default().after(&LeaseAnswer::Unreachable, t0);
        let answers = [
            LeaseAnswer::from_http(Some(200), Some(GRANT)),
            // An exhausted wallet is an answer: the ledger is reachable.
            LeaseAnswer::from_http(Some(200), Some(EMPTY_GRANT)),
            LeaseAnswer::from_http(Some(404), None),
        ];
        for answer in answers {
            let cleared = failed.after(&answer, t0 + 10);
            assert_eq!(cleared, LedgerMemory::default(), "{answer:?}");
            assert!(!cleared.recently_unreachable(t0 + 11));
        }
        // Every kind of failure sets it.
        for (status, body) in [
            (None, None),
            (Some(500), None),
            (Some(200), Some(&b"<html>"[..])),
        ] {
            let answer = LeaseAnswer::from_http(status, body);
            assert!(
                LedgerMemory::default()
                    .after(&answer, t0)
                    .recently_unreachable(t0 + 1),
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_memory_round_trips_through_shared_data_bytes() {
        let m = LedgerMemory {
            unreachable_at_ms: Some(1_800_000_000_123),
        };
        assert_eq!(m.encode().len(), 8);
        assert_eq!(LedgerMemory::decode(&m.encode()), m);
        assert_eq!(LedgerMemory::default().encode(), Vec::<u8>::new());
        // Cleared, missing or foreign values are no memory.
        for bytes in [&b""[..], &b"\x01\x02"[..], &[0u8; 16][..]] {
            assert_eq!(LedgerMemory::decode(bytes), LedgerMemory::default());
        }
    }
}
