//! DynamoDB numbers: exact decimals of up to 38 significant digits with magnitudes from 1E-130 to just under
//! 1E+126, normalized on output, and encoded for keys so that byte order is numeric order.

use std::cmp::Ordering;

use crate::DynamoError;

/// `0.d1 d2 ... dn x 10^exponent`, with no leading or trailing zero digit; zero has no digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: Vec<u8>,
    exponent: i32,
}

const MAX_DIGITS: usize = 38;
/// 1E-130 is `0.1 x 10^-129`; anything under 1E+126 has an exponent of at most 126.
const MIN_EXPONENT: i32 = -129;
const MAX_EXPONENT: i32 = 126;

fn not_numeric(text: &str) -> DynamoError {
    DynamoError::Validation(format!("The parameter cannot be converted to a numeric value: {text}"))
}

impl Number {
    pub fn zero() -> Number {
        Number {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Parses DynamoDB's number text (`-12.50`, `1e3`, `.5`), with its limits and messages.
    pub fn parse(text: &str) -> Result<Number, DynamoError> {
        let t = text.trim();
        let (negative, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp_text) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(not_numeric(text));
        }
        let exp: i64 = match exp_text {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
                    return Err(not_numeric(text));
                }
                e.parse().map_err(|_| not_numeric(text))?
            }
        };
        let all: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
        let Some(first) = all.iter().position(|d| *d != 0) else {
            return Ok(Number::zero());
        };
        let last = all.iter().rposition(|d| *d != 0).unwrap_or(first);
        let digits = all[first..=last].to_vec();
        // The value is 0.all x 10^(int_part.len() + exp); dropping `first` leading zeros lowers it.
        let exponent = int_part.len() as i64 + exp - first as i64;
        if digits.len() > MAX_DIGITS {
            return Err(DynamoError::Validation(
                "Attempting to store more than 38 significant digits in a Number".into(),
            ));
        }
        if exponent > MAX_EXPONENT as i64 {
            return Err(DynamoError::Validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range".into(),
            ));
        }
        if exponent < MIN_EXPONENT as i64 {
            return Err(DynamoError::Validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range".into(),
            ));
        }
        Ok(Number {
            negative,
            digits,
            exponent: exponent as i32,
        })
    }

    /// The normalized text DynamoDB returns: plain notation, no redundant zeros, no `-0`.
    pub fn to_text(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let mut out = String::new();
        if self.negative {
            out.push('-');
        }
        let ds: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        let e = self.exponent;
        let n = self.digits.len() as i32;
        if e <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-e) as usize));
            out.push_str(&ds);
        } else if e >= n {
            out.push_str(&ds);
            out.push_str(&"0".repeat((e - n) as usize));
        } else {
            out.push_str(&ds[..e as usize]);
            out.push('.');
            out.push_str(&ds[e as usize..]);
        }
        out
    }

    /// A key encoding whose byte order is the numbers' order.
    pub fn to_key_bytes(&self) -> Vec<u8> {
        if self.is_zero() {
            return vec![0x80];
        }
        let biased = (self.exponent + 256) as u16;
        let mut out = Vec::with_capacity(self.digits.len() + 4);
        if self.negative {
            out.push(0x7F);
            out.extend_from_slice(&(!biased).to_be_bytes());
            out.extend(self.digits.iter().map(|d| 10 - d));
            out.push(0xFF);
        } else {
            out.push(0x81);
            out.extend_from_slice(&biased.to_be_bytes());
            out.extend(self.digits.iter().map(|d| d + 1));
            out.push(0x00);
        }
        out
    }

    pub fn from_key_bytes(bytes: &[u8]) -> Option<Number> {
        let (&tag, rest) = bytes.split_first()?;
        match tag {
            0x80 if rest.is_empty() => Some(Number::zero()),
            0x81 | 0x7F => {
                let negative = tag == 0x7F;
                if rest.len() < 4 {
                    return None;
                }
                let mut biased = u16::from_be_bytes([rest[0], rest[1]]);
                if negative {
                    biased = !biased;
                }
                let body = &rest[2..rest.len() - 1];
                let end = rest[rest.len() - 1];
                if end != if negative { 0xFF } else { 0x00 } {
                    return None;
                }
                let digits: Option<Vec<u8>> = body
                    .iter()
                    .map(|b| {
                        let d = if negative {
                            10u8.checked_sub(*b)?
                        } else {
                            b.checked_sub(1)?
                        };
                        (d <= 9).then_some(d)
                    })
                    .collect();
                let digits = digits?;
                if digits.is_empty() || digits[0] == 0 || digits[digits.len() - 1] == 0 {
                    return None;
                }
                Some(Number {
                    negative,
                    digits,
                    exponent: biased as i32 - 256,
                })
            }
            _ => None,
        }
    }

    /// `self + other`, exact, with DynamoDB's limits on the result (UpdateExpression `+`, `ADD`).
    pub fn add(&self, other: &Number) -> Result<Number, DynamoError> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        // Both as integers scaled by 10^low, where low is the smaller exponent of a last digit.
        let low = (self.exponent - self.digits.len() as i32).min(other.exponent - other.digits.len() as i32);
        let a = self.scaled(low);
        let b = other.scaled(low);
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, add_magnitudes(&a, &b))
        } else if compare_magnitudes(&a, &b) != Ordering::Less {
            (self.negative, sub_magnitudes(&a, &b))
        } else {
            (other.negative, sub_magnitudes(&b, &a))
        };
        let text: String = magnitude.iter().rev().map(|d| char::from(b'0' + d)).collect();
        let sign = if negative { "-" } else { "" };
        Number::parse(&format!("{sign}{text}E{low}"))
    }

    /// `self - other` (UpdateExpression `-`).
    pub fn sub(&self, other: &Number) -> Result<Number, DynamoError> {
        let mut negated = other.clone();
        negated.negative = !negated.negative && !negated.is_zero();
        self.add(&negated)
    }

    /// The digits of `|self| / 10^low` as an integer, least significant first.
    fn scaled(&self, low: i32) -> Vec<u8> {
        let trailing = (self.exponent - self.digits.len() as i32 - low) as usize;
        let mut out = vec![0u8; trailing];
        out.extend(self.digits.iter().rev());
        out
    }

    /// Bytes the number counts for in item size (about one per two significant digits, plus one).
    pub fn size_bytes(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }
}

