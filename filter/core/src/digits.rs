//! Decimal digits appended to a string directly. Per-request text (a cost header, a
//! price entry's date) is written this way instead of through `format!`: the
//! formatting machinery costs more than the work it reports, inside the VM most.

/// Appends `n` in decimal, zero-padded to at least `width` digits.
pub fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in digits.len() - at..width {
        out.push('0');
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_written_as_the_formatting_machinery_writes_them() {
        for n in [0, 1, 9, 10, 99, 2026, 123_456_789, u64::MAX] {
            for width in [0, 1, 2, 4, 9, 25] {
                let mut out = String::from("x");
                push_padded(&mut out, n, width);
                assert_eq!(out, format!("x{n:0width$}"));
            }
        }
    }
}
