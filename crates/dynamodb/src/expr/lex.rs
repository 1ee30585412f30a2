//! The tokens of DynamoDB's expression languages, with their byte positions (syntax errors quote the
//! source around the offending token, as DynamoDB's do).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A word: an attribute name, a function name or a keyword (`AND`, `SET`, ...; matched case-insensitively).
    Word,
    /// `#name`: an `ExpressionAttributeNames` placeholder.
    Name,
    /// `:value`: an `ExpressionAttributeValues` placeholder.
    Value,
    /// Digits, as in a list index `[3]`.
    Int,
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

/// The byte range of a character no token may start with.
#[derive(Debug)]
pub struct BadChar {
    pub start: usize,
    pub end: usize,
}

const PUNCT: [&str; 13] = ["<>", "<=", ">=", "(", ")", "[", "]", ",", ".", "=", "<", ">", "+"];

fn word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub fn lex(src: &str) -> Result<Vec<Token>, BadChar> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
            continue;
        }
        let start = i;
        let run = |from: usize| {
            let mut j = from;
            while j < bytes.len() && word_char(bytes[j]) {
                j += 1;
            }
            j
        };
        let tok = if b.is_ascii_alphabetic() {
            i = run(i);
            Tok::Word
        } else if b.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Int
        } else if (b == b'#' || b == b':') && i + 1 < bytes.len() && word_char(bytes[i + 1]) {
            i = run(i + 1);
            if b == b'#' {
                Tok::Name
            } else {
                Tok::Value
            }
        } else if b == b'-' {
            i += 1;
            Tok::Punct("-")
        } else if let Some(p) = PUNCT.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let width = src[i..].chars().next().map_or(1, char::len_utf8);
            return Err(BadChar { start, end: i + width });
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_placeholders_and_operators() {
        let src = "SET #a.b[12] = :v_1 + size(x)<>y";
        let toks = lex(src).unwrap();
        let shown: Vec<String> = toks
            .iter()
            .map(|t| match t.tok {
                Tok::Eof => "<EOF>".to_owned(),
                _ => t.text(src).to_owned(),
            })
            .collect();
        assert_eq!(
            shown,
            ["SET", "#a", ".", "b", "[", "12", "]", "=", ":v_1", "+", "size", "(", "x", ")", "<>", "y", "<EOF>"]
        );
        assert!(lex("a = !b").is_err());
        assert!(lex("a = é").is_err());
    }
}
