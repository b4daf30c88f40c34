//! `tollgate-ledger export`: asks the running ledger for `GET /v1/export` and streams
//! the answer to a file or stdout as it arrives, so the command's memory is constant
//! too. A file is written as `FILE.partial` and renamed only once the whole export
//! arrived: a cut connection never leaves a plausible-looking truncated file. With
//! `--token` (or `TOLLGATE_TOKEN`) it works against a ledger that requires tokens
//! (the default).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use super::ledger_client::LedgerConn;
use crate::export::{Format, Grain};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Start (inclusive): RFC 3339 (`2026-11-01T00:00:00Z`), a UTC date
    /// (`2026-11-01`) or Unix ms. Rounded down to the hour, as the dashboard does.
    #[arg(long)]
    from: String,
    /// End (exclusive), same forms as --from; rounded up to the hour.
    #[arg(long)]
    to: String,
    /// Only this team (wallet); all teams when omitted.
    #[arg(long)]
    team: Option<String>,
    /// One row per request, or per UTC day or calendar month.
    #[arg(long, value_enum, default_value_t = Grain::Day)]
    grain: Grain,
    /// CSV, JSON Lines, or FOCUS 1.2 CSV (day or month grain).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    conn: LedgerConn,
}

pub fn run(args: &ExportArgs) -> ExitCode {
    match export(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger export: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn export(args: &ExportArgs) -> Result<(), String> {
    let conn = &args.conn;
    let base = conn.base();
    let agent = conn.agent();
    let mut request = conn
        .authorize(agent.get(format!("{base}/v1/export")))
        .query("from", &args.from)
        .query("to", &args.to)
        .query("grain", args.grain.name())
        .query("format", args.format.name());
    if let Some(team) = &args.team {
        request = request.query("team", team);
    }
    let response = request
        .call()
        .map_err(|e| format!("cannot reach the ledger at {base}: {e}"))?;
    let status = response.status();
    let mut body = response.into_body().into_reader();
    if !status.is_success() {
        let mut text = String::new();
        let _ = body.take(64 * 1024).read_to_string(&mut text);
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        return Err(conn.refusal(status, &message));
    }
    match &args.out {
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            io::copy(&mut body, &mut out)
                .and_then(|_| out.flush())
                .map_err(|e| format!("export interrupted: {e}"))?;
        }
        Some(path) => {
            let bytes = write_file(path, &mut body)?;
            eprintln!(
                "tollgate-ledger export: wrote {bytes} bytes to {}",
                path.display()
            );
        }
    }
    Ok(())
}

/// Streams `body` into `path` via `path.partial`; the partial file is removed on
/// failure.
fn write_file(path: &Path, body: &mut dyn Read) -> Result<u64, String> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = (|| -> io::Result<u64> {
        let mut out = BufWriter::new(File::create(&partial)?);
        let n = io::copy(body, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&partial, path)?;
        Ok(n)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&partial);
        format!("export to {} failed: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::TempDir;

    /// A body that delivers some bytes, then fails like a cut connection.
    struct Cut(usize);

    impl Read for Cut {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection reset",
                ));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_cut_download_leaves_no_file_and_a_whole_one_is_renamed_into_place() {
        let dir = TempDir::new();
        let path = dir.path().join("out.csv");
        let err = write_file(&path, &mut Cut(100_000)).unwrap_err();
        assert!(err.contains("connection reset"), "{err}");
        assert!(!path.exists());
        assert!(!dir.path().join("out.csv.partial").exists());

        let n = write_file(&path, &mut &b"a,b\n1,2\n"[..]).unwrap();
        assert_eq!(n, 8);
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
        assert!(!dir.path().join("out.csv.partial").exists());
    }
}
