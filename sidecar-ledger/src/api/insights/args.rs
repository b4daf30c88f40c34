//! The query string of an insights request: each known parameter at most once, the
//! date range, bucket and choice parameters parsed with errors a person can act on.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;

use crate::error::ApiError;
use crate::insights::{parse_range, Bucket, DayRange};

use super::now::Now;

pub(super) type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Query parameters by name, each at most once, only the known ones.
pub(super) struct Args(HashMap<String, String>);

impl Args {
    pub(super) fn parse(params: Params, known: &[&str]) -> Result<Args, ApiError> {
        let mut out = HashMap::new();
        for (k, v) in params?.0 {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{k}'; expected any of: {}",
                    known.join(", ")
                )));
            }
            if out.insert(k.clone(), v).is_some() {
                return Err(ApiError::bad_request(format!(
                    "'{k}' is given more than once"
                )));
            }
        }
        Ok(Args(out))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(super) fn range(&self, now: &Now) -> Result<DayRange, ApiError> {
        Ok(parse_range(
            self.get("from"),
            self.get("to"),
            now.local,
            ("from", "to"),
            &now.calendar,
        )?)
    }

    /// `name`'s value among `options` (the first when absent), with its name.
    pub(super) fn choice<T: Copy>(
        &self,
        name: &str,
        options: &[(&'static str, T)],
    ) -> Result<(&'static str, T), ApiError> {
        let Some(given) = self.get(name) else {
            return Ok(options[0]);
        };
        options
            .iter()
            .find(|(n, _)| *n == given)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                let (last, rest) = names.split_last().expect("options are not empty");
                ApiError::bad_request(format!(
                    "'{name}' must be {} or {last}, found '{given}'",
                    rest.join(", ")
                ))
            })
    }

    pub(super) fn bucket(&self, default: Bucket, allowed: &[Bucket]) -> Result<Bucket, ApiError> {
        match self.get("bucket") {
            None => Ok(default),
            Some(b) => Bucket::parse(b)
                .filter(|b| allowed.contains(b))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'bucket' must be one of: {}",
                        allowed
                            .iter()
                            .map(|b| b.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
        }
    }
}
