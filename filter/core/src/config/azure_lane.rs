//! The fields of an `azure_openai` lane: what each must hold, and the filter's view
//! of them. Other lanes must leave them out.

use super::schema::{ProviderKind, Target};
use crate::azure::{AzureUpstream, V1_API};
use crate::endpoint::Endpoint;

/// Azure names a deployment with letters, digits, `-`, `_` and `.` (at most 64).
fn is_deployment_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `2024-10-21`, `2025-04-01-preview`, or `v1`: safe to put in a query as it is.
fn is_api_version(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Problems with one lane's Azure fields, as (field, message) pairs.
pub fn problems(t: &Target) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if t.provider != ProviderKind::AzureOpenai {
        for (field, set) in [
            ("deployment", t.deployment.is_some()),
            ("api_version", t.api_version.is_some()),
            ("auth", t.auth.is_some()),
        ] {
            if set {
                out.push((field, "only azure_openai lanes take this field".to_string()));
            }
        }
        return out;
    }
    match t.base_url.as_deref() {
        None => out.push((
            "base_url",
            "expected the Azure OpenAI resource endpoint (e.g. https://myres.openai.azure.com)"
                .to_string(),
        )),
        Some(url) => match Endpoint::parse_base(url) {
            Err(_) => out.push((
                "base_url",
                format!("expected an http:// or https:// URL with a host, found '{url}'"),
            )),
            Ok((_, path)) if path.ends_with("/openai") || path.contains("/openai/") => {
                out.push((
                    "base_url",
                    format!(
                        "expected the resource endpoint without /openai (Tollgate adds the API path), found '{url}'"
                    ),
                ))
            }
            Ok(_) => {}
        },
    }
    match t.deployment.as_deref() {
        None => out.push((
            "deployment",
            "expected the name of the Azure OpenAI deployment this lane calls".to_string(),
        )),
        Some(d) if !is_deployment_name(d) => out.push((
            "deployment",
            format!("expected 1-64 letters, digits, '-', '_' or '.', found '{d}'"),
        )),
        Some(_) => {}
    }
    match t.api_version.as_deref() {
        None => out.push((
            "api_version",
            format!(
                "expected the Azure OpenAI api-version (e.g. 2024-10-21), or '{V1_API}' for the v1 API"
            ),
        )),
        Some(v) if !is_api_version(v) => out.push((
            "api_version",
            format!("expected an api-version such as 2024-10-21 or '{V1_API}', found '{v}'"),
        )),
        Some(_) => {}
    }
    out
}

/// The filter's view of an Azure lane (`None` for other lanes).
pub fn upstream(t: &Target) -> Result<Option<AzureUpstream>, String> {
    if t.provider != ProviderKind::AzureOpenai {
        return Ok(None);
    }
    match (&t.deployment, &t.api_version) {
        (Some(deployment), Some(api_version)) => Ok(Some(AzureUpstream {
            deployment: deployment.clone(),
            api_version: api_version.clone(),
            auth: t.auth.unwrap_or_default(),
        })),
        _ => Err(format!(
            "lane '{}' needs a deployment and an api_version",
            t.id
        )),
    }
}
