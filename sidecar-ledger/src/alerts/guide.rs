//! What on the dashboard explains an alert and what answers it, by kind: the card a
//! reader opens to see why (the team's budget, its wallet, its workflows) and the card
//! holding the move that answers it (ask for allocation, revise the budget, restrict
//! or pause traffic, decide a request).

use serde::Serialize;

/// A dashboard card, on the team's board, and the words of the link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The card's view id (`view-*.js`), found on the page as `#card-{view}`.
    pub view: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Guide {
    /// A short name of the kind, for people.
    pub title: &'static str,
    pub explain: Link,
    pub action: Link,
}

const fn link(view: &'static str, label: &'static str) -> Link {
    Link { view, label }
}

/// The guide for an alert kind; an unknown kind (a newer ledger's) leads to the
/// team's budget.
pub fn guide(kind: &str) -> Guide {
    let (title, explain, action) = match kind {
        "actual" => (
            "Budget threshold",
            link("budget", "See the budget's pace"),
            link("budget-settings", "Revise the budget"),
        ),
        "forecast" => (
            "Budget forecast",
            link("budget", "See the forecast"),
            link("budget-settings", "Revise the budget"),
        ),
        "wallet_low" => (
            "Wallet low",
            link("wallet", "See the wallet's runway"),
            link("requests", "Ask for more allocation"),
        ),
        "spend_anomaly" => (
            "Spend anomaly",
            link("workflows", "See today's spend by workflow"),
            link("policy", "Pause or restrict the traffic"),
        ),
        "allocation_requested" => (
            "Allocation requested",
            link("wallet", "See the wallet"),
            link("requests", "Decide the request"),
        ),
        "allocation_decided" => (
            "Allocation decided",
            link("wallet", "See the wallet"),
            link("requests", "See the requests"),
        ),
        "digest_weekly" => (
            "Weekly digest",
            link("drivers", "See what drove the change"),
            link("moves", "See the recommended moves"),
        ),
        "digest_monthly" => (
            "Monthly digest",
            link("teams", "See the teams"),
            link("moves", "See the recommended moves"),
        ),
        k if k.starts_with("budget_") => (
            "Budget change",
            link("budget", "See the budget"),
            link("budget-settings", "See the budget's history"),
        ),
        _ => (
            "Alert",
            link("budget", "See the budget"),
            link("moves", "See the recommended moves"),
        ),
    };
    Guide {
        title,
        explain,
        action,
    }
}

/// The team's board on the dashboard at `base` (the address people reach it at).
pub fn team_link(base: &str, team: &str) -> String {
    let team: String = team
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{}/#scope={team}&range=30d", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::{guide, team_link};

    #[test]
    fn links_open_the_teams_board() {
        assert_eq!(
            team_link("https://tollgate.example.com/", "team a&b"),
            "https://tollgate.example.com/#scope=team%20a%26b&range=30d"
        );
    }

    #[test]
    fn each_kind_leads_to_its_explanation_and_its_answer() {
        let wallet = guide("wallet_low");
        assert_eq!(
            (wallet.explain.view, wallet.action.view),
            ("wallet", "requests")
        );
        assert_eq!(wallet.action.label, "Ask for more allocation");
        assert_eq!(guide("forecast").action.view, "budget-settings");
        assert_eq!(guide("actual").explain.view, "budget");
        assert_eq!(guide("spend_anomaly").action.view, "policy");
        assert_eq!(guide("allocation_requested").action.view, "requests");
        assert_eq!(guide("budget_changed").explain.view, "budget");
        assert_eq!(guide("from_the_future").explain.view, "budget");
    }
}
