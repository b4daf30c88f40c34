//! Provider endpoint URLs, split into what an Envoy cluster needs.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses `http[s]://host[:port][/]`. Paths are not supported: providers are called
    /// at their standard API paths.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("'{url}' must start with http:// or https://"));
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.contains('@') {
            return Err(format!(
                "'{url}' must be a scheme and host only, without a path"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("'{url}' has an invalid port"))?,
            ),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        Ok(Endpoint {
            tls,
            host: host.to_string(),
            port,
        })
    }

    /// Parses a base URL that may carry a path (`https://api.groq.com/openai/v1`):
    /// the endpoint and the path, without a trailing `/` (empty for none).
    pub fn parse_base(url: &str) -> Result<(Endpoint, String), String> {
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let (origin, path) = match url[after_scheme..].find('/') {
            Some(i) => url.split_at(after_scheme + i),
            None => (url, ""),
        };
        if path.contains(['?', '#', '@']) {
            return Err(format!("'{url}' must not carry a query or credentials"));
        }
        Ok((
            Endpoint::parse(origin)?,
            path.trim_end_matches('/').to_string(),
        ))
    }

    /// The `Host` header value to send.
    pub fn authority(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let e = Endpoint::parse("https://api.openai.com").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (true, "api.openai.com", 443)
        );
        assert_eq!(e.authority(), "api.openai.com");
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!((e.tls, e.port), (false, 9000));
        assert_eq!(e.authority(), "127.0.0.1:9000");
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://x/v1").is_err());
        assert!(Endpoint::parse("http://:80").is_err());
        assert!(Endpoint::parse("http://x:99999").is_err());
    }

    #[test]
    fn parses_base_urls_with_paths() {
        let (e, path) = Endpoint::parse_base("https://api.groq.com/openai/v1/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, path.as_str()),
            ("api.groq.com", 443, "/openai/v1")
        );
        let (e, path) = Endpoint::parse_base("http://127.0.0.1:11434").unwrap();
        assert_eq!((e.port, path.as_str()), (11434, ""));
        assert!(Endpoint::parse_base("http://x/v1?key=1").is_err());
        assert!(Endpoint::parse_base("vllm:8000/v1").is_err());
    }
}
