//! Storage types of the leaders' dashboard: grouped reads of the daily rollups.

/// A dimension the daily rollups can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsightDim {
    /// UTC day bucket (Unix ms of its start).
    Day,
    Team,
    ConsumerGroup,
    Workflow,
    Provider,
    Lane,
    /// The served model.
    Model,
    Cache,
    /// `standard` (not a premium lane), `approved` (premium, workflow approved for it)
    /// or `unapproved` (premium drift).
    Premium,
    /// Only from the per-user rollup: combinable with Day, Team and ConsumerGroup.
    User,
}

impl InsightDim {
    pub const ALL: [InsightDim; 10] = [
        InsightDim::Day,
        InsightDim::Team,
        InsightDim::ConsumerGroup,
        InsightDim::Workflow,
        InsightDim::Provider,
        InsightDim::Lane,
        InsightDim::Model,
        InsightDim::Cache,
        InsightDim::Premium,
        InsightDim::User,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InsightDim::Day => "day",
            InsightDim::Team => "team",
            InsightDim::ConsumerGroup => "consumer_group",
            InsightDim::Workflow => "workflow",
            InsightDim::Provider => "provider",
            InsightDim::Lane => "lane",
            InsightDim::Model => "model",
            InsightDim::Cache => "cache",
            InsightDim::Premium => "premium",
            InsightDim::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<InsightDim> {
        InsightDim::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Whether the per-user rollup holds this dimension.
    pub fn in_user_rollup(self) -> bool {
        matches!(
            self,
            InsightDim::Day | InsightDim::Team | InsightDim::ConsumerGroup | InsightDim::User
        )
    }
}

/// A grouped read of the daily rollups over whole UTC days `[from_ms, to_ms)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsightQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: every team.
    pub team: Option<String>,
    pub workflow: Option<String>,
    /// Only premium drift: premium lanes used by workflows not approved for them.
    pub drift_only: bool,
    pub group_by: Vec<InsightDim>,
}

impl InsightQuery {
    /// True when the query must read the per-user rollup (it groups by user).
    pub fn needs_users(&self) -> bool {
        self.group_by.contains(&InsightDim::User)
    }

    /// Whether one of the daily rollups can answer this query (the per-user one has
    /// neither workflow nor the premium flags).
    pub fn answerable(&self) -> bool {
        !self.needs_users()
            || (self.workflow.is_none()
                && !self.drift_only
                && self.group_by.iter().all(|d| d.in_user_rollup()))
    }
}
