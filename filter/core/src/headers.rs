//! Header maps as the proxy-wasm ABI moves them.
//!
//! A host call that returns data costs the filter ~2 µs in Envoy 1.40 (measured:
//! BENCHMARKS.md), so the filter reads a request's or response's headers with one
//! `proxy_get_header_map_pairs`. Writes go the other way: a whole-map rewrite
//! (`proxy_set_header_map_pairs`) makes Envoy rebuild every header (5-7 µs per map in
//! the filter's own timing under load), so only the headers that change are written,
//! one call each ([`Changes`]): the three of a typical request took ~2.5 µs together.

use std::ops::Range;

/// A header map: (lowercase name, value) pairs in the host's order.
pub type Pairs = Vec<(String, String)>;

/// Anything that lists headers as (name, value) pairs in the host's order.
pub trait HeaderList {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)>;

    /// The values of the entries named `name` (ASCII case ignored), in order.
    fn values_named<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        self.pairs()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name`; see [`find`].
    fn first_value(&self, name: &str) -> Option<&str> {
        self.values_named(name).next()
    }

    /// How many entries `name` has, and the first one's value.
    fn occurrences(&self, name: &str) -> (usize, Option<&str>) {
        let mut values = self.values_named(name);
        let first = values.next();
        (first.map_or(0, |_| 1 + values.count()), first)
    }
}

impl HeaderList for [(String, String)] {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl HeaderList for Pairs {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_slice().pairs()
    }
}

/// The first value of `name` (names are lowercase, as Envoy hands them over).
pub fn find<'a>(headers: &'a (impl HeaderList + ?Sized), name: &str) -> Option<&'a str> {
    headers.first_value(name)
}

/// A header map read from the host: every name and value in one string, entries as
/// ranges into it. Two allocations whatever the number of headers, where a pair of
/// owned strings per header took two each: a request's map is read on every request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    /// Each header as the ABI lays it out: name, a NUL, value, a NUL.
    text: String,
    /// Per header: where its name ends and where its value ends (the name starts one
    /// byte after the previous value's end, the value one byte after the name's).
    ends: Vec<(usize, usize)>,
}

impl HeaderMap {
    /// Reads the ABI's serialised form; a truncated buffer yields the entries that fit.
    /// Names and values that are not UTF-8 are read lossily (header values are visible
    /// ASCII in practice).
    pub fn decode(bytes: &[u8]) -> HeaderMap {
        let u32_at = |i: usize| {
            bytes
                .get(i..i + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let Some(count) = u32_at(0) else {
            return HeaderMap::default();
        };
        let Some(sizes_end) = count
            .checked_mul(8)
            .and_then(|n| n.checked_add(4))
            .filter(|&end| end <= bytes.len())
        else {
            return HeaderMap::default();
        };
        // Each entry's name and value, as ranges of `bytes`, while they fit.
        let ranges = || {
            let mut at = sizes_end;
            (0..count).map_while(move |i| {
                let (n, v) = (u32_at(4 + i * 8)?, u32_at(8 + i * 8)?);
                let name = at..at.checked_add(n)?;
                let value_start = name.end.checked_add(1)?;
                let value = value_start..value_start.checked_add(v)?;
                if value.end > bytes.len() {
                    return None;
                }
                at = value.end + 1;
                Some((name, value))
            })
        };
        let data = &bytes[sizes_end..];
        let mut map = HeaderMap {
            text: String::with_capacity(data.len()),
            ends: Vec::with_capacity(count),
        };
        // Usually the whole block is UTF-8 (one check, no per-piece scan) and every
        // range starts and ends on a character boundary; otherwise each piece is read
        // lossily.
        if let Ok(block) = std::str::from_utf8(data) {
            let boundary = |i: usize| block.is_char_boundary(i - sizes_end);
            let mut end = 0;
            for (n, v) in ranges() {
                if !(boundary(n.start) && boundary(n.end) && boundary(v.start) && boundary(v.end)) {
                    map.ends.clear();
                    return Self::lossy(bytes, ranges(), map);
                }
                map.ends.push((n.end - sizes_end, v.end - sizes_end));
                end = v.end - sizes_end;
            }
            map.text.push_str(&block[..end]);
            return map;
        }
        Self::lossy(bytes, ranges(), map)
    }

    fn lossy(
        bytes: &[u8],
        ranges: impl Iterator<Item = (Range<usize>, Range<usize>)>,
        mut map: HeaderMap,
    ) -> HeaderMap {
        for (name, value) in ranges {
            if !map.ends.is_empty() {
                map.text.push('\0');
            }
            map.text.push_str(&String::from_utf8_lossy(&bytes[name]));
            let name_end = map.text.len();
            map.text.push('\0');
            map.text.push_str(&String::from_utf8_lossy(&bytes[value]));
            map.ends.push((name_end, map.text.len()));
        }
        map
    }

    /// Each entry's name and value, as ranges of `text`.
    fn entries(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, end)| {
            let name = start..name_end;
            start = end + 1;
            (name, name_end + 1..end)
        })
    }
}

impl HeaderList for HeaderMap {
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries()
            .map(|(name, value)| (&self.text[name], &self.text[value]))
    }

    /// Names are compared as bytes, lengths first (most names differ in length from
    /// the one asked), and only a match's value is taken as text: a request looks up
    /// about fifteen names, and the upstream edits count a few more.
    fn values_named<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        let bytes = self.text.as_bytes();
        self.entries().filter_map(move |(candidate, value)| {
            (candidate.len() == name.len()
                && bytes[candidate].eq_ignore_ascii_case(name.as_bytes()))
            .then(|| &self.text[value])
        })
    }
}

/// `original` without the headers named in `remove` or `set`, then `set`; pseudo-headers
/// (`:path`, ...) stay in front as HTTP/2 requires.
pub fn edited(original: &[(String, String)], remove: &[&str], set: &[(&str, &str)]) -> Pairs {
    let dropped = |name: &str| {
        remove.iter().any(|r| r.eq_ignore_ascii_case(name))
            || set.iter().any(|(s, _)| s.eq_ignore_ascii_case(name))
    };
    let kept = original.iter().filter(|(n, _)| !dropped(n)).cloned();
    let added = set
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_string()));
    let (mut pseudo, regular): (Pairs, Pairs) =
        kept.chain(added).partition(|(n, _)| n.starts_with(':'));
    pseudo.extend(regular);
    pseudo
}

/// The smallest set of single-header calls that turns `original` into
/// `edited(original, remove, set)` (up to header order): names to remove that are
/// present and not set again, and `set` entries whose value differs from the current one.
///
/// Per-header calls return no data, so a few of them cost Envoy less than rewriting
/// the whole map (measured: BENCHMARKS.md).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes<'a> {
    pub remove: Vec<&'a str>,
    pub set: Vec<(&'a str, &'a str)>,
}

impl<'a> Changes<'a> {
    pub fn between(
        original: &(impl HeaderList + ?Sized),
        remove: &[&'a str],
        set: &[(&'a str, &'a str)],
    ) -> Changes<'a> {
        let mut changes = Changes {
            remove: remove
                .iter()
                .filter(|r| find(original, r).is_some())
                .filter(|r| !set.iter().any(|(s, _)| s.eq_ignore_ascii_case(r)))
                .copied()
                .collect(),
            set: Vec::with_capacity(set.len()),
        };
        for &(name, value) in set {
            match original.occurrences(name) {
                // Unchanged only when the header is there exactly once with this value.
                (1, Some(current)) if current == value => {}
                // A header to set that the original repeats is removed first: a host's
                // replace may change only the first value (Envoy's `setCopy` does), and
                // a repeated client credential must not travel on beside the provider's.
                (count, _) => {
                    if count > 1 {
                        changes.remove.push(name);
                    }
                    changes.set.push((name, value));
                }
            }
        }
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty()
    }
}

/// The ABI's serialised form: entry count, (name length, value length) per entry, then
/// each name and value followed by a NUL.
pub fn encode<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Vec<u8> {
    let size: usize = pairs
        .iter()
        .map(|(n, v)| 10 + n.as_ref().len() + v.as_ref().len())
        .sum();
    let mut bytes = Vec::with_capacity(4 + size);
    bytes.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (name, value) in pairs {
        bytes.extend_from_slice(&(name.as_ref().len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(value.as_ref().len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_ref().as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_ref().as_bytes());
        bytes.push(0);
    }
    bytes
}

/// [`HeaderMap::decode`] as owned pairs.
pub fn decode(bytes: &[u8]) -> Pairs {
    HeaderMap::decode(bytes)
        .pairs()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encoding_round_trips() {
        let p = pairs(&[
            (":path", "/v1/chat"),
            ("x-empty", ""),
            ("authorization", "Bearer k"),
        ]);
        assert_eq!(decode(&encode(&p)), p);
        assert_eq!(decode(&encode::<&str, &str>(&[])), Vec::new());
        assert_eq!(decode(&[]), Vec::new());
        assert_eq!(decode(&[9, 0]), Vec::new(), "short count");
        let mut truncated = encode(&p);
        truncated.truncate(truncated.len() - 3);
        assert_eq!(decode(&truncated), p[..2].to_vec(), "entries that fit");
    }

    #[test]
    fn a_header_map_reads_what_the_host_serialised() {
        let p = pairs(&[(":status", "200"), ("x-a", "1"), ("x-a", "2"), ("x-e", "")]);
        let map = HeaderMap::decode(&encode(&p));
        assert_eq!(map.pairs().count(), 4);
        assert_eq!(find(&map, "X-A"), Some("1"), "the first value, any case");
        assert_eq!(find(&map, "x-e"), Some(""));
        assert_eq!(find(&map, "x-b"), None);
        let mut bad = encode(&[("x-bin", "a\u{e9}b")]);
        let at = bad.len() - 3; // the second byte of "é", now not UTF-8
        bad[at] = 0xFF;
        assert_eq!(
            HeaderMap::decode(&bad).pairs().collect::<Vec<_>>(),
            [("x-bin", "a\u{fffd}\u{fffd}b")]
        );
        let nothing = HeaderMap::default();
        assert_eq!(
            HeaderMap::decode(&[200, 0, 0, 0, 1]),
            nothing,
            "sizes cut short"
        );
        assert_eq!(
            HeaderMap::decode(&[255, 255, 255, 255, 1]),
            nothing,
            "a count whose sizes would not fit in memory"
        );
    }

    #[test]
    fn a_truncated_or_misaligned_map_yields_what_fits_read_lossily() {
        let p = pairs(&[("x-a", "1"), ("x-\u{e9}", "caf\u{e9}"), ("x-c", "3")]);
        let whole = encode(&p);
        // Cut inside the third header's value: the first two remain.
        let cut = &whole[..whole.len() - 2];
        assert_eq!(
            HeaderMap::decode(cut).pairs().collect::<Vec<_>>(),
            [("x-a", "1"), ("x-\u{e9}", "caf\u{e9}")]
        );
        // The same cut with a byte that is not UTF-8 in the first value (lossy reading).
        let mut bad = cut.to_vec();
        let first_value = bad.windows(4).position(|w| w == b"x-a\0").unwrap() + 4;
        bad[first_value] = 0xFF;
        assert_eq!(
            HeaderMap::decode(&bad).pairs().collect::<Vec<_>>(),
            [("x-a", "\u{fffd}"), ("x-\u{e9}", "caf\u{e9}")]
        );
        // Sizes that split "é" of the second name: valid UTF-8 as a whole, read lossily
        // piece by piece rather than cut inside a character.
        let mut split = whole.clone();
        let second_name_size = 4 + 8;
        split[second_name_size] -= 1; // "x-" and the first byte of "é"
        split[second_name_size + 4] += 1; // the value takes the NUL and the second byte
        let map = HeaderMap::decode(&split);
        let read: Vec<_> = map.pairs().collect();
        assert_eq!(read[0], ("x-a", "1"));
        assert_eq!(read[1].0, "x-\u{fffd}");
        assert_eq!(read.len(), 3);
    }

    #[test]
    fn a_header_map_finds_what_its_pairs_list() {
        let p = pairs(&[
            ("host", "a"),
            ("x-one", "1"),
            ("x-two", "2"),
            ("X-Mixed", "m"),
            ("x-one", "again"),
            ("", "empty name"),
        ]);
        let map = HeaderMap::decode(&encode(&p));
        for name in [
            "host", "HOST", "x-one", "x-two", "x-tw", "x-mixed", "X-MIXED", "", "nope",
        ] {
            let by_pairs = map
                .pairs()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            assert_eq!(find(&map, name), by_pairs, "{name:?}");
            assert_eq!(find(&p, name), by_pairs, "{name:?} in owned pairs");
            let count = map
                .pairs()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .count();
            assert_eq!(map.occurrences(name), (count, by_pairs), "{name:?}");
            assert_eq!(
                p.occurrences(name),
                (count, by_pairs),
                "{name:?} in owned pairs"
            );
        }
        assert_eq!(map.occurrences("x-one"), (2, Some("1")));
        assert_eq!(map.occurrences("X-TWO"), (1, Some("2")));
        assert_eq!(map.occurrences("x-three"), (0, None));
    }

    /// `original` after `changes`, applied the way Envoy applies single-header calls: a
    /// remove drops every value of the name, a replace changes only the first value
    /// (`HeaderMapImpl::setCopy`) or appends the header.
    fn apply(original: &Pairs, changes: &Changes) -> Pairs {
        let mut out = original.clone();
        for r in &changes.remove {
            out.retain(|(n, _)| !n.eq_ignore_ascii_case(r));
        }
        for (name, value) in &changes.set {
            match out.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(i) => out[i].1 = value.to_string(),
                None => out.push((name.to_ascii_lowercase(), value.to_string())),
            }
        }
        out
    }

    fn sorted(mut p: Pairs) -> Pairs {
        p.sort();
        p
    }

    #[test]
    fn single_header_changes_reach_the_same_map_as_a_rewrite() {
        let original = pairs(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "127.0.0.1:10000"),
            ("authorization", "Bearer team"),
            ("x-tollgate-user", "alice"),
            ("accept-encoding", "gzip"),
            ("accept-encoding", "br"),
            ("content-length", "10"),
        ]);
        let remove = [
            "authorization",
            "x-api-key",
            "x-tollgate-user",
            "accept-encoding",
        ];
        let set = [
            (":path", "/v1/chat/completions"),
            (":authority", "api.openai.com"),
            ("authorization", "Bearer sk-provider"),
            ("x-tollgate-provider", "openai"),
        ];
        let changes = Changes::between(&original, &remove, &set);
        assert_eq!(
            changes,
            Changes {
                remove: vec!["x-tollgate-user", "accept-encoding"],
                set: vec![
                    (":authority", "api.openai.com"),
                    ("authorization", "Bearer sk-provider"),
                    ("x-tollgate-provider", "openai"),
                ],
            },
            "absent headers are not removed, unchanged ones not set"
        );
        assert_eq!(
            sorted(apply(&original, &changes)),
            sorted(edited(&original, &remove, &set))
        );
        let duplicated = pairs(&[("x-a", "1"), ("x-a", "1")]);
        let changes = Changes::between(&duplicated, &[], &[("x-a", "1")]);
        assert_eq!(
            changes,
            Changes {
                remove: vec!["x-a"],
                set: vec![("x-a", "1")]
            },
            "a repeated header is removed, then set once"
        );
        assert_eq!(apply(&duplicated, &changes), pairs(&[("x-a", "1")]));
        assert!(Changes::between(&duplicated, &["x-b"], &[]).is_empty());
        // A repeated client key is gone whichever value came first.
        let keys = pairs(&[
            ("x-api-key", "team"),
            ("x-api-key", "team2"),
            ("accept", "*/*"),
        ]);
        let changes = Changes::between(&keys, &["x-api-key"], &[("x-api-key", "sk-provider")]);
        assert_eq!(
            apply(&keys, &changes),
            pairs(&[("accept", "*/*"), ("x-api-key", "sk-provider")])
        );
    }

    #[test]
    fn edits_remove_replace_and_keep_pseudo_headers_first() {
        let original = pairs(&[
            (":method", "POST"),
            (":path", "/v1/messages"),
            ("authorization", "Bearer team"),
            ("x-tollgate-user", "alice"),
            ("accept", "*/*"),
            ("content-length", "10"),
        ]);
        let out = edited(
            &original,
            &["authorization", "X-Tollgate-User", "absent"],
            &[
                ("x-api-key", "sk"),
                (":path", "/v1/chat/completions"),
                ("Content-Length", "12"),
            ],
        );
        assert_eq!(
            out,
            pairs(&[
                (":method", "POST"),
                (":path", "/v1/chat/completions"),
                ("accept", "*/*"),
                ("x-api-key", "sk"),
                ("content-length", "12"),
            ])
        );
        assert_eq!(find(&out, "X-API-KEY"), Some("sk"));
        assert_eq!(find(&out, "authorization"), None);
    }
}
