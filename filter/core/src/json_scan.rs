//! Borrowed, allocation-free reading of JSON documents: the members of an object and
//! the items of an array as byte slices of the document, strings left escaped.
//!
//! Streamed answers arrive as one small JSON document per event, a thousand or more
//! per answer, and the filter needs a few fields of each (a text delta's length, the
//! model, whether usage is there). Deserialising every event into typed structs or a
//! `serde_json::Value` costs allocations and most of the filter's time per chunk; these
//! scanners find the fields in one pass over the bytes and leave anything rarer (usage
//! objects, the first and last events) to serde on the slice they point at.
//!
//! Containers the caller does not walk into are skipped by matching brackets outside
//! strings, without checking what is between them; a document malformed in a way that
//! skip does not notice can therefore be read where serde would refuse it. Providers
//! send well-formed JSON, and nothing read here is trusted beyond what serde would give.

/// What kind of JSON value a slice holds, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Null,
    /// A number or `true` / `false`.
    Other,
}

/// The kind of the value `value` holds (it starts at its first byte, as the scanners
/// return it).
pub fn kind(value: &[u8]) -> Kind {
    match value.first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b'n') => Kind::Null,
        _ => Kind::Other,
    }
}

/// Whether `value` is an array without items (`[]`, whitespace allowed inside).
pub fn is_empty_array(value: &[u8]) -> bool {
    items(value).is_some_and(|mut i| i.next().is_none() && i.finished())
}

/// The escaped text between the quotes when `value` is a JSON string.
pub fn string_body(value: &[u8]) -> Option<&[u8]> {
    match value {
        [b'"', body @ .., b'"'] if kind(value) == Kind::String => Some(body),
        _ => None,
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// The first `"` or `\\` in `bytes`. Compiled to wasm, as the filter runs, memchr has
/// no vector instructions and a plain loop ends the short strings of JSON sooner;
/// natively memchr's vectorised search is faster.
#[cfg(target_arch = "wasm32")]
fn quote_or_escape(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'"' || b == b'\\')
}

#[cfg(not(target_arch = "wasm32"))]
fn quote_or_escape(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'"', b'\\', bytes)
}

/// The position just past the string whose opening quote is at `pos`.
fn skip_string(bytes: &[u8], mut pos: usize) -> Option<usize> {
    pos += 1;
    loop {
        let at = pos + quote_or_escape(bytes.get(pos..)?)?;
        if bytes[at] == b'"' {
            return Some(at + 1);
        }
        // An escape: its next byte is never the string's end.
        pos = at + 2;
    }
}

