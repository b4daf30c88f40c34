//! Endpoints Tollgate does not govern itself (images, audio, files, batches, ...):
//! refused, or passed through to the provider with a lane's credential as the
//! configuration says (`other_endpoints`, decided in `core/src/other_endpoints.rs`).
//! A passed-through request is attributed and counted; its answer is priced only when
//! it reports usage of a priced model, and otherwise recorded as `unpriced`.

use std::rc::Rc;

use proxy_wasm::types::{Action, MapType};
use tollgate_core::accounting::ServedBy;
use tollgate_core::config::filter_config::GroupEntry;
use tollgate_core::config::EndpointPolicy;
use tollgate_core::event::ApiKind;
use tollgate_core::headers;
use tollgate_core::money::format_usd;
use tollgate_core::other_endpoints::{
    policy_for, protocols_without_keys, provider_for, realtime_model, Family,
};
use tollgate_core::refusal::LocalError;

use crate::host;
use crate::host::now_ms;
use crate::wallet;

use super::upstream::credential_headers;
use super::{RequestFlow, CLIENT_ONLY_HEADERS, HEADER_PROVIDER};

const SUBPROTOCOLS: &str = "sec-websocket-protocol";

/// The endpoints Tollgate governs, for refusals of every other one.
const GOVERNED: &str = "POST /v1/chat/completions, /v1/responses, /v1/messages, /v1/embeddings, /v1/completions and /v1/messages/count_tokens, and GET /v1/models";

impl RequestFlow {
    /// A request to an endpoint Tollgate does not govern: refused, or sent on as it is.
    pub(super) fn other_endpoint(&mut self, group: &GroupEntry, path: &str) -> Action {
        let Some(family) = Family::of(path) else {
            return self.refuse_unsupported(path);
        };
        match policy_for(&self.rt.config.other_endpoints, family) {
            EndpointPolicy::Refuse if family.is_batch() => self.refuse(
                LocalError::BatchNotGoverned,
                &format!(
                    "Batch jobs are not governed by Tollgate: they are billed later, at batch rates, for work this gateway never sees, so {path} is refused. Ask your Tollgate admin to set `other_endpoints.batches: passthrough` to send them unpriced."
                ),
            ),
            EndpointPolicy::Refuse => self.refuse_unsupported(path),
            EndpointPolicy::Passthrough => self.pass_through(group, family, path),
        }
    }

    fn refuse_unsupported(&mut self, path: &str) -> Action {
        let msg = format!("Tollgate serves {GOVERNED}, not {path}");
        self.refuse(LocalError::UnsupportedEndpoint, &msg)
    }

    /// Sends the request to its provider with the credential of the first lane of that
    /// provider the group may use; the body goes as it is, unread.
    fn pass_through(&mut self, group: &GroupEntry, family: Family, path: &str) -> Action {
        let rt = Rc::clone(&self.rt);
        let anthropic_version = self.header("anthropic-version").map(str::to_string);
        let provider = provider_for(path, anthropic_version.is_some());
        let allowed = |id: &str| {
            group
                .allowed_lanes
                .as_ref()
                .is_none_or(|a| a.iter().any(|l| l == id))
        };
        let Some(lane) = rt
            .config
            .lanes
            .iter()
            .find(|l| l.provider == provider && allowed(&l.id))
        else {
            let msg = format!(
                "no {} lane is allowed for consumer group '{}' to carry {path}",
                provider.as_str(),
                group.name
            );
            return self.refuse(LocalError::NoLane, &msg);
        };
        // Nothing is reserved (the cost is not known up front), but a wallet the ledger
        // reported empty moments ago pays for nothing more.
        if rt.config.wallet_enforcement {
            if let Some(available) = wallet::recently_exhausted(&group.team, now_ms()) {
                let msg = format!(
                    "Wallet '{}' is exhausted (${} available to this gateway). Ask your Tollgate admin to allocate more to the wallet.",
                    group.team,
                    format_usd(available.max(0))
                );
                return self.refuse(LocalError::WalletExhausted, &msg);
            }
        }
        let Some(credential) = rt.credential(lane) else {
            let msg = format!(
                "provider credential for lane '{}' is not configured",
                lane.id
            );
            return self.refuse(LocalError::Internal, &msg);
        };
        self.style = provider;
        self.websocket = family == Family::Realtime
            && self
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if let Some(r) = self.record.as_mut() {
            r.api = ApiKind::Passthrough;
            if self.websocket {
                // A session's events name no model: the one it asked for prices it.
                r.usage.model = realtime_model(path).map(str::to_string);
                r.stream = true;
            }
            r.never_priced = family.is_batch();
            r.served_by = Some(ServedBy {
                provider: provider.as_str().to_string(),
                lane: lane.id.clone(),
                model: lane.model.clone(),
                fixed_cost: false,
            });
        }
        let mut set: Vec<(String, String)> = vec![
            (":authority".into(), lane.authority.clone()),
            (HEADER_PROVIDER.into(), provider.as_str().into()),
        ];
        set.extend(
            credential_headers(provider, credential, anthropic_version.as_deref())
                .into_iter()
                .map(|(name, value)| (name.to_string(), value)),
        );
        let mut remove = CLIENT_ONLY_HEADERS.to_vec();
        // A key offered as a WebSocket subprotocol is the client's too.
        match self.header(SUBPROTOCOLS).and_then(protocols_without_keys) {
            Some(kept) if kept.is_empty() => remove.push(SUBPROTOCOLS),
            Some(kept) => set.push((SUBPROTOCOLS.into(), kept)),
            None => {}
        }
        let set: Vec<(&str, &str)> = set.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let changes = headers::Changes::between(&self.request_headers, &remove, &set);
        if host::apply_changes(MapType::HttpRequestHeaders, &changes).is_err() {
            return self.refuse(
                LocalError::Internal,
                "Tollgate could not prepare the upstream request",
            );
        }
        self.passthrough = true;
        Action::Continue
    }
}
