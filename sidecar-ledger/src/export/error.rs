//! Why an export stopped: the store failed, or the output did.

use std::fmt;
use std::io;

use crate::store::StoreError;

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    Store(StoreError),
    /// The output failed (for HTTP: usually the client went away).
    Write(io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Store(e) => write!(f, "{e}"),
            ExportError::Write(e) => write!(f, "cannot write the export: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

impl From<io::Error> for ExportError {
    fn from(e: io::Error) -> Self {
        ExportError::Write(e)
    }
}
