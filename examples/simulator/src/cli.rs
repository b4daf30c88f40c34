//! Command-line options. Every option has a default so `tollgate-sim` alone serves the
//! demo setup; tests pass `--listen 127.0.0.1:0` and read the bound address from stdout.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "tollgate-sim",
    version,
    about = "Simulates the OpenAI, Anthropic, Azure OpenAI, Gemini and Bedrock Converse APIs with deterministic answers and usage"
)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// Key the OpenAI endpoints accept as `Authorization: Bearer <key>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_OPENAI_KEY",
        default_value = "sk-sim-openai",
        hide_env_values = true
    )]
    pub openai_key: String,

    /// Key the Anthropic endpoints accept as `x-api-key: <key>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_ANTHROPIC_KEY",
        default_value = "sk-sim-anthropic",
        hide_env_values = true
    )]
    pub anthropic_key: String,

    /// Key the Azure OpenAI endpoints (`/openai/...`) accept as `api-key: <key>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_AZURE_KEY",
        default_value = "sim-azure-key",
        hide_env_values = true
    )]
    pub azure_key: String,

    /// Microsoft Entra ID token the Azure OpenAI endpoints accept as
    /// `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_AZURE_ENTRA_TOKEN",
        default_value = "sim-azure-entra-token",
        hide_env_values = true
    )]
    pub azure_entra_token: String,

    /// Key the Gemini API endpoints accept as `x-goog-api-key: <key>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_GEMINI_KEY",
        default_value = "sim-gemini-key",
        hide_env_values = true
    )]
    pub gemini_key: String,

    /// Token the Vertex AI endpoints accept as `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "TOLLGATE_SIM_VERTEX_TOKEN",
        default_value = "sim-vertex-token",
        hide_env_values = true
    )]
    pub vertex_token: String,

    /// Access key id Bedrock requests must be signed with (AWS Signature Version 4).
    #[arg(
        long,
        env = "TOLLGATE_SIM_AWS_ACCESS_KEY_ID",
        default_value = "AKIDSIMBEDROCK0EXAMPLE"
    )]
    pub aws_access_key_id: String,

    /// Secret access key Bedrock signatures are verified with.
    #[arg(
        long,
        env = "TOLLGATE_SIM_AWS_SECRET_ACCESS_KEY",
        default_value = "sim/bedrock+secret/EXAMPLEKEY",
        hide_env_values = true
    )]
    pub aws_secret_access_key: String,

    /// Delay added before every provider answer (the `x-sim-latency-ms` header overrides it).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,

    /// Fraction (0..=1) of provider requests answered with an injected 500. Deterministic:
    /// request n fails when floor(n * rate) moves past floor((n - 1) * rate).
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
}

impl Cli {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_demo_setup() {
        let cli = Cli::try_parse_from(["tollgate-sim"]).unwrap();
        assert_eq!(cli.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(cli.latency(), Duration::ZERO);
        assert_eq!(cli.error_rate, 0.0);
    }

    #[test]
    fn error_rate_must_be_a_fraction() {
        assert!(Cli::try_parse_from(["tollgate-sim", "--error-rate", "0.25"]).is_ok());
        assert!(Cli::try_parse_from(["tollgate-sim", "--error-rate", "1.5"]).is_err());
        assert!(Cli::try_parse_from(["tollgate-sim", "--error-rate", "-0.1"]).is_err());
    }
}
