//! Normalised matching: the key of a request with its volatile surface removed, for
//! near-repeats that exact matching misses (the same question re-sent with another
//! timestamp, request id or spacing).
//!
//! What is normalised, in every string of the body (messages, system prompt, input):
//! - UUIDs become `<uuid>`;
//! - ISO-8601 dates and times (`2026-12-04`, `2026-12-04T09:30:00Z`,
//!   `2026-12-04 09:30:00.123+01:00`) and clock times (`09:30:00`) become `<time>`;
//! - runs of whitespace become one space, and leading and trailing whitespace goes.
//!
//! Key order and number spelling are already canonical in exact keys. Casing is kept:
//! it can change the answer (code, names, acronyms). Two requests that differ only in
//! the masked values get one answer, which is why normalised matching is opt-in per
//! team or workflow: a prompt that asks about the value it carries ("what day was
//! 2026-12-04?") must not use it.

use std::borrow::Cow;

use crate::lanes::Lanes;

/// Whether a miss repeated, under normalisation, an answer stored within the cache's
/// lifetime — what normalised matching would have answered. The filter remembers the
/// normalised key of each stored answer in a table of slots like the cache's own
/// ([`Seen`]); a slot holds the latest key that hashed to it, so a repeat can be missed
/// when another key took its slot, never invented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The first 8 bytes of the normalised key.
    pub key: u64,
    /// When the answer was stored (Unix ms).
    pub stored_ms: i64,
}

impl Seen {
    pub fn new(key: &[u8; 32], stored_ms: i64) -> Seen {
        Seen {
            key: short(key),
            stored_ms,
        }
    }

    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.key.to_le_bytes());
        out[8..].copy_from_slice(&self.stored_ms.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Seen> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        Some(Seen {
            key: u64::from_le_bytes(bytes[..8].try_into().ok()?),
            stored_ms: i64::from_le_bytes(bytes[8..].try_into().ok()?),
        })
    }

    /// This entry says `key` was answered at most `ttl_ms` before `now_ms`.
    pub fn repeats(&self, key: &[u8; 32], now_ms: i64, ttl_ms: i64) -> bool {
        self.key == short(key) && now_ms >= self.stored_ms && now_ms - self.stored_ms <= ttl_ms
    }

    /// The slot of `key` in a table of `slots`.
    pub fn slot(key: &[u8; 32], slots: u32) -> u32 {
        (short(key) % u64::from(slots.max(1))) as u32
    }
}

fn short(key: &[u8; 32]) -> u64 {
    u64::from_le_bytes(key[..8].try_into().unwrap_or_default())
}

/// `text` with UUIDs and timestamps masked and whitespace collapsed; borrowed when
/// normalising leaves it as it is, as it does for most prompts.
pub fn normalize_text(text: &str) -> Cow<'_, str> {
    if is_normal(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(rewrite(text))
    }
}

/// Whether normalising leaves `text` as it is: no whitespace but single spaces between
/// words, and no value to mask. Only the bytes a change can start from are examined:
/// whitespace, and the `-` or `:` every masked value has at a fixed distance from its
/// start (a UUID's `-` after 8 digits, a date's after 4, a clock time's `:` after 2),
/// found eight at a time ([`Lanes`]): this runs over every string of every request on
/// a cache miss.
pub fn is_normal(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    // Whether the previous word ended with a space (as the lowest byte's mark).
    let mut space_before = 0;
    for (n, x) in Lanes::words(bytes, b'a').enumerate() {
        let spaces = x.equal(b' ');
        // Whitespace other than the space: tab, newline, form feed and carriage return
        // (0x09-0x0D but the vertical tab, as `u8::is_ascii_whitespace` reads it).
        let whitespace = x.below(0x0E) & !x.below(0x09) & !x.equal(0x0B);
        if whitespace != 0 || spaces & ((spaces << 8) | space_before) != 0 {
            return false;
        }
        space_before = spaces >> 56;
        let mut marks = x.equal(b'-') | x.equal(b':');
        while marks != 0 {
            let i = n * 8 + Lanes::first(marks);
            marks &= marks - 1;
            let distances: &[usize] = if bytes[i] == b'-' { &[8, 4] } else { &[2] };
            if distances
                .iter()
                .any(|&d| i >= d && masked_from(bytes, i - d).is_some())
            {
                return false;
            }
        }
    }
    true
}

