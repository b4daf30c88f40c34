//! The providers' own reports as stored (lines of OpenAI's and Anthropic's cost and
//! usage reports), and the cost adjustments repricing writes.

use serde::Serialize;

/// Which of a provider's reports a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Money: OpenAI `/v1/organization/costs`, Anthropic `/v1/organizations/cost_report`.
    Cost,
    /// Tokens and requests: OpenAI `/v1/organization/usage/completions`, Anthropic
    /// `/v1/organizations/usage_report/messages`.
    Usage,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Cost => "cost",
            ReportKind::Usage => "usage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cost" => Some(ReportKind::Cost),
            "usage" => Some(ReportKind::Usage),
            _ => None,
        }
    }
}

/// One line of a provider's report, summed over the report's buckets that start on the
/// same UTC day. The key is `(provider, kind, day_ms, model, line)`: importing a line
/// with a stored key replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderLine {
    /// `openai` or `anthropic`.
    pub provider: String,
    pub kind: ReportKind,
    /// The UTC day (its midnight, Unix ms).
    pub day_ms: i64,
    /// The model as the provider named it; empty when the line names none.
    pub model: String,
    /// What the line is within its day and model: the line item or description with
    /// the project or workspace, or the usage grouping.
    pub line: String,
    /// The line's cost (cost lines; 0 on usage lines).
    pub amount_nanos: i64,
    /// Upper-case ISO 4217 (`USD`).
    pub currency: String,
    /// Uncached prompt tokens.
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    /// 5-minute cache writes (all cache writes when the provider does not split them).
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub output_tokens: i64,
    pub requests: i64,
    pub web_search_calls: i64,
}

impl ProviderLine {
    /// A line with no amount and no usage.
    pub fn empty(provider: &str, kind: ReportKind, day_ms: i64, model: &str, line: &str) -> Self {
        ProviderLine {
            provider: provider.to_string(),
            kind,
            day_ms,
            model: model.to_string(),
            line: line.to_string(),
            amount_nanos: 0,
            currency: "USD".to_string(),
            input_tokens: 0,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            output_tokens: 0,
            requests: 0,
            web_search_calls: 0,
        }
    }

    /// Adds `other`'s amount and counts (a line of the same key from another bucket of
    /// the same day); `None` on overflow.
    pub fn checked_absorb(&mut self, other: &ProviderLine) -> Option<()> {
        self.amount_nanos = self.amount_nanos.checked_add(other.amount_nanos)?;
        self.input_tokens = self.input_tokens.checked_add(other.input_tokens)?;
        self.cached_input_tokens = self
            .cached_input_tokens
            .checked_add(other.cached_input_tokens)?;
        self.cache_write_tokens = self
            .cache_write_tokens
            .checked_add(other.cache_write_tokens)?;
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .checked_add(other.cache_write_1h_tokens)?;
        self.output_tokens = self.output_tokens.checked_add(other.output_tokens)?;
        self.requests = self.requests.checked_add(other.requests)?;
        self.web_search_calls = self.web_search_calls.checked_add(other.web_search_calls)?;
        Some(())
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ImportOutcome {
    /// Lines stored for the first time.
    pub added: usize,
    /// Lines that replaced a stored line of the same key.
    pub replaced: usize,
}

/// A cost adjustment to write: the event's attribution, and how much its cost changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAdjustment {
    pub run_id: String,
    pub event_id: String,
    /// The event's time: the adjustment counts in the event's hour and day.
    pub ts_ms: i64,
    pub team: String,
    pub consumer_group: String,
    pub user: Option<String>,
    pub workflow: Option<String>,
    /// The event's API, outcome and cache status as stored (`chat_completions`, `ok`,
    /// `miss`).
    pub api: String,
    pub provider: Option<String>,
    pub lane: Option<String>,
    pub model_served: String,
    pub outcome: String,
    pub cache: String,
    pub premium: bool,
    pub premium_approved: bool,
    pub delta_nanos: i64,
    /// The event's cost with this adjustment and every earlier one.
    pub cost_after_nanos: i64,
    /// The catalogue entry that priced the new cost.
    pub priced_by: Option<String>,
}

/// A stored adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjustment {
    pub id: i64,
    pub created_ms: i64,
    #[serde(flatten)]
    pub adjustment: NewAdjustment,
}