fn add_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for (i, &digit) in a.iter().enumerate() {
        let mut d = digit as i8 - b.get(i).copied().unwrap_or(0) as i8 - borrow;
        borrow = i8::from(d < 0);
        if d < 0 {
            d += 10;
        }
        out.push(d as u8);
    }
    out
}

fn compare_magnitudes(a: &[u8], b: &[u8]) -> Ordering {
    let significant = |x: &[u8]| x.iter().rposition(|d| *d != 0).map_or(0, |p| p + 1);
    let (la, lb) = (significant(a), significant(b));
    la.cmp(&lb).then_with(|| a[..la].iter().rev().cmp(b[..lb].iter().rev()))
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_key_bytes().cmp(&other.to_key_bytes())
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn adds_and_subtracts_exactly() {
        for (a, b, sum, diff) in [
            ("1", "2", "3", "-1"),
            ("0.1", "0.2", "0.3", "-0.1"),
            ("-5", "5", "0", "-10"),
            (
                "99999999999999999999999999999999999999",
                "-1",
                "99999999999999999999999999999999999998",
                "100000000000000000000000000000000000000",
            ),
            (
                "1e100",
                "1",
                "Attempting to store more than 38 significant digits in a Number",
                "Attempting to store more than 38 significant digits in a Number",
            ),
            ("12.5", "-0.25", "12.25", "12.75"),
            ("0", "-7", "-7", "7"),
        ] {
            let (x, y) = (n(a), n(b));
            match x.add(&y) {
                Ok(r) => assert_eq!(r.to_text(), sum, "{a} + {b}"),
                Err(e) => assert_eq!(e.to_string(), sum, "{a} + {b}"),
            }
            match x.sub(&y) {
                Ok(r) => assert_eq!(r.to_text(), diff, "{a} - {b}"),
                Err(e) => assert_eq!(e.to_string(), diff, "{a} - {b}"),
            }
        }
        assert_eq!(
            n("9E+125").add(&n("1E+125")).unwrap_err().to_string(),
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        );
    }

    #[test]
    fn normalizes_as_dynamodb_returns_numbers() {
        for (input, out) in [
            ("1.0", "1"),
            ("100", "100"),
            ("1e2", "100"),
            ("1E+2", "100"),
            ("-0", "0"),
            ("0.000", "0"),
            ("00012.3400", "12.34"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-1.5e-3", "-0.0015"),
            ("+7", "7"),
            (
                "123456789012345678901234567890.12345678",
                "123456789012345678901234567890.12345678",
            ),
        ] {
            assert_eq!(n(input).to_text(), out, "{input}");
        }
    }

    #[test]
    fn limits_and_messages() {
        let err = |s: &str| Number::parse(s).unwrap_err().to_string();
        assert_eq!(err("abc"), "The parameter cannot be converted to a numeric value: abc");
        assert_eq!(err(""), "The parameter cannot be converted to a numeric value: ");
        assert_eq!(err("1e"), "The parameter cannot be converted to a numeric value: 1e");
        assert_eq!(
            err("1.2.3"),
            "The parameter cannot be converted to a numeric value: 1.2.3"
        );
        assert!(err("123456789012345678901234567890123456789").contains("38 significant digits"));
        assert!(err("1E126").starts_with("Number overflow"));
        assert!(err("1E-131").starts_with("Number underflow"));
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert!(Number::parse("1E-130").is_ok());
        assert!(Number::parse("-1E-130").is_ok());
        // Trailing zeros are not significant digits.
        assert!(Number::parse("12345678901234567890123456789012345678000000").is_ok());
    }

    /// An independent comparison: scale both to integers and compare their decimal strings.
    fn reference_cmp(a: &Number, b: &Number) -> Ordering {
        let sign = |x: &Number| {
            if x.is_zero() {
                0
            } else if x.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(a), sign(b));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        // value = int(digits) x 10^(exponent - len)
        let scale = |x: &Number| x.exponent - x.digits.len() as i32;
        let m = scale(a).min(scale(b));
        let as_int = |x: &Number| {
            let mut s: String = x.digits.iter().map(|d| char::from(b'0' + d)).collect();
            s.push_str(&"0".repeat((scale(x) - m) as usize));
            s
        };
        let (ia, ib) = (as_int(a), as_int(b));
        let mag = ia.len().cmp(&ib.len()).then(ia.cmp(&ib));
        if sa < 0 {
            mag.reverse()
        } else {
            mag
        }
    }

    fn number() -> impl Strategy<Value = Number> {
        (any::<bool>(), proptest::collection::vec(0u8..10, 0..6), -129i32..=126).prop_filter_map(
            "normalized",
            |(neg, mut ds, e)| {
                while ds.first() == Some(&0) {
                    ds.remove(0);
                }
                while ds.last() == Some(&0) {
                    ds.pop();
                }
                Some(if ds.is_empty() {
                    Number::zero()
                } else {
                    Number {
                        negative: neg,
                        digits: ds,
                        exponent: e,
                    }
                })
            },
        )
    }

    proptest! {
        #[test]
        fn key_order_is_numeric_order(a in number(), b in number()) {
            prop_assert_eq!(a.to_key_bytes().cmp(&b.to_key_bytes()), reference_cmp(&a, &b));
        }

        #[test]
        fn key_bytes_and_text_round_trip(a in number()) {
            prop_assert_eq!(Number::from_key_bytes(&a.to_key_bytes()), Some(a.clone()));
            prop_assert_eq!(Number::parse(&a.to_text()).unwrap(), a);
        }

        #[test]
        fn arithmetic_matches_scaled_integers(a in -10i64.pow(15)..10i64.pow(15), b in -10i64.pow(15)..10i64.pow(15), s in 0u32..8, t in 0u32..8) {
            // a x 10^-s and b x 10^-t, brought to the common scale 10^-(s+t).
            let x = n(&format!("{a}e-{s}"));
            let y = n(&format!("{b}e-{t}"));
            let (wa, wb) = (a as i128 * 10i128.pow(t), b as i128 * 10i128.pow(s));
            let scale = s + t;
            prop_assert_eq!(x.add(&y).unwrap(), n(&format!("{}e-{scale}", wa + wb)));
            prop_assert_eq!(x.sub(&y).unwrap(), n(&format!("{}e-{scale}", wa - wb)));
        }

        #[test]
        fn parse_never_panics(s in "[-+0-9.eE]{0,12}") {
            let _ = Number::parse(&s);
        }

        #[test]
        fn from_key_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = Number::from_key_bytes(&b);
        }
    }
}