/// The masked value starting at `i`, if one does: it starts at a word boundary with a
/// (hex) digit and is not followed by a letter or digit.
fn masked_from(bytes: &[u8], i: usize) -> Option<(usize, &'static str)> {
    let at_boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
    if !at_boundary || CLASS[bytes[i] as usize] & HEX == 0 {
        return None;
    }
    masked_len(bytes, i)
}

/// The masked value at `i` (a word start whose first byte is a hex digit).
fn masked_len(bytes: &[u8], i: usize) -> Option<(usize, &'static str)> {
    uuid_len(&bytes[i..])
        .map(|n| (n, "<uuid>"))
        .or_else(|| timestamp_len(&bytes[i..]).map(|n| (n, "<time>")))
        .filter(|(n, _)| bytes.get(i + n).is_none_or(|c| !c.is_ascii_alphanumeric()))
}

/// [`normalize_text`] of a text that changes.
fn rewrite(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // Text is copied in runs (from `run` to the next whitespace or mask), not character
    // by character, and each byte is classified by one table lookup: this is run over
    // every string of every request on a cache miss.
    let mut run = 0;
    let mut i = 0;
    let mut pending_space = false;
    // Whether the previous byte is ASCII alphanumeric: masked values start at a word
    // boundary only ("a1b2…" inside a longer word stays).
    let mut in_word = false;
    while i < bytes.len() {
        let class = CLASS[bytes[i] as usize];
        if class == SPACE {
            // One space between two words is already normal: it stays in the run.
            let lone = bytes[i] == b' '
                && !pending_space
                && (i > run || !out.is_empty())
                && bytes
                    .get(i + 1)
                    .is_some_and(|&n| CLASS[n as usize] != SPACE);
            if !lone {
                out.push_str(&text[run..i]);
                pending_space = !out.is_empty();
                run = i + 1;
            }
            in_word = false;
            i += 1;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if class & WORD == 0 {
            // Punctuation, or a byte of a multi-byte character: part of the run.
            in_word = false;
            i += 1;
            continue;
        }
        // Masked values start with a (hex) digit.
        let masked = if class & HEX != 0 && !in_word {
            masked_len(bytes, i)
        } else {
            None
        };
        match masked {
            Some((n, mask)) => {
                out.push_str(&text[run..i]);
                out.push_str(mask);
                i += n;
                run = i;
                in_word = false;
            }
            None => {
                in_word = true;
                i += 1;
            }
        }
    }
    // Trailing whitespace left nothing after `run`.
    out.push_str(&text[run..]);
    out
}

/// Byte classes for [`normalize_text`], as bits: whitespace, ASCII letters and digits
/// (hex digits also `HEX`). A byte with neither `SPACE` nor `WORD` is punctuation or
/// part of a multi-byte character.
const SPACE: u8 = 1;
const WORD: u8 = 2;
const HEX: u8 = 4;
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_whitespace() {
            SPACE
        } else if c.is_ascii_hexdigit() {
            WORD | HEX
        } else if c.is_ascii_alphanumeric() {
            WORD
        } else {
            0
        };
        b += 1;
    }
    table
};