/// The position just past the value starting at `pos` (no leading whitespace).
fn skip_value(bytes: &[u8], pos: usize) -> Option<usize> {
    match *bytes.get(pos)? {
        b'"' => skip_string(bytes, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = pos;
            loop {
                match *bytes.get(at)? {
                    b'"' => {
                        at = skip_string(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            let len = bytes[pos..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(bytes.len() - pos);
            Some(pos + len)
        }
        _ => None,
    }
}

/// The members of a JSON object, in document order: (key as escaped in the document,
/// value's bytes). Iteration stops at the end of the object or at the first malformed
/// byte; [`Members::finished`] tells which.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    bytes: &'a [u8],
    pos: usize,
    state: State,
}

/// The items of a JSON array, in order, each as its bytes; like [`Members`].
#[derive(Debug, Clone)]
pub struct Items<'a> {
    bytes: &'a [u8],
    pos: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Next,
    Finished,
    Malformed,
}

/// The members of `value` when it is a JSON object (leading and trailing whitespace
/// allowed, as in a whole document).
pub fn members(value: &[u8]) -> Option<Members<'_>> {
    let pos = skip_ws(value, 0);
    (value.get(pos) == Some(&b'{')).then_some(Members {
        bytes: value,
        pos: pos + 1,
        state: State::First,
    })
}

/// The items of `value` when it is a JSON array.
pub fn items(value: &[u8]) -> Option<Items<'_>> {
    let pos = skip_ws(value, 0);
    (value.get(pos) == Some(&b'[')).then_some(Items {
        bytes: value,
        pos: pos + 1,
        state: State::First,
    })
}

/// After the opening bracket or a value: the position of the next item, or the end.
fn advance(bytes: &[u8], pos: usize, state: &mut State, close: u8) -> Option<usize> {
    let mut at = skip_ws(bytes, pos);
    match (*state, bytes.get(at)) {
        (State::First | State::Next, Some(&b)) if b == close => {
            *state = State::Finished;
            return None;
        }
        (State::First, Some(_)) => {}
        (State::Next, Some(b',')) => at = skip_ws(bytes, at + 1),
        (State::Finished | State::Malformed, _) => return None,
        _ => {
            *state = State::Malformed;
            return None;
        }
    }
    *state = State::Next;
    Some(at)
}

impl<'a> Members<'a> {
    /// The object ended well-formed (every member was read).
    pub fn finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Reads every member, calling `f` for each; false when the object is malformed.
    pub fn for_each(mut self, mut f: impl FnMut(&'a [u8], &'a [u8])) -> bool {
        for (key, value) in self.by_ref() {
            f(key, value);
        }
        self.finished()
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        let at = advance(bytes, self.pos, &mut self.state, b'}')?;
        let parsed = (|| {
            if bytes.get(at) != Some(&b'"') {
                return None;
            }
            let key_end = skip_string(bytes, at)?;
            let colon = skip_ws(bytes, key_end);
            if bytes.get(colon) != Some(&b':') {
                return None;
            }
            let start = skip_ws(bytes, colon + 1);
            let end = skip_value(bytes, start)?;
            Some((&bytes[at + 1..key_end - 1], start, end))
        })();
        match parsed {
            Some((key, start, end)) => {
                self.pos = end;
                Some((key, &bytes[start..end]))
            }
            None => {
                self.state = State::Malformed;
                None
            }
        }
    }
}

impl<'a> Items<'a> {
    /// The array ended well-formed (every item was read).
    pub fn finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Reads every item, calling `f` for each; false when the array is malformed.
    pub fn for_each(mut self, mut f: impl FnMut(&'a [u8])) -> bool {
        for item in self.by_ref() {
            f(item);
        }
        self.finished()
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        let at = advance(bytes, self.pos, &mut self.state, b']')?;
        match skip_value(bytes, at) {
            Some(end) => {
                self.pos = end;
                Some(&bytes[at..end])
            }
            None => {
                self.state = State::Malformed;
                None
            }
        }
    }
}

/// A whole document that is one JSON object: its members, only once they were all
/// read well-formed with nothing but whitespace after the object. `wanted` names the
/// keys to return, in the same order as the result.
pub fn object_fields<'a, const N: usize>(
    document: &'a [u8],
    wanted: [&[u8]; N],
) -> Option<[Option<&'a [u8]>; N]> {
    let mut found = [None; N];
    let mut m = members(document)?;
    for (key, value) in m.by_ref() {
        if let Some(i) = wanted.iter().position(|w| *w == key) {
            found[i] = Some(value);
        }
    }
    if !m.finished() || skip_ws(document, m.pos + 1) != document.len() {
        return None;
    }
    Some(found)
}

/// The UTF-8 length of each character of the escaped string body `raw` once unescaped
/// (`\n` is one byte, `\u00e9` two, a surrogate pair four), in order; `None` for an
/// escape that is not valid JSON.
pub fn unescaped_char_lens(raw: &[u8], mut f: impl FnMut(usize)) -> Option<()> {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            match b {
                0x00..=0x7f => f(1),
                // Continuation bytes belong to the character their lead byte counted.
                0x80..=0xbf => {}
                0xc0..=0xdf => f(2),
                0xe0..=0xef => f(3),
                _ => f(4),
            }
            i += 1;
            continue;
        }
        match raw.get(i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                f(1);
                i += 2;
            }
            b'u' => {
                let unit = hex4(raw.get(i + 2..i + 6)?)?;
                i += 6;
                if (0xd800..0xdc00).contains(&unit) && raw.get(i..i + 2) == Some(b"\\u") {
                    let low = hex4(raw.get(i + 2..i + 6)?)?;
                    if (0xdc00..0xe000).contains(&low) {
                        i += 6;
                        f(4);
                        continue;
                    }
                }
                f(match unit {
                    0..=0x7f => 1,
                    0x80..=0x7ff => 2,
                    _ => 3,
                });
            }
            _ => return None,
        }
    }
    Some(())
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n * 16 + v)
    })
}

