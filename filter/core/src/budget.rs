//! Wallet enforcement inside Envoy: upper-bound reservations against locally leased
//! credit.
//!
//! The ledger is the wallet authority. It leases credit to each Envoy instance in
//! chunks; a request reserves an upper bound of its cost from the local credit before
//! anything is sent upstream, and the reservation is settled (actual cost kept, the rest
//! released) when the request ends, on every exit path. Because a reservation is an
//! upper bound and credit only exists once the ledger granted it, spend cannot pass the
//! wallet while leases are honoured (see README for the stated bound).

use crate::config::filter_config::LaneEntry;
use crate::config::schema::ProviderKind;
use crate::pricing::{ModelPrice, PriceTable};

/// Upper bound of a request's cost in nanodollars, before the provider has answered.
///
/// * Input: at most one token per request-body byte (BPE tokens of UTF-8 text are never
///   shorter than a byte, and the JSON around the prompt only adds bytes), priced at the
///   highest input rate of any rate set the model has (service tiers, long context):
///   for Anthropic, whose prompts may be written to the cache, the dearest cache-write
///   rate too (1-hour writes cost 2 × input); OpenAI bills no cache writes.
/// * Output: the client's `max_tokens`, or the lane's output limit, at the highest
///   output rate.
///
/// Per-call tool charges (web search) are not bounded: the provider decides how many
/// calls to make. They are settled from the reported count like every other charge.
pub fn reservation_nanos(
    price: &ModelPrice,
    provider: ProviderKind,
    request_bytes: usize,
    max_output_tokens: u64,
) -> i64 {
    reservation_for_input(price, provider, request_bytes as u64, max_output_tokens)
}

/// [`reservation_nanos`] with the input bound given in tokens: the request-body bytes,
/// or a provider's count of the prompt plus its margin (`count_precheck`).
pub fn reservation_for_input(
    price: &ModelPrice,
    provider: ProviderKind,
    input_tokens: u64,
    max_output_tokens: u64,
) -> i64 {
    let price = price.highest_rates();
    let mut input_rate = price.input.max(price.cached_input);
    if provider == ProviderKind::Anthropic {
        input_rate = input_rate.max(price.cache_write).max(price.cache_write_1h);
    }
    let picos = u128::from(input_tokens) * u128::from(input_rate)
        + u128::from(max_output_tokens) * u128::from(price.output);
    // Round up: a reservation must never be below the cost it covers.
    i64::try_from(picos.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// An input bound known better than the body's bytes: at most `tokens` input tokens
/// when the request is served by `model` (see `count_precheck`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputBound<'a> {
    pub model: &'a str,
    pub tokens: u64,
}

/// What a request reserves when any of `lanes` may serve it (fallbacks included): the
/// dearest lane's upper bound. Fixed-cost lanes reserve nothing and lanes without a
/// price are skipped. The input bound is the body's bytes, except on lanes of the
/// model `counted` was counted for: a count holds only for its own model's tokenizer.
pub fn plan_reservation<'l>(
    lanes: impl IntoIterator<Item = &'l LaneEntry>,
    prices: &PriceTable,
    now_ms: i64,
    request_bytes: usize,
    client_max_output: Option<u64>,
    counted: Option<InputBound<'_>>,
) -> i64 {
    lanes
        .into_iter()
        .filter_map(|l| {
            if l.fixed_cost {
                return Some(0);
            }
            let price = prices.lookup(&l.model, now_ms)?;
            let max_output = client_max_output.unwrap_or(l.max_output_tokens);
            let input = match counted {
                Some(c) if c.model == l.model && l.provider == ProviderKind::Anthropic => c.tokens,
                _ => request_bytes as u64,
            };
            Some(reservation_for_input(price, l.provider, input, max_output))
        })
        .max()
        .unwrap_or(0)
}

/// Local credit for one team, as held in Envoy shared data (so every worker sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Credit {
    /// Nanodollars this instance may still reserve.
    pub available: i64,
    /// Nanodollars currently reserved by requests in flight.
    pub reserved: i64,
    /// When the lease behind `available` ends (Unix ms); no reservation after it.
    pub lease_expires_ms: i64,
    /// The ledger's lease id (0 = none).
    pub lease_id: u64,
    /// When credit was last reserved from this lease (Unix ms): an instance closes a
    /// lease it has not used for a while, handing its unused credit back.
    pub last_reserved_ms: i64,
}

