//! SQL `LIKE`: `%` matches any run of characters, `_` any one, an optional escape character
//! makes the next `%`, `_` or itself literal. Patterns compile once to a matcher with fast
//! paths for the common shapes (`abc`, `abc%`, `%abc`, `%abc%`).

use crate::sql::functions::EvalError;

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal characters.
    Text(Vec<char>),
    /// `_`: exactly one character.
    One,
    /// `%`: any run of characters.
    Any,
}

/// A compiled `LIKE` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    General(Vec<Piece>),
}

impl LikePattern {
    /// Compiles `pattern`; an escape character that is followed by anything but `%`, `_` or
    /// itself (or by nothing) is an error, as in Flink.
    pub fn new(pattern: &str, escape: Option<char>) -> Result<Self, EvalError> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut chars = pattern.chars();
        let push_char = |pieces: &mut Vec<Piece>, c: char| match pieces.last_mut() {
            Some(Piece::Text(t)) => t.push(c),
            _ => pieces.push(Piece::Text(vec![c])),
        };
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                match chars.next() {
                    Some(n) if n == '%' || n == '_' || Some(n) == escape => {
                        push_char(&mut pieces, n)
                    }
                    _ => {
                        return Err(EvalError::Argument {
                            function: "LIKE".to_string(),
                            reason: format!("invalid escape sequence in pattern '{pattern}'"),
                        })
                    }
                }
            } else if c == '%' {
                if pieces.last() != Some(&Piece::Any) {
                    pieces.push(Piece::Any);
                }
            } else if c == '_' {
                pieces.push(Piece::One);
            } else {
                push_char(&mut pieces, c);
            }
        }
        let text = |p: &Piece| match p {
            Piece::Text(t) => Some(t.iter().collect::<String>()),
            _ => None,
        };
        let shape = match pieces.as_slice() {
            [] => Shape::Exact(String::new()),
            [t] if text(t).is_some() => Shape::Exact(text(t).unwrap_or_default()),
            [t, Piece::Any] if text(t).is_some() => Shape::Prefix(text(t).unwrap_or_default()),
            [Piece::Any, t] if text(t).is_some() => Shape::Suffix(text(t).unwrap_or_default()),
            [Piece::Any] => Shape::Prefix(String::new()),
            [Piece::Any, t, Piece::Any] if text(t).is_some() => {
                Shape::Contains(text(t).unwrap_or_default())
            }
            _ => Shape::General(pieces),
        };
        Ok(LikePattern { shape })
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        match &self.shape {
            Shape::Exact(t) => s == t,
            Shape::Prefix(t) => s.starts_with(t.as_str()),
            Shape::Suffix(t) => s.ends_with(t.as_str()),
            Shape::Contains(t) => s.contains(t.as_str()),
            Shape::General(pieces) => {
                let chars: Vec<char> = s.chars().collect();
                matches_from(pieces, &chars)
            }
        }
    }
}

/// Matches pieces against characters, backtracking only to the last `%` (linear in practice,
/// quadratic at worst, never exponential).
fn matches_from(pieces: &[Piece], s: &[char]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        let step = match pieces.get(p) {
            Some(Piece::Any) => {
                resume = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(Piece::One) if i < s.len() => Some(1),
            Some(Piece::Text(t)) if s.get(i..).is_some_and(|rest| rest.starts_with(t)) => {
                Some(t.len())
            }
            None if i == s.len() => return true,
            _ => None,
        };
        match step {
            Some(n) => {
                p += 1;
                i += n;
            }
            None => match resume {
                Some((rp, ri)) if ri < s.len() => {
                    resume = Some((rp, ri + 1));
                    p = rp;
                    i = ri + 1;
                }
                _ => return false,
            },
        }
    }
}

/// `s LIKE pattern [ESCAPE escape]`, compiling the pattern for this one call; when the pattern
/// is a constant, compile a [`LikePattern`] once instead.
pub fn like(s: &str, pattern: &str, escape: Option<char>) -> Result<bool, EvalError> {
    Ok(LikePattern::new(pattern, escape)?.matches(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, p: &str) -> bool {
        like(s, p, None).unwrap_or(false)
    }

    #[test]
    fn wildcards_match_whole_strings() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(m("hello", "he%"));
        assert!(m("hello", "%llo"));
        assert!(m("hello", "%ll%"));
        assert!(m("hello", "h_llo"));
        assert!(m("hello", "%"));
        assert!(m("", "%"));
        assert!(!m("", "_"));
        assert!(m("abcabd", "%ab_"));
        assert!(m("aXbXc", "a%b%c"));
        assert!(!m("aXbXd", "a%b%c"));
        assert!(m("héllo", "h_llo"));
        assert!(m("mississippi", "%iss%ipp%"));
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        assert_eq!(like("50%", "50!%", Some('!')), Ok(true));
        assert_eq!(like("500", "50!%", Some('!')), Ok(false));
        assert_eq!(like("a_b", "a\\_b", Some('\\')), Ok(true));
        assert!(like("ab", "a!b", Some('!')).is_err());
    }
}
