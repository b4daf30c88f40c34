//! Cache misses that repeated an earlier request under normalisation: what normalised
//! matching (`cache.match_strategy: normalized`, or a team's runtime policy) would have
//! answered from the cache. Read from each event's prompt fingerprint; one definition
//! of the query for both backends.

/// Misses of one team and workflow in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatMisses {
    pub team: String,
    /// `""` for requests without a workflow.
    pub workflow: String,
    /// Cache misses whose fingerprint is known.
    pub misses: i64,
    /// Of those, misses with an earlier successful request of the same team and
    /// fingerprint no more than the cache TTL before.
    pub repeats: i64,
    /// What the repeats cost.
    pub repeat_cost_nanos: i64,
}

/// The query, with `{p}` placeholders numbered by the backend: 1 from, 2 to, 3 window
/// (ms), 4 team or NULL for every team.
pub(crate) fn sql(placeholder: impl Fn(usize) -> String) -> String {
    let p = |i| placeholder(i);
    format!(
        "SELECT m.team, COALESCE(m.workflow, ''), CAST(COUNT(*) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN m.repeated THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN m.repeated THEN m.cost_nanos ELSE 0 END), 0) AS BIGINT)
         FROM (
            SELECT e.team, e.workflow, e.cost_nanos, EXISTS (
                SELECT 1 FROM events p
                WHERE p.team = e.team AND p.prompt_fingerprint = e.prompt_fingerprint
                  AND p.ts_ms < e.ts_ms AND p.ts_ms >= e.ts_ms - {w}
                  AND p.outcome = 'ok'
            ) AS repeated
            FROM events e
            WHERE e.cache = 'miss' AND e.prompt_fingerprint IS NOT NULL
              AND e.ts_ms >= {from} AND e.ts_ms < {to}
              AND ({team} IS NULL OR e.team = {team})
         ) m
         GROUP BY m.team, COALESCE(m.workflow, '')
         ORDER BY 5 DESC, 1, 2",
        from = p(1),
        to = p(2),
        w = p(3),
        team = p(4),
    )
}
