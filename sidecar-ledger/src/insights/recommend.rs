//! The recommended next moves: each insight that calls for an action becomes a move a
//! leader can make, with its dollar impact per month, the sentence that says why (every
//! figure computed from the inputs), and the API call that makes it. Pure: the inputs
//! are computed by `api::insights::recommendations`.

use serde::Serialize;
use serde_json::json;

use super::narrative::{day_words, level_shift, pct, share, shift_words, usd};
use crate::query::{self, DAY_MS};

/// Impacts are stated per month of this many days.
pub const MONTH_DAYS: i64 = 30;

/// Moves worth less than this a month are not listed ($1).
pub const MIN_IMPACT_NANOS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    RestrictPremium,
    NormalizedCache,
    RequestAllocation,
    ReviseBudget,
}

/// The API call that makes the move (the dashboard posts it after the leader confirms).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveAction {
    pub label: String,
    pub method: &'static str,
    pub path: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    pub kind: MoveKind,
    pub team: String,
    pub workflow: Option<String>,
    /// Dollars a month the move saves, or (allocation, budget) keeps from being refused
    /// or overrun.
    pub impact_nanos: i64,
    pub sentence: String,
    pub action: MoveAction,
}

/// One workflow's premium use without approval, per day of the period.
#[derive(Debug, Clone, PartialEq)]
pub struct PremiumDrift {
    pub team: String,
    pub workflow: String,
    /// Day starts of the period.
    pub days: Vec<i64>,
    /// Per day: the workflow's spend on premium lanes without approval, and its spend.
    pub unapproved_nanos: Vec<i64>,
    pub workflow_nanos: Vec<i64>,
    /// Billed tokens of the unapproved premium requests over the period.
    pub unapproved_tokens: i64,
    /// The team's standard-lane spend and billed tokens over the period: what those
    /// tokens would cost on an ordinary lane.
    pub standard_nanos: i64,
    pub standard_tokens: i64,
    /// Workflows approved for premium lanes (they stay allowed).
    pub approved_workflows: Vec<String>,
}

fn per_month(nanos: i64, period_days: i64) -> i64 {
    if period_days <= 0 {
        return 0;
    }
    (i128::from(nanos) * i128::from(MONTH_DAYS) / i128::from(period_days)) as i64
}

/// Whole dollars, rounded up, as the API's USD text.
fn whole_usd_up(nanos: i64) -> String {
    let dollars = (nanos.max(0) + 999_999_999) / 1_000_000_000;
    format!("{dollars}.00")
}

pub fn restrict_premium(d: &PremiumDrift) -> Option<Move> {
    let unapproved: i64 = d.unapproved_nanos.iter().sum();
    let total: i64 = d.workflow_nanos.iter().sum();
    if unapproved <= 0 || d.standard_tokens <= 0 {
        return None;
    }
    // What the same tokens cost at the team's standard-lane rate.
    let standard_cost = (i128::from(d.unapproved_tokens) * i128::from(d.standard_nanos)
        / i128::from(d.standard_tokens)) as i64;
    let saving = per_month(unapproved - standard_cost, d.days.len() as i64);
    if saving < MIN_IMPACT_NANOS {
        return None;
    }
    let points: Vec<(i64, i64)> = d
        .unapproved_nanos
        .iter()
        .zip(&d.workflow_nanos)
        .map(|(u, t)| (*u, *t))
        .collect();
    let change = level_shift(&points, 2)
        .and_then(|s| shift_words(&s, &d.days))
        .filter(|w| w.starts_with("rose"));
    let head = match change {
        Some(words) => format!("premium share on {} {words}", d.workflow),
        None => format!(
            "{} ran {} of its spend on premium lanes without approval ({} in {} days)",
            d.workflow,
            pct(share(unapproved, total)),
            usd(unapproved),
            d.days.len()
        ),
    };
    Some(Move {
        kind: MoveKind::RestrictPremium,
        team: d.team.clone(),
        workflow: Some(d.workflow.clone()),
        impact_nanos: saving,
        sentence: format!(
            "{head}: restrict premium lanes to approved workflows (saves about {}/month)",
            usd(saving)
        ),
        action: MoveAction {
            label: "Restrict premium lanes".into(),
            method: "POST",
            path: format!("/v1/teams/{}/policy", d.team),
            body: json!({
                "change": "restrict_premium",
                "allowed_workflows": d.approved_workflows,
                "action": "downgrade",
                "reason": format!("premium drift on {}", d.workflow),
            }),
        },
    })
}

/// A wallet and the team's recent daily spend.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletRunway {
    pub team: String,
    pub balance_nanos: i64,
    /// Trimmed mean of recent full days.
    pub run_rate_per_day_nanos: i64,
}

