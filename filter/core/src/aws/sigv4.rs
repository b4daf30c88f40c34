//! AWS Signature Version 4 for requests signed in headers (`Authorization`), as AWS
//! documents it ("Create a signed AWS API request"): a canonical request, a string to
//! sign under a date/region/service scope, and an HMAC-SHA256 chain from the secret.
//!
//! The caller passes the headers it will send (`host` among them) and the clock's
//! time; [`sign`] returns the headers to add. Secrets are only ever inputs here: the
//! signature is what leaves.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// One set of AWS credentials. The session token is set for temporary credentials
/// (STS, instance roles) and travels as `x-amz-security-token`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The access key id is an identifier, not a secret; the rest never prints.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What is signed: the request as it will be sent.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (already percent-encoded where it needs to be).
    pub path: &'a str,
    /// The query string as sent, without `?` (empty for none).
    pub query: &'a str,
    /// The headers to sign, `host` included; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Where and when the request is signed.
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`, UTC (see [`amz_date`]).
    pub amz_date: &'a str,
    /// Also send and sign `x-amz-content-sha256` (S3 requires it; others accept it).
    pub content_sha256_header: bool,
}

/// The headers to add to the request: `x-amz-date`, `x-amz-content-sha256` when asked
/// for, `x-amz-security-token` for temporary credentials, and `authorization`.
pub fn sign(
    creds: &Credentials,
    scope: &Scope<'_>,
    req: &Request<'_>,
) -> Vec<(&'static str, String)> {
    let payload_hash = payload_hash(req.payload);
    let mut added = vec![("x-amz-date", scope.amz_date.to_string())];
    if scope.content_sha256_header {
        added.push(("x-amz-content-sha256", payload_hash.clone()));
    }
    if let Some(token) = creds.session_token.as_deref().filter(|t| !t.is_empty()) {
        added.push(("x-amz-security-token", token.to_string()));
    }
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(n, v)| (*n, v.as_str())));
    let signed = Request {
        headers: &all,
        ..*req
    };
    let (credential_scope, signed_headers, signature) =
        signature(&creds.secret_access_key, scope, &signed, &payload_hash);
    added.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    added
}

/// The credential scope, the `SignedHeaders` list and the signature of `req`, whose
/// headers are exactly those signed (`x-amz-date` among them), with `payload_hash`
/// the hex SHA-256 of the body. A verifier (the simulator) recomputes it from a
/// received request with this.
pub fn signature(
    secret_access_key: &str,
    scope: &Scope<'_>,
    req: &Request<'_>,
    payload_hash: &str,
) -> (String, String, String) {
    let (canonical_headers, signed_headers) = canonical_headers(req.headers);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let date = &scope.amz_date[..scope.amz_date.len().min(8)];
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}",
        scope.amz_date,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(secret_access_key, date, scope.region, scope.service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    (credential_scope, signed_headers, signature)
}

/// Hex SHA-256 of a payload, as signed.
pub fn payload_hash(payload: &[u8]) -> String {
    hex(&Sha256::digest(payload))
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time in milliseconds.
pub fn amz_date(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (y, m, d) = crate::config::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase names, sorted, values trimmed with inner runs of spaces folded to one;
/// a repeated name's values joined by commas in the order given.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        let folded = value.split_whitespace().collect::<Vec<_>>().join(" ");
        by_name
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(folded);
    }
    let canonical = by_name
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.join(",")))
        .collect();
    let signed = by_name.keys().cloned().collect::<Vec<_>>().join(";");
    (canonical, signed)
}

/// Every path segment URI-encoded (again, for a path already encoded: AWS services
/// other than S3 sign the path encoded twice).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters sorted by encoded name then value; a name alone gets `=`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k), uri_encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding: unreserved characters as they are, every other byte `%XX`.
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases of AWS's Signature Version 4 test suite (as published in
    // awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<name>/), signed in headers.
    const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
    const WHEN: &str = "20150830T123600Z";

    fn suite_creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        }
    }

    fn authorization(
        creds: &Credentials,
        req: &Request<'_>,
        content_sha256_header: bool,
    ) -> Vec<(&'static str, String)> {
        let scope = Scope {
            region: "us-east-1",
            service: "service",
            amz_date: WHEN,
            content_sha256_header,
        };
        sign(creds, &scope, req)
    }

    fn header<'a>(added: &'a [(&str, String)], name: &str) -> &'a str {
        &added.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn get(path: &str, method: &str, headers: &[(&str, &str)]) -> String {
        let req = Request {
            method,
            path,
            query: "",
            headers,
            payload: b"",
        };
        header(
            &authorization(&suite_creds(None), &req, false),
            "authorization",
        )
        .to_string()
    }

    #[test]
    fn get_vanilla() {
        assert_eq!(
            get("/", "GET", &[HOST]),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn post_vanilla() {
        assert!(get("/", "POST", &[HOST]).ends_with(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        ));
    }

    #[test]
    fn post_header_key_sort() {
        assert!(get("/", "POST", &[HOST, ("My-Header1", "value1")]).ends_with(
            "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        ));
    }

    #[test]
    fn get_utf8_path_is_encoded() {
        assert!(get("/\u{1234}", "GET", &[HOST]).ends_with(
            "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
        ));
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let req = Request {
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &[HOST],
            payload: b"",
        };
        let added = authorization(&suite_creds(None), &req, false);
        assert!(header(&added, "authorization").ends_with(
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ));
    }

    #[test]
    fn get_vanilla_with_session_token() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &[HOST],
            payload: b"",
        };
        let added = authorization(&suite_creds(Some(token)), &req, false);
        assert_eq!(header(&added, "x-amz-security-token"), token);
        assert!(header(&added, "authorization").ends_with(
            "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        ));
    }

    #[test]
    fn post_x_www_form_urlencoded_signs_the_body() {
        let req = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                HOST,
                ("Content-Length", "13"),
            ],
            payload: b"Param1=value1",
        };
        let added = authorization(&suite_creds(None), &req, true);
        assert_eq!(
            header(&added, "x-amz-content-sha256"),
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert!(header(&added, "authorization").ends_with(
            "SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        ));
        // A different body is a different signature.
        let other = Request {
            payload: b"Param1=value2",
            ..req
        };
        assert_ne!(
            header(
                &authorization(&suite_creds(None), &other, true),
                "authorization"
            ),
            header(&added, "authorization")
        );
    }

    #[test]
    fn a_bedrock_model_path_is_signed_encoded_twice() {
        assert_eq!(
            canonical_uri("/model/amazon.nova-lite-v1%3A0/converse"),
            "/model/amazon.nova-lite-v1%253A0/converse"
        );
        assert_eq!(uri_encode("a:b c~"), "a%3Ab%20c~");
    }

    #[test]
    fn amz_date_from_unix_ms() {
        assert_eq!(amz_date(1_440_938_160_000), WHEN);
        assert_eq!(amz_date(0), "19700101T000000Z");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let text = format!("{:?}", suite_creds(Some("tok")));
        assert!(!text.contains("EXAMPLEKEY") && !text.contains("tok"));
    }
}
