//! tollgate-sim: a stand-in for the OpenAI, Anthropic, Azure OpenAI, Gemini (and Vertex AI) and Bedrock Converse APIs. It speaks their real
//! wire formats (so the official SDKs accept its answers unchanged), answers
//! deterministically (so tests can predict usage and cost), and takes `x-sim-*`
//! headers to inject cache usage, latency and failures. It is also the upstream for
//! throughput benchmarks, so answers are built without delays or heavy work.

mod anthropic;
mod azure;
mod bedrock;
mod cli;
mod control;
mod exchange;
mod gemini;
mod inspect;
mod openai;
mod output;
mod schema_instance;
mod sse;
mod state;
mod usage;

use std::io::Write;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::Cli;
use crate::state::Sim;

/// Large prompts are fine; the default 2 MB body limit is not a provider's.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::new(Sim::new(&cli)));

    // Scripts wait for this exact line on stdout, so flush it straight away.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "tollgate-sim listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(%addr, latency_ms = cli.latency_ms, error_rate = cli.error_rate, "serving");

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route(openai::chat::PATH, post(openai::chat::create))
        .route(openai::responses::PATH, post(openai::responses::create))
        .route(openai::completions::PATH, post(openai::completions::create))
        .route(openai::embeddings::PATH, post(openai::embeddings::create))
        .route(openai::images::PATH, post(openai::images::create))
        .route(openai::realtime::PATH, get(openai::realtime::connect))
        .route(anthropic::PATH, post(anthropic::create_message))
        .route(anthropic::COUNT_TOKENS_PATH, post(anthropic::count_tokens))
        .route(gemini::GEMINI_ROUTE, post(gemini::gemini_api))
        .route(gemini::GEMINI_V1_ROUTE, post(gemini::gemini_api_v1))
        .route(gemini::VERTEX_ROUTE, post(gemini::vertex))
        .route(bedrock::CONVERSE_PATH, post(bedrock::converse))
        .route(
            bedrock::CONVERSE_STREAM_PATH,
            post(bedrock::converse_stream),
        )
        .route(exchange::MODELS_PATH, get(list_models))
        .merge(azure::routes())
        .route("/healthz", get(inspect::healthz))
        .route("/_sim/last", get(inspect::last))
        .route("/_sim/stats", get(inspect::stats))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sim)
}

async fn list_models(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if anthropic::is_addressed_to_anthropic(&headers) {
        anthropic::models(&sim, &headers).await
    } else {
        openai::models(&sim, &headers).await
    }
}

/// Resolves on SIGINT or SIGTERM; in-flight answers finish, then the server exits.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
