//! Eight bytes compared at once in one 64-bit word. The filter runs compiled to wasm
//! without vector instructions, where a byte-by-byte loop over a prompt (or memchr,
//! which falls back to four-byte words there) costs several times as much as this;
//! the scans that run over every string of every request use it.

/// Eight bytes of a text in one word. Each comparison gives a mask with the top bit of
/// every matching byte set: exact (no carry crosses a byte), so a set bit is a position
/// (see [`Lanes::first`]).
#[derive(Clone, Copy)]
pub struct Lanes(u64);

const ONES: u64 = 0x0101_0101_0101_0101;
const TOPS: u64 = 0x8080_8080_8080_8080;

impl Lanes {
    /// The words of `bytes`, the last one padded with `pad` (a byte the caller's
    /// comparisons do not look for).
    pub fn words(bytes: &[u8], pad: u8) -> impl Iterator<Item = Lanes> + '_ {
        let chunks = bytes.chunks_exact(8);
        let rest = chunks.remainder();
        let mut tail = [pad; 8];
        tail[..rest.len()].copy_from_slice(rest);
        chunks
            .map(|c| {
                let mut word = [0; 8];
                word.copy_from_slice(c);
                Lanes(u64::from_le_bytes(word))
            })
            .chain((!rest.is_empty()).then_some(Lanes(u64::from_le_bytes(tail))))
    }

    /// The bytes equal to `b`.
    pub fn equal(self, b: u8) -> u64 {
        let zero_where_equal = self.0 ^ (ONES * u64::from(b));
        !(((zero_where_equal & !TOPS) + !TOPS) | zero_where_equal | !TOPS)
    }

    /// The bytes below `b` (at most 0x80).
    pub fn below(self, b: u8) -> u64 {
        debug_assert!(b <= 0x80);
        !(((self.0 & !TOPS) + ONES * u64::from(0x80 - b)) | self.0) & TOPS
    }

    /// The position in the word of the first byte a mask marks.
    pub fn first(mask: u64) -> usize {
        (mask.trailing_zeros() / 8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comparison_marks_exactly_the_bytes_it_names() {
        // Every byte value at every position, beside neighbours that would carry or
        // borrow into it if a comparison leaked across bytes.
        for b in 0..=255u8 {
            for at in 0..8 {
                for neighbour in [0x00, 0x7F, 0x80, 0xFF, b.wrapping_add(1), b.wrapping_sub(1)] {
                    let mut bytes = [neighbour; 8];
                    bytes[at] = b;
                    let x = Lanes::words(&bytes, 0).next().unwrap();
                    for probe in [0x00, 0x09, b' ', b'"', b'-', 0x7F, 0x80, 0xFF, b] {
                        let expected: u64 = (0..8)
                            .filter(|&i| bytes[i] == probe)
                            .map(|i| 0x80 << (8 * i))
                            .sum();
                        assert_eq!(x.equal(probe), expected, "{bytes:?} = {probe}");
                    }
                    for limit in [0x01, 0x09, 0x0E, 0x20, 0x7F, 0x80] {
                        let expected: u64 = (0..8)
                            .filter(|&i| bytes[i] < limit)
                            .map(|i| 0x80 << (8 * i))
                            .sum();
                        assert_eq!(x.below(limit), expected, "{bytes:?} < {limit}");
                    }
                }
            }
        }
    }

    #[test]
    fn words_cover_the_text_and_pad_only_the_last() {
        let text = b"0123456789abc";
        let words: Vec<Lanes> = Lanes::words(text, b'.').collect();
        assert_eq!(words.len(), 2);
        assert_eq!(Lanes::first(words[1].equal(b'.')), 5);
        assert_eq!(Lanes::first(words[0].equal(b'3')), 3);
        assert_eq!(Lanes::words(b"01234567", b'.').count(), 1);
        assert_eq!(Lanes::words(b"", b'.').count(), 0);
    }
}
