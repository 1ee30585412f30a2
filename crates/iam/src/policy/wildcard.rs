//! IAM wildcard matching: `*` matches any run of characters (also none), `?` exactly one.
//!
//! Linear time with one backtrack point (the classic greedy algorithm), so a hostile pattern cannot make
//! evaluation exponential.

pub fn matches(pattern: &str, text: &str) -> bool {
    matches_by(pattern, text, |a, b| a == b)
}

pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches_by(pattern, text, |a, b| a == b || a.to_lowercase().eq(b.to_lowercase()))
}

fn matches_by(pattern: &str, text: &str, eq: impl Fn(char, char) -> bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Obviously-correct exponential reference.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    #[test]
    fn examples() {
        assert!(matches("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext"));
        assert!(matches("kms:GenerateDataKey*", "kms:GenerateDataKey"));
        assert!(!matches("kms:Gen?", "kms:Gen"));
        assert!(matches("dynamodb.*.amazonaws.com", "dynamodb.us-west-2.amazonaws.com"));
        assert!(matches("*", ""));
        assert!(!matches("", "a"));
        assert!(matches_ignore_case("KMS:decrypt", "kms:Decrypt"));
        assert!(!matches("KMS:decrypt", "kms:Decrypt"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }

    proptest! {
        #[test]
        fn agrees_with_reference_on_ascii(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(matches(&p, &t), reference(&pc, &tc));
        }

        #[test]
        fn agrees_with_reference_on_unicode(p in "[éx*?/]{0,8}", t in "[éx/]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(matches(&p, &t), reference(&pc, &tc));
        }

        #[test]
        fn a_literal_pattern_matches_only_itself(s in "[a-z:/]{0,12}", t in "[a-z:/]{0,12}") {
            prop_assert_eq!(matches(&s, &t), s == t);
        }
    }
}
