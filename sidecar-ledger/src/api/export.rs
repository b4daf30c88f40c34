//! `GET /v1/export`: finance exports (CSV, JSON Lines, FOCUS 1.2), streamed.
//!
//! A blocking task reads the store and writes rows into a [`ChannelWriter`], which
//! hands ~64 KiB chunks to the response body through a bounded channel. A slow client
//! therefore slows the reader down instead of growing a buffer, and a client that
//! goes away stops it (the next send fails). Memory per export is a few chunks.
//!
//! Errors before the first chunk is ready (a bad database, say) are ordinary JSON
//! errors; after it, the status is already sent, so the body is cut short and the
//! connection reset: the client sees a transfer error, never a truncated file that
//! looks whole.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::blocking::reporting_calendar;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::export::{self, ExportError};
use crate::state::AppState;

/// Bytes gathered before a chunk is handed to the body.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the reader and the client.
const CHUNKS_IN_FLIGHT: usize = 4;

type Chunk = Result<Bytes, io::Error>;

/// An `io::Write` that sends what is written as body chunks.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.send(Ok(Bytes::from(chunk)))
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send_buffered()?;
        }
        Ok(data.len())
    }

    /// Writers flush when they finish; the chunk goes out then (or when full).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The response body: the first chunk (already received), then the channel, then
/// the producer's fate: a producer that panicked cuts the body instead of letting it
/// end as if complete.
struct ChunkStream {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Chunk>,
    producer: Option<JoinHandle<()>>,
}

impl futures_core::Stream for ChunkStream {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {}
            other => return other,
        }
        let Some(producer) = self.producer.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(producer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.producer = None;
                Poll::Ready(result.err().map(|e| Err(io::Error::other(e.to_string()))))
            }
        }
    }
}

pub async fn get_export(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = params?.0;
    let calendar = reporting_calendar(&state).await?;
    let request = export::parse_request(&params, now_ms(), &calendar)?;
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    let req = request.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = export::write_export(store.as_ref(), &req, &export::price_table(), &mut out)
            .and_then(|()| out.send_buffered().map_err(ExportError::Write));
        match result {
            Ok(()) => {}
            Err(ExportError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                tracing::debug!("export abandoned by the client");
            }
            Err(e) => {
                tracing::error!(error = %e, "export failed");
                let _ = out.send(Err(io::Error::other(e.to_string())));
            }
        }
    });

    let mut producer = Some(producer);
    // Wait for the first chunk so a failure before any row is an HTTP error.
    let first = match rx.recv().await {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(e)) => return Err(ApiError::internal(format!("export failed: {e}"))),
        None => {
            // Finished without a byte (an empty JSON Lines export) or died.
            let finished = match producer.take() {
                Some(handle) => handle.await,
                None => Ok(()),
            };
            if let Err(e) = finished {
                tracing::error!(error = %e, "export task failed");
                return Err(ApiError::internal("export task failed"));
            }
            None
        }
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            request.format.content_type().to_string(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", request.file_name()),
        ),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    let body = Body::from_stream(ChunkStream {
        first,
        rx,
        producer,
    });
    Ok((headers, body).into_response())
}
