//! Answering from the shared response cache, and storing a fresh answer in it.

use std::rc::Rc;

use proxy_wasm::types::Action;
use tollgate_core::cache::{
    cache_key, client_bypasses, is_nondeterministic, normalized_key, Bypass, Entry,
};
use tollgate_core::config::filter_config::GroupEntry;
use tollgate_core::config::MatchStrategy;
use tollgate_core::event::{ApiKind, CacheStatus};
use tollgate_core::stream_filter::strip_usage_chunks;

use crate::host;
use crate::host::now_ms;
use crate::response_cache::{self, Lookup};

use super::{
    group_of, CacheStore, Prepared, RequestFlow, HEADER_CACHE, HEADER_COST, HEADER_LANE,
    HEADER_REQUEST_ID,
};

/// Whether the cache may answer `group`'s requests to `api`: free calls (token
/// counting) gain nothing from it.
pub(super) fn cache_answers(group: &GroupEntry, api: ApiKind) -> bool {
    group.cache_enabled && !api.is_free()
}

impl RequestFlow {
    /// Serves a fresh cached answer locally, or notes that the answer may be stored.
    pub(super) fn answer_from_cache(&mut self, prepared: &Prepared) -> Option<Action> {
        let rt = Rc::clone(&self.rt);
        let group = group_of(&rt, self.record.as_ref())?;
        let group_name = group.name.as_str();
        let cache = &rt.config.cache;
        if !cache_answers(group, prepared.parsed.api) {
            return None;
        }
        let bypass = if client_bypasses(self.header("cache-control")) {
            Some(Bypass::ClientAsked)
        } else if cache.skip_nondeterministic && is_nondeterministic(prepared.parsed.body()) {
            Some(Bypass::Nondeterministic)
        } else {
            None
        };
        if bypass.is_some() {
            if let Some(r) = self.record.as_mut() {
                r.cache = CacheStatus::Bypass;
            }
            return None;
        }
        let shared_by = (!cache.share_across_groups).then_some(group_name);
        let parsed = &prepared.parsed;
        let model = prepared.lane.model.as_str();
        let workflow = self.record.as_ref().and_then(|r| r.workflow.as_deref());
        let by_policy = rt.team_policy(&group.team).is_some_and(|set| {
            set.team(&group.team)
                .is_some_and(|p| p.normalized_cache(workflow))
        });
        // Embeddings are cached exactly: a normalised input is another input, with
        // other vectors.
        let exact_only = parsed.api == ApiKind::Embeddings;
        let matched_normalized =
            !exact_only && (cache.match_strategy == MatchStrategy::Normalized || by_policy);
        let exact = cache_key(parsed.api, model, shared_by, parsed.body());
        let normalized_of = || normalized_key(&exact, parsed.api, model, shared_by, parsed.body());
        // The normalised key only where it is used: as the key, or on a miss (to flag a
        // near-repeat and to remember the stored answer). An exact hit never needs it.
        let normalized = matched_normalized.then(normalized_of);
        let key = normalized.unwrap_or(exact);
        let now = prepared.planned_ms;
        let ttl = group.cache_ttl_seconds;
        let entry = match response_cache::lookup(cache, &key, now) {
            Lookup::Hit(entry) => entry,
            Lookup::Miss(seen) => {
                self.rt.tick_buffer.count(self.rt.cache_metrics.misses, 1);
                let normalized = normalized.unwrap_or_else(normalized_of);
                let near_repeat = !matched_normalized
                    && !exact_only
                    && response_cache::near_repeat(cache, &normalized, now, i64::from(ttl) * 1000);
                if let Some(r) = self.record.as_mut() {
                    r.cache = CacheStatus::Miss;
                    r.near_repeat = near_repeat;
                }
                self.cache_store = Some(CacheStore {
                    key,
                    normalized,
                    ttl,
                    seen,
                });
                return None;
            }
        };
        self.rt.tick_buffer.count(self.rt.cache_metrics.hits, 1);
        let record = self.record.as_mut()?;
        record.cache = CacheStatus::Hit;
        record.cost_avoided_nanos = entry.cost_nanos;
        record.response_status = Some(200);
        record.response_complete = true;
        record.response_bytes = entry.body.len();
        let age = ((now - entry.stored_ms).max(0) / 1000).to_string();
        let id = record.id.clone();
        let headers = [
            ("content-type", entry.content_type.as_str()),
            (HEADER_REQUEST_ID, id.as_str()),
            (HEADER_LANE, prepared.lane.id.as_str()),
            (HEADER_CACHE, "hit"),
            ("age", age.as_str()),
            (HEADER_COST, "0.00"),
        ];
        // Stored streams keep the usage chunk Tollgate asked for; a client that did not
        // ask for it does not get it from the cache either.
        let replay = if entry.content_type.starts_with("text/event-stream")
            && prepared.parsed.adds_stream_usage()
        {
            std::borrow::Cow::Owned(strip_usage_chunks(&entry.body))
        } else {
            std::borrow::Cow::Borrowed(entry.body.as_slice())
        };
        if let Err(status) = host::send_response(200, &headers, &replay) {
            log::warn!("tollgate: cannot answer from cache: {status:?}");
            return None;
        }
        self.served_from_cache = true;
        Some(Action::Pause)
    }

    /// Stores a complete, successful answer for later identical requests.
    /// `cost_nanos` is what the answer cost (a later hit records it as avoided).
    pub(super) fn store_in_cache(&mut self, body: &[u8], content_type: String, cost_nanos: i64) {
        let Some(CacheStore {
            key,
            normalized,
            ttl,
            seen,
        }) = self.cache_store.take()
        else {
            return;
        };
        let Some(record) = self.record.as_ref() else {
            return;
        };
        if record.response_status != Some(200) {
            return; // errors are never cached
        }
        let now = now_ms();
        let entry = Entry {
            key,
            stored_ms: now,
            expires_ms: now + i64::from(ttl) * 1000,
            cost_nanos,
            content_type,
            body: body.to_vec(),
        };
        response_cache::store(
            &self.rt.config.cache,
            &entry,
            seen,
            now,
            &self.rt.cache_metrics,
            &self.rt.tick_buffer,
        );
        response_cache::remember_normalized(&self.rt.config.cache, &normalized, now);
    }
}
