//! Consumer-group keys are compared by SHA-256 digest, so the plain key never has to
//! be in what Envoy holds (its admin `/config_dump` shows plugin configuration).

use sha2::{Digest, Sha256};

pub fn digest_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Parses a 64-character hex SHA-256 digest (either case).
pub fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// The client's key from its request headers: `Authorization: Bearer …` (OpenAI
/// clients) or `x-api-key` (Anthropic clients). Bearer wins when both are present.
pub fn client_key<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.and_then(|v| {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    bearer
        .or(x_api_key.map(str::trim))
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_through_hex() {
        let d = digest_key("kt_cg_support_prod");
        assert_eq!(parse_digest(&hex(&d)), Some(d));
        assert_eq!(
            hex(&digest_key("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_digest("zz"), None);
    }

    #[test]
    fn finds_the_client_key() {
        assert_eq!(client_key(Some("Bearer k1"), None), Some("k1"));
        assert_eq!(client_key(Some("bearer  k1 "), Some("k2")), Some("k1"));
        assert_eq!(client_key(None, Some("k2")), Some("k2"));
        assert_eq!(client_key(Some("Basic abc"), None), None);
        assert_eq!(client_key(Some("Bearer "), Some("")), None);
    }
}