/// Asks for what keeps the team served to the end of the month, if the wallet runs out
/// before it.
pub fn request_allocation(w: &WalletRunway, now_ms: i64) -> Option<Move> {
    if w.run_rate_per_day_nanos <= 0 {
        return None;
    }
    let today = now_ms.div_euclid(DAY_MS);
    let (y, m, _) = tollgate_core::config::civil_from_days(today);
    let month_end = tollgate_core::config::days_from_civil(y, m, 1)
        + tollgate_core::config::days_in_month(y, m);
    let days_left = month_end - today;
    let needed = w.run_rate_per_day_nanos * days_left - w.balance_nanos.max(0);
    if needed < MIN_IMPACT_NANOS {
        return None;
    }
    let runs_out = today + w.balance_nanos.max(0) / w.run_rate_per_day_nanos;
    let amount = whole_usd_up(needed);
    Some(Move {
        kind: MoveKind::RequestAllocation,
        team: w.team.clone(),
        workflow: None,
        impact_nanos: needed,
        sentence: format!(
            "{} is on pace to use up its wallet on {} ({} left at {} a day): request ${amount} to last to {}",
            w.team,
            day_words(runs_out * DAY_MS),
            usd(w.balance_nanos),
            usd(w.run_rate_per_day_nanos),
            query::format_day((month_end - 1) * DAY_MS)
        ),
        action: MoveAction {
            label: format!("Request ${amount}"),
            method: "POST",
            path: format!("/v1/teams/{}/allocation-requests", w.team),
            body: json!({
                "amount_usd": amount,
                "reason": format!("on pace to use up the wallet before {}", query::format_day(month_end * DAY_MS)),
            }),
        },
    })
}

/// A budget whose period-end forecast exceeds it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetOverrun {
    pub team: String,
    pub period: &'static str,
    pub budget_nanos: i64,
    pub forecast_nanos: i64,
    pub exhaustion_day: Option<String>,
}

pub fn revise_budget(b: &BudgetOverrun) -> Option<Move> {
    let over = b.forecast_nanos - b.budget_nanos;
    if over < MIN_IMPACT_NANOS {
        return None;
    }
    let amount = whole_usd_up(b.forecast_nanos);
    let when = b
        .exhaustion_day
        .as_deref()
        .and_then(|d| query::parse_time(d).ok())
        .map(|ms| format!(", used up on {}", day_words(ms)))
        .unwrap_or_default();
    Some(Move {
        kind: MoveKind::ReviseBudget,
        team: b.team.clone(),
        workflow: None,
        impact_nanos: over,
        sentence: format!(
            "{} is forecast to spend {} against its {} budget of {} ({} over{when}): cut spend or raise the budget to ${amount}",
            b.team,
            usd(b.forecast_nanos),
            b.period,
            usd(b.budget_nanos),
            usd(over)
        ),
        action: MoveAction {
            label: format!("Raise the budget to ${amount}"),
            method: "POST",
            path: format!("/v1/teams/{}/budget", b.team),
            body: json!({
                "amount_usd": amount,
                "reason": format!("forecast {} exceeds the budget", usd(b.forecast_nanos)),
            }),
        },
    })
}

/// Largest impact first (ties: team, then kind).
pub fn rank(mut moves: Vec<Move>) -> Vec<Move> {
    moves.sort_by(|a, b| {
        b.impact_nanos
            .cmp(&a.impact_nanos)
            .then(a.team.cmp(&b.team))
            .then((a.kind as u8).cmp(&(b.kind as u8)))
    });
    moves
}

/// Near-repeats a normalised cache would have answered.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheOpportunity {
    pub team: String,
    pub workflow: String,
    pub period_days: i64,
    pub misses: i64,
    /// Misses that repeated an earlier request under normalisation, and their cost.
    pub repeat_misses: i64,
    pub repeat_cost_nanos: i64,
    /// The team's workflows already matched normalised (the move adds this one).
    pub already_on: Vec<String>,
}

