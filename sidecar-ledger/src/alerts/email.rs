//! Email delivery over SMTP (lettre): the server from the config file's
//! `alerts.email`, each field overridable from the environment (`TOLLGATE_SMTP_HOST`,
//! `_PORT`, `_USERNAME`, `_FROM`, `_TLS`), the password from `TOLLGATE_SMTP_PASSWORD`
//! or the mounted file `password_file` (never from the config file, never logged).
//! TLS is STARTTLS by default and required; `tls` is implicit TLS; `none` is for a
//! relay on a trusted network.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use tollgate_core::config::{SmtpConfig, SmtpTls};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A usable SMTP server.
#[derive(Clone)]
pub struct Smtp {
    host: String,
    port: u16,
    tls: SmtpTls,
    from: Mailbox,
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of every log line.
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field("authenticated", &self.credentials.is_some())
            .finish()
    }
}

impl Smtp {
    /// The server the config and the environment (`env(name)`) describe; `Ok(None)`
    /// when no host is given anywhere (email channels then fail with that reason).
    pub fn from_settings(
        config: Option<&SmtpConfig>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Smtp>, String> {
        let base = config.cloned().unwrap_or_default();
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(host) = var("TOLLGATE_SMTP_HOST").or(base.host) else {
            return Ok(None);
        };
        let tls = match var("TOLLGATE_SMTP_TLS").as_deref() {
            None => base.tls.unwrap_or_default(),
            Some("starttls") => SmtpTls::Starttls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                return Err(format!(
                    "TOLLGATE_SMTP_TLS: expected starttls, tls or none, not '{other}'"
                ))
            }
        };
        let port =
            match var("TOLLGATE_SMTP_PORT") {
                Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    format!("TOLLGATE_SMTP_PORT: expected a port number, not '{p}'")
                })?,
                None => base.port.unwrap_or(match tls {
                    SmtpTls::Tls => 465,
                    SmtpTls::Starttls => 587,
                    SmtpTls::None => 25,
                }),
            };
        let from_text = var("TOLLGATE_SMTP_FROM")
            .or(base.from)
            .unwrap_or_else(|| format!("Tollgate <tollgate@{host}>"));
        let from: Mailbox = from_text
            .parse()
            .map_err(|_| format!("SMTP sender: '{from_text}' is not an address"))?;
        let username = var("TOLLGATE_SMTP_USERNAME").or(base.username);
        let password = match (env("TOLLGATE_SMTP_PASSWORD"), &base.password_file) {
            (Some(p), _) if !p.is_empty() => Some(p),
            (_, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("alerts.email.password_file {file}: cannot read: {e}"))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            _ => None,
        };
        let credentials = match (username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => {
                return Err(
                    "SMTP: a username needs a password (TOLLGATE_SMTP_PASSWORD or \
                     alerts.email.password_file) and a password a username"
                        .into(),
                )
            }
        };
        Ok(Some(Smtp {
            host,
            port,
            tls,
            from,
            credentials,
        }))
    }

    /// Sends one plain-text message to comma-separated recipients. The error says what
    /// failed without the password.
    pub fn send(&self, recipients: &str, subject: &str, text: &str) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for r in recipients.split(',').filter(|r| !r.is_empty()) {
            let to: Mailbox = r
                .parse()
                .map_err(|_| format!("'{r}' is not an email address"))?;
            message = message.to(to);
        }
        let message = message
            .body(text.to_string())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        let builder = match self.tls {
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&self.host),
            SmtpTls::Tls => SmtpTransport::relay(&self.host),
            SmtpTls::None => Ok(SmtpTransport::builder_dangerous(&self.host)),
        }
        .map_err(|e| format!("SMTP {}: {e}", self.host))?;
        let mut builder = builder.port(self.port).timeout(Some(TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        builder
            .build()
            .send(&message)
            .map(|_| ())
            .map_err(|e| format!("SMTP {}:{}: {e}", self.host, self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_come_from_the_config_and_the_environment() {
        assert!(Smtp::from_settings(None, env(&[])).unwrap().is_none());
        let config = SmtpConfig {
            host: Some("smtp.example.com".into()),
            from: Some("Tollgate <alerts@example.com>".into()),
            ..SmtpConfig::default()
        };
        let s = Smtp::from_settings(Some(&config), env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("smtp.example.com", 587, SmtpTls::Starttls)
        );
        assert_eq!(s.from.email.to_string(), "alerts@example.com");
        let s = Smtp::from_settings(
            Some(&config),
            env(&[
                ("TOLLGATE_SMTP_HOST", "127.0.0.1"),
                ("TOLLGATE_SMTP_PORT", "2525"),
                ("TOLLGATE_SMTP_TLS", "none"),
                ("TOLLGATE_SMTP_USERNAME", "u"),
                ("TOLLGATE_SMTP_PASSWORD", "hunter2"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, SmtpTls::None)
        );
        assert!(
            !format!("{s:?}").contains("hunter2"),
            "the password is never shown"
        );
        for bad in [
            &[("TOLLGATE_SMTP_HOST", "h"), ("TOLLGATE_SMTP_TLS", "ssl")][..],
            &[("TOLLGATE_SMTP_HOST", "h"), ("TOLLGATE_SMTP_PORT", "0")],
            &[("TOLLGATE_SMTP_HOST", "h"), ("TOLLGATE_SMTP_USERNAME", "u")],
            &[
                ("TOLLGATE_SMTP_HOST", "h"),
                ("TOLLGATE_SMTP_FROM", "nobody"),
            ],
        ] {
            let owned: &'static [(&str, &str)] = Box::leak(bad.to_vec().into_boxed_slice());
            assert!(Smtp::from_settings(None, env(owned)).is_err(), "{bad:?}");
        }
    }
}