/// Longest soft-budget notice kept (it becomes a response header).
pub const MAX_NOTICE_LEN: usize = 200;

/// What an instance keeps per team in one shared-data value: the credit and the
/// ledger's latest soft-budget notice. One value, so the reservation that every
/// enforced request makes also reads the notice (a host read costs ~2 µs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreditRecord {
    pub credit: Credit,
    /// Empty when the team is under every billing-budget threshold.
    pub notice: String,
}

impl CreditRecord {
    /// The credit's fixed encoding followed by the notice's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Credit::ENCODED_LEN + self.notice.len());
        out.extend_from_slice(&self.credit.encode());
        out.extend_from_slice(self.notice.as_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<CreditRecord> {
        let (credit, notice) = bytes.split_at_checked(Credit::ENCODED_LEN)?;
        Some(CreditRecord {
            credit: Credit::decode(credit)?,
            notice: String::from_utf8(notice.to_vec()).ok()?,
        })
    }

    /// The notice as a header may carry it: visible ASCII, at most [`MAX_NOTICE_LEN`].
    pub fn clean_notice(notice: Option<&str>) -> String {
        notice
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(MAX_NOTICE_LEN)
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveError {
    /// No lease, or it expired: credit must be fetched from the ledger first.
    NoLease,
    /// The lease is live but does not cover the request.
    Insufficient { available: i64 },
}

impl Credit {
    pub const ENCODED_LEN: usize = 40;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0..8].copy_from_slice(&self.available.to_le_bytes());
        out[8..16].copy_from_slice(&self.reserved.to_le_bytes());
        out[16..24].copy_from_slice(&self.lease_expires_ms.to_le_bytes());
        out[24..32].copy_from_slice(&self.lease_id.to_le_bytes());
        out[32..40].copy_from_slice(&self.last_reserved_ms.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Credit> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            b
        };
        Some(Credit {
            available: i64::from_le_bytes(word(0)),
            reserved: i64::from_le_bytes(word(1)),
            lease_expires_ms: i64::from_le_bytes(word(2)),
            lease_id: u64::from_le_bytes(word(3)),
            last_reserved_ms: i64::from_le_bytes(word(4)),
        })
    }

    pub fn lease_live(&self, now_ms: i64) -> bool {
        self.lease_id != 0 && now_ms < self.lease_expires_ms
    }

    /// Takes `amount` out of the available credit for a request in flight.
    pub fn reserve(&self, amount: i64, now_ms: i64) -> Result<Credit, ReserveError> {
        if !self.lease_live(now_ms) {
            return Err(ReserveError::NoLease);
        }
        if amount > self.available {
            return Err(ReserveError::Insufficient {
                available: self.available,
            });
        }
        Ok(Credit {
            available: self.available - amount,
            reserved: self.reserved + amount,
            last_reserved_ms: now_ms,
            ..*self
        })
    }

    /// Adds a ledger grant: more credit on the same lease (and a later expiry), or the
    /// grant's lease in place of an older one (whose credit is gone). Requests in
    /// flight keep their reservations. The expiry is brought forward by
    /// [`EXPIRY_MARGIN_MS`](crate::lease::EXPIRY_MARGIN_MS). A new lease counts as used
    /// at `now_ms`, so another worker's idle close cannot take it before the request
    /// that asked for it reserves.
    pub fn with_grant(&self, grant: &crate::lease::LeaseGrant, now_ms: i64) -> Credit {
        let expires = grant.expires_ms - crate::lease::EXPIRY_MARGIN_MS;
        if self.lease_id == grant.lease_id {
            Credit {
                available: self.available + grant.granted_nanos,
                lease_expires_ms: expires.max(self.lease_expires_ms),
                ..*self
            }
        } else {
            Credit {
                available: grant.granted_nanos,
                reserved: self.reserved,
                lease_expires_ms: expires,
                lease_id: grant.lease_id,
                last_reserved_ms: now_ms,
            }
        }
    }

    /// Whether the instance should close its lease now and hand the unused credit back:
    /// it has ended locally (see [`EXPIRY_MARGIN_MS`](crate::lease::EXPIRY_MARGIN_MS)),
    /// or nothing is in flight and it has not been reserved from for `idle_ms`. An ended
    /// lease closes even with requests in flight: nothing more can be reserved from it,
    /// and what those requests spend reaches the ledger in their events, which the ledger
    /// holds for (as it holds the whole unreported lease of an instance that stops
    /// without closing). So a reservation that is never settled cannot keep a lease, and
    /// a drain, open for ever.
    pub fn closable(&self, now_ms: i64, idle_ms: i64) -> bool {
        self.lease_id != 0
            && (now_ms >= self.lease_expires_ms
                || (self.reserved == 0 && now_ms.saturating_sub(self.last_reserved_ms) >= idle_ms))
    }

    /// The credit once its lease is closed: nothing left to reserve until the ledger
    /// grants a new lease.
    pub fn closed(&self) -> Credit {
        Credit {
            available: 0,
            // Requests still in flight settle against no lease; their spend reaches the
            // ledger in their events.
            reserved: 0,
            lease_expires_ms: 0,
            lease_id: 0,
            ..*self
        }
    }

    /// Ends a reservation: `actual` is spent, the rest of `reserved` returns to the
    /// available credit. An actual cost above the reservation is taken from the credit
    /// too (it may go negative: the ledger then grants less next time).
    pub fn settle(&self, reserved: i64, actual: i64) -> Credit {
        Credit {
            available: self.available + reserved - actual,
            reserved: (self.reserved - reserved).max(0),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::ModelRates;

    #[test]
    fn a_credit_record_carries_the_notice_beside_the_credit() {
        let record = CreditRecord {
            credit: Credit {
                available: 5,
                reserved: 2,
                lease_expires_ms: 9,
                lease_id: 7,
                last_reserved_ms: 3,
            },
            notice: "team_a at 80% of monthly budget".into(),
        };
        assert_eq!(CreditRecord::decode(&record.encode()), Some(record.clone()));
        let bare = CreditRecord {
            notice: String::new(),
            ..record.clone()
        };
        assert_eq!(bare.encode().len(), Credit::ENCODED_LEN);
        assert_eq!(CreditRecord::decode(&bare.encode()), Some(bare));
        assert_eq!(CreditRecord::decode(&[0; 31]), None, "short");
        let mut bad = record.encode();
        bad.push(0xff);
        assert_eq!(CreditRecord::decode(&bad), None, "not UTF-8");
        let long = "é\u{7}x".repeat(300);
        let clean = CreditRecord::clean_notice(Some(&long));
        assert_eq!(
            clean,
            "x".repeat(MAX_NOTICE_LEN),
            "visible ASCII only, bounded"
        );
        assert_eq!(CreditRecord::clean_notice(None), "");
    }

    fn price() -> ModelPrice {
        ModelPrice::flat(ModelRates {
            input: 150_000,
            cached_input: 75_000,
            cache_write: 150_000,
            cache_write_1h: 150_000,
            output: 600_000,
        })
    }

    fn plan_lane(id: &str, provider: ProviderKind, model: &str) -> LaneEntry {
        LaneEntry {
            id: id.into(),
            provider,
            model: model.into(),
            credential_env: "K".into(),
            cluster: "c".into(),
            authority: "a".into(),
            max_output_tokens: 1_000,
            rpm_limit: None,
            tpm_limit: None,
            weight: 1,
            priority: 0,
            premium: false,
            mode: Default::default(),
            base_path: None,
            fixed_cost: false,
            azure: None,
            aws: None,
        }
    }

    #[test]
    fn a_counted_input_replaces_the_byte_bound_only_on_lanes_of_its_model() {
        let prices = PriceTable::with_overrides(&Default::default());
        let sonnet = plan_lane("s", ProviderKind::Anthropic, "claude-sonnet-4-5");
        let haiku = plan_lane("h", ProviderKind::Anthropic, "claude-haiku-4-5");
        let sonnet_price = prices.lookup("claude-sonnet-4-5", 0).unwrap();
        let haiku_price = prices.lookup("claude-haiku-4-5", 0).unwrap();
        let bytes = 40_000;
        let by_bytes = plan_reservation([&sonnet], &prices, 0, bytes, Some(10), None);
        assert_eq!(
            by_bytes,
            reservation_nanos(sonnet_price, ProviderKind::Anthropic, bytes, 10)
        );
        let counted = Some(InputBound {
            model: "claude-sonnet-4-5",
            tokens: 500,
        });
        let by_count = plan_reservation([&sonnet], &prices, 0, bytes, Some(10), counted);
        assert_eq!(
            by_count,
            reservation_for_input(sonnet_price, ProviderKind::Anthropic, 500, 10)
        );
        assert!(by_count < by_bytes);
        // A fallback of another model keeps the byte bound: the count is not its own.
        let with_fallback =
            plan_reservation([&sonnet, &haiku], &prices, 0, bytes, Some(10), counted);
        assert_eq!(
            with_fallback,
            by_count.max(reservation_nanos(
                haiku_price,
                ProviderKind::Anthropic,
                bytes,
                10
            ))
        );
        // Fixed-cost lanes reserve nothing; unpriced lanes are skipped.
        let fixed = LaneEntry {
            fixed_cost: true,
            ..sonnet.clone()
        };
        let unpriced = plan_lane("u", ProviderKind::Anthropic, "no-such-model");
        assert_eq!(
            plan_reservation([&fixed, &unpriced], &prices, 0, bytes, None, None),
            0
        );
    }

    #[test]
    fn reservation_is_an_upper_bound_rounded_up() {
        // 1000 bytes × 0.15 µ$ + 100 × 0.60 µ$ = 150 + 60 = 210 µ$
        assert_eq!(
            reservation_nanos(&price(), ProviderKind::Openai, 1000, 100),
            210_000
        );
        // 1 byte × 150_000 pico = 150 nano exactly; 1 output = 600 nano.
        assert_eq!(reservation_nanos(&price(), ProviderKind::Openai, 1, 1), 750);
        let odd = ModelPrice::flat(ModelRates::new(1, 1, 1));
        assert_eq!(
            reservation_nanos(&odd, ProviderKind::Openai, 1, 0),
            1,
            "sub-nanodollar rounds up"
        );
        // Anthropic prompts may be 1-hour cache writes: 2 × input (default rates).
        let claude = ModelPrice::flat(ModelRates::new(150_000, 15_000, 600_000));
        assert_eq!(
            reservation_nanos(&claude, ProviderKind::Anthropic, 1000, 0),
            300_000
        );
        assert_eq!(
            reservation_nanos(&claude, ProviderKind::Openai, 1000, 0),
            150_000
        );
    }

    #[test]
    fn reservation_covers_the_dearest_tier_and_long_context() {
        let mut p = price();
        p.service_tiers.insert(
            "priority".into(),
            ModelRates {
                output: 1_000_000,
                ..p.base
            },
        );
        p.long_context = Some(crate::pricing::LongContextRates {
            above_input_tokens: 10,
            rates: ModelRates {
                input: 300_000,
                ..p.base
            },
        });
        // 1000 × 0.30 µ$ + 100 × 1.00 µ$ = 400 µ$
        assert_eq!(
            reservation_nanos(&p, ProviderKind::Openai, 1000, 100),
            400_000
        );
    }

    #[test]
    fn credit_round_trips_through_bytes() {
        let c = Credit {
            available: -5,
            reserved: 7,
            lease_expires_ms: 1_700_000_000_000,
            lease_id: 42,
            last_reserved_ms: 1_699_999_999_000,
        };
        assert_eq!(Credit::decode(&c.encode()), Some(c));
        assert_eq!(Credit::decode(&[0u8; 3]), None);
    }

    #[test]
    fn reserve_and_settle() {
        let c = Credit {
            available: 1000,
            reserved: 0,
            lease_expires_ms: 10_000,
            lease_id: 1,
            last_reserved_ms: 0,
        };
        assert_eq!(c.reserve(100, 20_000), Err(ReserveError::NoLease));
        assert_eq!(
            c.reserve(1001, 0),
            Err(ReserveError::Insufficient { available: 1000 })
        );
        let r = c.reserve(600, 0).unwrap();
        assert_eq!((r.available, r.reserved), (400, 600));
        let s = r.settle(600, 250);
        assert_eq!((s.available, s.reserved), (750, 0));
        // Actual above the reservation is still charged.
        let over = r.settle(600, 700);
        assert_eq!(over.available, 300);
        assert_eq!(Credit::default().reserve(0, 0), Err(ReserveError::NoLease));
    }

    #[test]
    fn a_lease_closes_when_nothing_is_in_flight_and_it_ended_or_sat_idle() {
        let live = Credit {
            available: 300,
            reserved: 0,
            lease_expires_ms: 60_000,
            lease_id: 4,
            last_reserved_ms: 10_000,
        };
        let idle = crate::lease::IDLE_CLOSE_MS;
        assert!(!live.closable(10_000 + idle - 1, idle), "used recently");
        assert!(live.closable(10_000 + idle, idle), "idle long enough");
        assert!(live.closable(60_000, i64::MAX), "ended locally");
        let busy = live.reserve(100, 10_000).unwrap();
        assert!(
            !busy.closable(10_000 + idle, idle),
            "a request is in flight"
        );
        assert!(
            busy.closable(60_000, idle),
            "ended: closed even with a request in flight"
        );
        assert!(
            !Credit::default().closable(70_000, idle),
            "no lease to close"
        );
        let closed = live.closed();
        assert_eq!((closed.available, closed.lease_id), (0, 0));
        assert_eq!(closed.reserve(1, 10_001), Err(ReserveError::NoLease));
        // A reservation in flight on the closed lease still settles its count down.
        assert_eq!(busy.closed().settle(100, 40).reserved, 0);
    }

    #[test]
    fn grants_extend_the_same_lease_or_replace_an_old_one() {
        let grant = |lease_id, granted_nanos, expires_ms| crate::lease::LeaseGrant {
            lease_id,
            granted_nanos,
            expires_ms,
            wallet_available_nanos: 0,
            budget_notice: None,
        };
        let margin = crate::lease::EXPIRY_MARGIN_MS;
        let c = Credit {
            available: 100,
            reserved: 50,
            lease_expires_ms: 10_000,
            lease_id: 1,
            last_reserved_ms: 0,
        };
        let more = c.with_grant(&grant(1, 400, 40_000), 0);
        assert_eq!(
            (more.available, more.reserved, more.lease_expires_ms),
            (500, 50, 40_000 - margin)
        );
        let replaced = c.with_grant(&grant(2, 300, 40_000), 5_000);
        assert_eq!(
            (replaced.available, replaced.reserved, replaced.lease_id),
            (300, 50, 2)
        );
        // A new lease is not idle at its grant, even with nothing reserved yet.
        let fresh = Credit::default().with_grant(&grant(3, 300, 40_000), 5_000);
        assert!(!fresh.closable(5_000 + 1, 1_000));
        assert!(fresh.closable(5_000 + 1_000, 1_000));
    }

    const GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":500,"expires_ms":60000,"wallet_available_nanos":0}"#;
    const EMPTY_GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":0,"expires_ms":60000,"wallet_available_nanos":0}"#;

    #[test]
    fn an_exhausted_wallet_is_refused_in_fail_open_mode_too() {
        use crate::config::LedgerFailureMode;
        use crate::lease::{decide, CreditDecision, LeaseAnswer};
        for mode in [LedgerFailureMode::Closed, LedgerFailureMode::Open] {
            let answer = LeaseAnswer::from_http(Some(200), Some(EMPTY_GRANT));
            let CreditDecision::UseGrant(grant) = decide(answer, mode) else {
                panic!("an empty grant is still a grant under {mode:?}");
            };
            let credit = Credit::default().with_grant(&grant, 0);
            assert_eq!(
                credit.reserve(100, 1_000),
                Err(ReserveError::Insufficient { available: 0 }),
                "{mode:?}"
            );
        }
        // And a grant that covers the request is used, in both modes.
        let CreditDecision::UseGrant(grant) = decide(
            LeaseAnswer::from_http(Some(200), Some(GRANT)),
            LedgerFailureMode::Open,
        ) else {
            panic!("expected a grant");
        };
        let credit = Credit::default().with_grant(&grant, 0);
        assert_eq!(credit.reserve(100, 1_000).map(|c| c.available), Ok(400));
    }
}