/// Length of a UUID (8-4-4-4-12 hex digits) at the start of `s`.
fn uuid_len(s: &[u8]) -> Option<usize> {
    let groups = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (g, n) in groups.iter().enumerate() {
        if g > 0 {
            if s.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        if s.len() < i + n || !s[i..i + n].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        i += n;
    }
    Some(i)
}

fn digits(s: &[u8], at: usize, n: usize) -> bool {
    s.len() >= at + n && s[at..at + n].iter().all(u8::is_ascii_digit)
}

/// Length of an ISO-8601 date, date-time or clock time at the start of `s`.
fn timestamp_len(s: &[u8]) -> Option<usize> {
    if digits(s, 0, 4)
        && s.get(4) == Some(&b'-')
        && digits(s, 5, 2)
        && s.get(7) == Some(&b'-')
        && digits(s, 8, 2)
    {
        let date = 10;
        if matches!(s.get(date), Some(b'T' | b' ')) {
            if let Some(t) = clock_len(&s[date + 1..]) {
                return Some(date + 1 + t + zone_len(&s[date + 1 + t..]));
            }
        }
        return Some(date);
    }
    clock_len(s)
        .filter(|&n| n >= 8)
        .map(|n| n + zone_len(&s[n..]))
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff`.
fn clock_len(s: &[u8]) -> Option<usize> {
    if !(digits(s, 0, 2) && s.get(2) == Some(&b':') && digits(s, 3, 2)) {
        return None;
    }
    let mut n = 5;
    if s.get(5) == Some(&b':') && digits(s, 6, 2) {
        n = 8;
        if s.get(8) == Some(&b'.') && digits(s, 9, 1) {
            n = 9;
            while s.get(n).is_some_and(u8::is_ascii_digit) {
                n += 1;
            }
        }
    }
    Some(n)
}

/// `Z`, `+01:00`, `-0500` or nothing.
fn zone_len(s: &[u8]) -> usize {
    match s.first() {
        Some(b'Z') => 1,
        Some(b'+' | b'-') if digits(s, 1, 2) => {
            if s.get(3) == Some(&b':') && digits(s, 4, 2) {
                6
            } else if digits(s, 3, 2) {
                5
            } else {
                3
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{cache_key, key_of, normalized_key};
    use super::*;
    use crate::event::ApiKind;
    use serde_json::json;
    use serde_json::{Map, Value};

    /// The character-by-character reading `normalize_text` copies in runs.
    fn char_by_char(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        let mut pending_space = false;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_whitespace() {
                pending_space = !out.is_empty();
                i += 1;
                continue;
            }
            // Tokens start at a word boundary only ("a1b2…" inside a longer word stays).
            let at_boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
            let masked = if at_boundary {
                uuid_len(&bytes[i..])
                    .map(|n| (n, "<uuid>"))
                    .or_else(|| timestamp_len(&bytes[i..]).map(|n| (n, "<time>")))
                    .filter(|(n, _)| bytes.get(i + n).is_none_or(|c| !c.is_ascii_alphanumeric()))
            } else {
                None
            };
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            match masked {
                Some((n, mask)) => {
                    out.push_str(mask);
                    i += n;
                }
                None => {
                    // Copy one UTF-8 character.
                    let len = utf8_len(b);
                    out.push_str(&text[i..i + len]);
                    i += len;
                }
            }
        }
        out
    }

    fn utf8_len(first: u8) -> usize {
        match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        }
    }

    #[test]
    fn copying_in_runs_normalises_as_character_by_character() {
        for text in [
            "",
            "   ",
            "a",
            " lead and trail ",
            "Ticket 7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f\n\n(sent 2026-12-04T09:30:00.123Z)  ",
            "7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
            "x7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
            "é2026-12-04 日本2026-12-04 😀 09:30:00Z",
            "deadbeef café 10:30 2026 items\t\r\n end",
            "2026-12-04 09:30x",
            "a\n b  c \td ",
            "7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f x  2026-12-04 y",
            "( x ) ,",
        ] {
            assert_eq!(normalize_text(text), char_by_char(text), "{text:?}");
        }
    }

    /// Every string made of up to four of these pieces: `is_normal` says a text stays as
    /// it is exactly when the character-by-character reading leaves it unchanged.
    #[test]
    fn a_text_is_normal_exactly_when_normalising_leaves_it_unchanged() {
        let pieces = [
            "a",
            " ",
            "  ",
            "\n",
            "\t",
            "\r",
            // Form feed is whitespace; vertical tab is not (`char::is_ascii_whitespace`).
            "\x0c",
            "\x0b",
            "-",
            ":",
            "2026-12-04",
            "09:30:00",
            "10:30",
            "7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
            "deadbeef",
            "é",
            "T",
            "Z",
            "+01:00",
            "1",
        ];
        let mut texts = vec![String::new()];
        let mut frontier = texts.clone();
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(frontier.iter().cloned());
        }
        let mut normal = 0;
        for text in &texts {
            let unchanged = char_by_char(text) == *text;
            assert_eq!(is_normal(text), unchanged, "{text:?}");
            assert_eq!(normalize_text(text), char_by_char(text), "{text:?}");
            normal += usize::from(unchanged);
        }
        // Both answers occur often enough for the comparison to mean something.
        assert!(
            normal > 1000 && texts.len() - normal > 1000,
            "{normal} of {}",
            texts.len()
        );
    }

    #[test]
    fn volatile_values_are_masked_and_whitespace_collapsed() {
        assert_eq!(
            normalize_text("  Summarise ticket 7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f\n\n(sent 2026-12-04T09:30:00.123Z)  "),
            "Summarise ticket <uuid> (sent <time>)"
        );
        assert_eq!(
            normalize_text("on 2026-12-04 at 09:30:00+01:00"),
            "on <time> at <time>"
        );
        assert_eq!(normalize_text("at 2026-12-04 09:30"), "at <time>");
        assert_eq!(normalize_text("tabs\tand\r\nlines"), "tabs and lines");
        // Not volatile: short clock-like values, numbers, words that contain hex.
        assert_eq!(
            normalize_text("score 10:30 and 2026 items"),
            "score 10:30 and 2026 items"
        );
        assert_eq!(normalize_text("x2026-12-04"), "x2026-12-04");
        assert_eq!(normalize_text("Héllo   wörld"), "Héllo wörld");
        // Casing is kept.
        assert_ne!(normalize_text("SQL"), normalize_text("sql"));
    }

    #[test]
    fn near_repeats_share_a_key_that_exact_matching_keeps_apart() {
        let a = json!({"model": "m", "messages": [
            {"role": "system", "content": "You answer tickets."},
            {"role": "user", "content": "Ticket 11111111-2222-3333-4444-555555555555 at 2026-12-04T10:00:00Z:  reset my password"}]});
        let b = json!({"model": "m", "messages": [
            {"role": "system", "content": "You answer tickets. "},
            {"role": "user", "content": "Ticket aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee at 2026-12-05T11:22:33Z: reset my password"}]});
        let c = json!({"model": "m", "messages": [
            {"role": "system", "content": "You answer tickets."},
            {"role": "user", "content": "Ticket 11111111-2222-3333-4444-555555555555 at 2026-12-04T10:00:00Z: delete my account"}]});
        let (a, b, c) = (
            a.as_object().unwrap(),
            b.as_object().unwrap(),
            c.as_object().unwrap(),
        );
        let exact = |m| cache_key(ApiKind::ChatCompletions, "m", Some("g"), m);
        let key = |m| normalized_key(&exact(m), ApiKind::ChatCompletions, "m", Some("g"), m);
        assert_ne!(exact(a), exact(b));
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        // Never the exact key of anything, and confined to the group like exact keys.
        assert_ne!(key(a), exact(a));
        assert_ne!(
            key(a),
            normalized_key(
                &cache_key(ApiKind::ChatCompletions, "m", Some("other"), a),
                ApiKind::ChatCompletions,
                "m",
                Some("other"),
                a
            )
        );
    }

    /// A body normalising leaves as it is gets its normalised key from the exact key
    /// without being written out again: the same key as writing it out normalised.
    #[test]
    fn the_normalised_key_of_a_normal_body_is_the_one_written_out() {
        let written_out = |m: &Map<String, Value>| {
            let mut h = blake3::Hasher::new();
            h.update(b"normalized\0");
            h.update(&key_of(ApiKind::ChatCompletions, "m", Some("g"), m, true));
            <[u8; 32]>::from(h.finalize())
        };
        for body in [
            json!({"model": "m", "messages": [{"role": "user", "content": "reset my password"}]}),
            json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "at 10:30, see TS-4410"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "on 2026-12-04  reset"}]}),
            json!({"model": "m", "input": ["a\nb", {"k": "7f9c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"}]}),
        ] {
            let body = body.as_object().unwrap();
            let exact = cache_key(ApiKind::ChatCompletions, "m", Some("g"), body);
            assert_eq!(
                normalized_key(&exact, ApiKind::ChatCompletions, "m", Some("g"), body),
                written_out(body),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_seen_entry_marks_a_repeat_of_its_key_within_the_ttl() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let seen = Seen::new(&k1, 10_000);
        assert_eq!(Seen::decode(&seen.encode()), Some(seen));
        assert_eq!(Seen::decode(b"short"), None);
        assert!(seen.repeats(&k1, 10_000 + 60_000, 60_000));
        assert!(!seen.repeats(&k1, 10_000 + 60_001, 60_000), "expired");
        assert!(!seen.repeats(&k2, 10_500, 60_000), "another key");
        assert!(
            !seen.repeats(&k1, 9_000, 60_000),
            "not before it was stored"
        );
        assert!(Seen::slot(&k1, 100) < 100);
        assert_eq!(Seen::slot(&k1, 0), 0);
    }
}
