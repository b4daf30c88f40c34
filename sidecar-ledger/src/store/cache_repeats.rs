//! Cache misses that repeated, under normalisation, an answer stored within the cache's
//! lifetime (flagged by the filter as `near_repeat`): what normalised matching would
//! have answered, by team and workflow. One definition of the query for both backends;
//! it reads only the flagged events (a partial index), so its cost follows the repeats,
//! not the traffic.

/// Near-repeat misses of one team and workflow in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatMisses {
    pub team: String,
    /// `""` for requests without a workflow.
    pub workflow: String,
    pub repeats: i64,
    /// What the repeats cost.
    pub repeat_cost_nanos: i64,
}

/// The query. `placeholder(i)` spells parameter `i` (1 from, 2 to, 3 team or NULL for
/// every team); `flagged` is the backend's spelling of the partial index's predicate.
pub(crate) fn sql(placeholder: impl Fn(usize) -> String, flagged: &str) -> String {
    let p = |i| placeholder(i);
    format!(
        "SELECT team, COALESCE(workflow, ''), CAST(COUNT(*) AS BIGINT),
                CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT)
         FROM events
         WHERE {flagged} AND ts_ms >= {from} AND ts_ms < {to}
           AND ({team} IS NULL OR team = {team})
         GROUP BY team, COALESCE(workflow, '')
         ORDER BY 4 DESC, 1, 2",
        from = p(1),
        to = p(2),
        team = p(3),
    )
}