pub fn normalized_cache(c: &CacheOpportunity) -> Option<Move> {
    let saving = per_month(c.repeat_cost_nanos, c.period_days);
    if saving < MIN_IMPACT_NANOS || c.misses <= 0 {
        return None;
    }
    Some(Move {
        kind: MoveKind::NormalizedCache,
        team: c.team.clone(),
        workflow: Some(c.workflow.clone()),
        impact_nanos: saving,
        sentence: format!(
            "{} of cache misses on {} were near-repeats ({} in {} days): normalised caching would save about {}/month",
            pct(share(c.repeat_misses, c.misses)),
            c.workflow,
            usd(c.repeat_cost_nanos),
            c.period_days,
            usd(saving)
        ),
        action: MoveAction {
            label: "Turn on normalised caching".into(),
            method: "POST",
            path: format!("/v1/teams/{}/policy", c.team),
            body: json!({
                "change": "normalized_cache",
                "workflows": c.already_on.iter().chain([&c.workflow]).collect::<Vec<_>>(),
                "reason": format!("near-repeat misses on {}", c.workflow),
            }),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i64 = 1_000_000_000;
    /// 2026-11-01T00:00:00Z.
    const NOV1: i64 = 1_793_491_200_000;

    fn drift(unapproved: Vec<i64>, totals: Vec<i64>) -> PremiumDrift {
        PremiumDrift {
            team: "team_support".into(),
            workflow: "ticket-summarise".into(),
            days: (0..unapproved.len() as i64)
                .map(|d| NOV1 + d * DAY_MS)
                .collect(),
            unapproved_tokens: 1_000_000,
            standard_nanos: USD,
            standard_tokens: 10_000_000,
            approved_workflows: vec!["escalation".into()],
            unapproved_nanos: unapproved,
            workflow_nanos: totals,
        }
    }

    #[test]
    fn premium_drift_that_rose_names_the_change_and_the_saving() {
        // 10 days at 4% premium, then 10 at 31%; $1/day of workflow spend at first.
        let mut u = vec![40_000_000; 10];
        u.extend(vec![3_100_000_000; 10]);
        let mut t = vec![USD; 10];
        t.extend(vec![10 * USD; 10]);
        let m = restrict_premium(&drift(u, t)).unwrap();
        assert_eq!(m.kind, MoveKind::RestrictPremium);
        // Unapproved $31.40 over 20 days; at the standard rate ($0.10 per 1M tokens)
        // the 1M tokens cost $0.10: saving $31.30 in 20 days = $46.95 a month.
        assert_eq!(m.impact_nanos, 46_950_000_000);
        assert!(
            m.sentence
                .starts_with("premium share on ticket-summarise rose from 4% to 31% after"),
            "{}",
            m.sentence
        );
        assert!(
            m.sentence.ends_with("(saves about $46.95/month)"),
            "{}",
            m.sentence
        );
        assert_eq!(m.action.path, "/v1/teams/team_support/policy");
        assert_eq!(m.action.body["allowed_workflows"], json!(["escalation"]));
    }

    #[test]
    fn steady_drift_is_stated_as_a_share_and_small_drift_is_not_listed() {
        let m = restrict_premium(&drift(vec![2 * USD; 10], vec![4 * USD; 10])).unwrap();
        assert!(
            m.sentence.starts_with("ticket-summarise ran 50% of its spend on premium lanes without approval ($20.00 in 10 days)"),
            "{}",
            m.sentence
        );
        assert_eq!(
            restrict_premium(&drift(vec![1_000; 10], vec![USD; 10])),
            None
        );
        let mut no_standard = drift(vec![2 * USD; 10], vec![4 * USD; 10]);
        no_standard.standard_tokens = 0;
        assert_eq!(
            restrict_premium(&no_standard),
            None,
            "no rate to compare with"
        );
    }

    #[test]
    fn a_wallet_that_runs_out_before_month_end_asks_for_the_rest_of_the_month() {
        let w = WalletRunway {
            team: "team_support".into(),
            balance_nanos: 40 * USD,
            run_rate_per_day_nanos: 5 * USD,
        };
        // 2026-11-15 12:00: 16 days left including today; $80 needed, $40 there.
        let now = NOV1 + 14 * DAY_MS + DAY_MS / 2;
        let m = request_allocation(&w, now).unwrap();
        assert_eq!(m.impact_nanos, 40 * USD);
        assert_eq!(m.action.body["amount_usd"], "40.00");
        assert!(
            m.sentence.contains("on pace to use up its wallet on Monday 23 November ($40.00 left at $5.00 a day): request $40.00 to last to 2026-11-30"),
            "{}",
            m.sentence
        );
        let rich = WalletRunway {
            balance_nanos: 500 * USD,
            ..w
        };
        assert_eq!(request_allocation(&rich, now), None);
    }

    #[test]
    fn an_overrun_forecast_offers_the_budget_it_needs_and_moves_rank_by_impact() {
        let b = BudgetOverrun {
            team: "team_eng".into(),
            period: "monthly",
            budget_nanos: 100 * USD,
            forecast_nanos: 130_500_000_000,
            exhaustion_day: Some("2026-11-23".into()),
        };
        let m = revise_budget(&b).unwrap();
        assert_eq!(m.impact_nanos, 30_500_000_000);
        assert_eq!(m.action.body["amount_usd"], "131.00");
        assert!(
            m.sentence
                .contains("($30.50 over, used up on Monday 23 November)"),
            "{}",
            m.sentence
        );
        let small = Move {
            impact_nanos: 2 * USD,
            ..m.clone()
        };
        let ranked = rank(vec![small.clone(), m.clone()]);
        assert_eq!(ranked, vec![m, small]);
    }

    #[test]
    fn near_repeats_become_a_normalised_cache_move() {
        let c = CacheOpportunity {
            team: "team_support".into(),
            workflow: "draft-reply".into(),
            period_days: 15,
            misses: 1000,
            repeat_misses: 380,
            repeat_cost_nanos: 12 * USD,
            already_on: vec!["triage".into()],
        };
        let m = normalized_cache(&c).unwrap();
        assert_eq!(m.impact_nanos, 24 * USD);
        assert_eq!(
            m.sentence,
            "38% of cache misses on draft-reply were near-repeats ($12.00 in 15 days): normalised caching would save about $24.00/month"
        );
        assert_eq!(m.action.body["workflows"], json!(["triage", "draft-reply"]));
    }
}