/// Whether the escaped string body `raw` is byte for byte what serde_json writes for
/// its unescaped text (so it can be copied into a document serde_json would write):
/// no `\/` or `\u` escapes, which serde_json never writes for printable characters.
pub fn is_serde_escaped(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'\\', &raw[i..]) {
        match raw.get(i + at + 1) {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => i += at + 2,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_list(doc: &str) -> (Vec<(String, String)>, bool) {
        let mut out = Vec::new();
        let ok = members(doc.as_bytes()).unwrap().for_each(|k, v| {
            out.push((
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        });
        (out, ok)
    }

    #[test]
    fn members_are_the_documents_own_bytes() {
        let (m, ok) = member_list(
            r#" { "a" : 1 , "b":"x\"}y", "c":{"d":[1,{"e":"]"}]},"n":null,"t":true,"f":-1.5e3 } "#,
        );
        assert!(ok);
        assert_eq!(
            m,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), r#""x\"}y""#.into()),
                ("c".into(), r#"{"d":[1,{"e":"]"}]}"#.into()),
                ("n".into(), "null".into()),
                ("t".into(), "true".into()),
                ("f".into(), "-1.5e3".into()),
            ]
        );
        assert_eq!(member_list("{}"), (vec![], true));
        assert!(members(b"[1]").is_none());
        assert!(members(b"[DONE]").is_none());
    }

    #[test]
    fn malformed_objects_are_reported() {
        for doc in [
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{a:1}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":}"#,
        ] {
            assert!(!member_list(doc).1, "{doc}");
        }
    }

    #[test]
    fn items_and_kinds() {
        let list: Vec<_> = items(br#"[ {"a":[]}, "s", 3 ,null]"#).unwrap().collect();
        assert_eq!(list, vec![&br#"{"a":[]}"#[..], br#""s""#, b"3", b"null"]);
        assert_eq!(
            list.iter().map(|v| kind(v)).collect::<Vec<_>>(),
            vec![Kind::Object, Kind::String, Kind::Other, Kind::Null]
        );
        assert_eq!(items(b"[ ]").unwrap().count(), 0);
        let mut bad = items(b"[1,").unwrap();
        assert_eq!(bad.next(), Some(&b"1"[..]));
        assert_eq!(bad.next(), None);
        assert!(!bad.finished());
        assert_eq!(string_body(br#""a\"b""#), Some(&br#"a\"b"#[..]));
        assert_eq!(string_body(b"3"), None);
    }

    #[test]
    fn object_fields_needs_the_whole_document() {
        let doc = br#"{"usage":{"x":1},"choices":[],"model":"m"}"#;
        let [choices, usage, other] = object_fields(doc, [b"choices", b"usage", b"other"]).unwrap();
        assert_eq!(choices, Some(&b"[]"[..]));
        assert_eq!(usage, Some(&br#"{"x":1}"#[..]));
        assert_eq!(other, None);
        assert!(object_fields(br#"{"a":1} "#, [b"a"]).is_some());
        assert!(object_fields(br#"{"a":1} x"#, [b"a"]).is_none());
        assert!(object_fields(br#"{"a":1"#, [b"a"]).is_none());
        assert!(object_fields(b"[DONE]", [b"a"]).is_none());
    }

    #[test]
    fn unescaped_lengths_match_serde() {
        for text in [
            "plain",
            "tab\tquote\"back\\slash/ nl\n",
            "é ü ß",
            "日本語",
            "emoji 😀 and \u{1}",
            "\u{7f}",
            "",
        ] {
            let json = serde_json::to_string(text).unwrap();
            // serde_json's own escaping, and the \u forms other writers use.
            let ascii: String = text
                .chars()
                .flat_map(|c| {
                    let mut units = [0u16; 2];
                    c.encode_utf16(&mut units)
                        .iter()
                        .map(|u| format!("\\u{u:04x}"))
                        .collect::<Vec<_>>()
                })
                .collect();
            for raw in [&json[1..json.len() - 1], ascii.as_str()] {
                let mut lens = Vec::new();
                unescaped_char_lens(raw.as_bytes(), |n| lens.push(n)).unwrap();
                let expected: Vec<usize> = text.chars().map(char::len_utf8).collect();
                assert_eq!(lens, expected, "{raw}");
            }
            // serde_json writes \u only for control characters without a short escape.
            assert_eq!(
                is_serde_escaped(&json.as_bytes()[1..json.len() - 1]),
                !json.contains("\\u"),
                "{json}"
            );
        }
        assert!(unescaped_char_lens(br"bad \x", |_| {}).is_none());
        assert!(unescaped_char_lens(br"short \u12", |_| {}).is_none());
        assert!(!is_serde_escaped(br"a\/b"));
        assert!(!is_serde_escaped(br"\u00e9"));
    }
}
