//! Shell-style globs over metric names (`--match`, `--exclude`), as varnishstat's `-f`:
//! `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[!x]` a class, `\` quotes
//! the next character. Matched against the whole zone name, labels included. Small enough that
//! a glob crate would be more code than it saves.

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

#[derive(Clone, Debug)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => Token::Char(chars.next().ok_or_else(|| format!("glob {pattern:?} ends with a lone backslash"))?),
                '[' => {
                    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next().ok_or_else(|| format!("glob {pattern:?} has an unclosed '['"))?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' { chars.next().ok_or_else(|| format!("glob {pattern:?} has an unclosed '['"))? } else { c };
                        let hi = if chars.peek() == Some(&'-') && chars.clone().nth(1).is_some_and(|n| n != ']') {
                            chars.next();
                            chars.next().unwrap_or(lo)
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            });
        }
        Ok(Glob { tokens })
    }

    pub fn matches(&self, name: &str) -> bool {
        // Iterative matching with one backtrack point (the last star): linear in practice and
        // never exponential. `c` is a byte offset at a character boundary.
        let next = |c: usize| name[c..].chars().next().map(|ch| (ch, c + ch.len_utf8()));
        let (mut t, mut c) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while let Some((ch, after)) = next(c) {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, c));
                    t += 1;
                    continue;
                }
                Some(tok) if one(tok, ch) => {
                    t += 1;
                    c = after;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((st, sc)) => {
                    let (_, sc_after) = next(sc).expect("a character follows the star's start");
                    t = st + 1;
                    c = sc_after;
                    star = Some((st, sc_after));
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|tok| *tok == Token::Star)
    }
}

fn one(tok: &Token, c: char) -> bool {
    match tok {
        Token::Char(x) => *x == c,
        Token::Any => true,
        Token::Star => false,
        Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
    }
}

/// `--match` (any of them, or all names when none is given) minus `--exclude` (any of them).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub include: Vec<Glob>,
    pub exclude: Vec<Glob>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, String> {
        let compile = |v: &[String]| v.iter().map(|p| Glob::new(p)).collect::<Result<Vec<_>, _>>();
        Ok(Filter { include: compile(include)?, exclude: compile(exclude)? })
    }

    pub fn allows(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(name))) && !self.exclude.iter().any(|g| g.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).unwrap().matches(s)
    }

    #[test]
    fn globs() {
        assert!(m("*", ""));
        assert!(m("http_*", "http_requests_total{method=\"GET\"}"));
        assert!(!m("http_*", "xhttp_requests"));
        assert!(m("*_total", "a_total"));
        assert!(!m("*_total", "a_total{x=\"1\"}"));
        assert!(m("*{*method=\"GET\"*}", "h{code=\"200\",method=\"GET\"}"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[ab]x", "bx"));
        assert!(!m("[!ab]x", "bx"));
        assert!(m("[a-c]x", "cx"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("é?", "éé"));
        assert!(m("*é*ü", "aéxéü") && !m("*é*ü", "aéxéu"));
        assert!(Glob::new("[ab").is_err());
        assert!(Glob::new("x\\").is_err());
    }

    #[test]
    fn a_pathological_pattern_stays_fast() {
        let name = "a".repeat(255);
        // Exponential backtracking would not finish; one backtrack point keeps it O(n·m).
        assert!(!m(&format!("{}b", "*a".repeat(30)), &name));
    }

    #[test]
    fn filters() {
        let f = Filter::new(&["a*".into(), "b*".into()], &["*x".into()]).unwrap();
        assert!(f.allows("a1") && f.allows("b1") && !f.allows("c1") && !f.allows("ax"));
        assert!(Filter::default().allows("anything"));
    }
}
