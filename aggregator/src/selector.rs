//! Prometheus series selectors, as `/federate?match[]=` takes them:
//! `name`, `name{label="value", ...}` or `{label=~"regex", ...}`, with the
//! operators `=`, `!=`, `=~` and `!~`. As in Prometheus, regular expressions
//! match the whole value, a label a series lacks reads as the empty value,
//! and a selector needs one matcher that does not match the empty value
//! (else it would select everything).

use regex::Regex;

#[derive(Debug)]
enum Op {
    Eq,
    Ne,
    Re(Regex),
    NotRe(Regex),
}

#[derive(Debug)]
struct Matcher {
    label: String,
    op: Op,
    value: String,
}

impl Matcher {
    fn matches(&self, v: &str) -> bool {
        match &self.op {
            Op::Eq => v == self.value,
            Op::Ne => v != self.value,
            Op::Re(re) => re.is_match(v),
            Op::NotRe(re) => !re.is_match(v),
        }
    }
}

/// One parsed selector.
#[derive(Debug)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Whether the series `name{labels}` is selected.
    pub fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matchers.iter().all(|m| {
            let v = if m.label == "__name__" {
                name
            } else {
                labels
                    .iter()
                    .find(|(k, _)| *k == m.label)
                    .map_or("", |(_, v)| *v)
            };
            m.matches(v)
        })
    }

    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let mut matchers = Vec::new();
        p.space();
        if let Some(name) = p.name(true) {
            matchers.push(Matcher {
                label: "__name__".into(),
                op: Op::Eq,
                value: name,
            });
        }
        p.space();
        if p.eat(b'{') {
            loop {
                p.space();
                if p.eat(b'}') {
                    break;
                }
                let label = p.name(false).ok_or_else(|| p.error("a label name"))?;
                p.space();
                let op = if p.eat_str("=~") {
                    "=~"
                } else if p.eat_str("!~") {
                    "!~"
                } else if p.eat_str("!=") {
                    "!="
                } else if p.eat(b'=') {
                    "="
                } else {
                    return Err(p.error("=, !=, =~ or !~"));
                };
                p.space();
                let value = p.quoted()?;
                let anchored = || {
                    Regex::new(&format!("^(?:{value})$"))
                        .map_err(|e| format!("{label}{op}{value:?}: {e}"))
                };
                let op = match op {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "=~" => Op::Re(anchored()?),
                    _ => Op::NotRe(anchored()?),
                };
                matchers.push(Matcher { label, op, value });
                p.space();
                if p.eat(b',') {
                    continue;
                }
                p.space();
                if p.eat(b'}') {
                    break;
                }
                return Err(p.error(", or }"));
            }
        }
        p.space();
        if p.at != p.s.len() {
            return Err(p.error("the end of the selector"));
        }
        if !matchers.iter().any(|m| !m.matches("")) {
            return Err(format!(
                "{text:?} selects every series: it needs a matcher that does not match the empty value, such as a metric name"
            ));
        }
        Ok(Selector { matchers })
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, wanted: &str) -> String {
        let text = String::from_utf8_lossy(self.s);
        format!("{text:?}: expected {wanted} at character {}", self.at + 1)
    }

    fn space(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, t: &str) -> bool {
        if self.s[self.at..].starts_with(t.as_bytes()) {
            self.at += t.len();
            true
        } else {
            false
        }
    }

    /// A metric name (with colons) or a label name.
    fn name(&mut self, metric: bool) -> Option<String> {
        let start = self.at;
        while let Some(&b) = self.s.get(self.at) {
            let first = self.at == start;
            let ok = b.is_ascii_alphabetic()
                || b == b'_'
                || (metric && b == b':')
                || (!first && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    /// A string in double or single quotes or backticks, with PromQL's
    /// escapes (none in backticks).
    fn quoted(&mut self) -> Result<String, String> {
        let quote = match self.s.get(self.at) {
            Some(q @ (b'"' | b'\'' | b'`')) => *q,
            _ => return Err(self.error("a quoted value")),
        };
        self.at += 1;
        let mut out = Vec::new();
        while let Some(&b) = self.s.get(self.at) {
            self.at += 1;
            if b == quote {
                return String::from_utf8(out).map_err(|_| self.error("UTF-8"));
            }
            if b == b'\\' && quote != b'`' {
                let e = self
                    .s
                    .get(self.at)
                    .copied()
                    .ok_or_else(|| self.error("an escape"))?;
                self.at += 1;
                out.push(match e {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'\\' | b'"' | b'\'' => e,
                    _ => return Err(self.error("one of the escapes \\\\ \\\" \\' \\n \\t")),
                });
            } else {
                out.push(b);
            }
        }
        Err(self.error("the closing quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn selectors_match_as_prometheus_matches() {
        let labels = [("host", "web-01.example.org"), ("site", "SiteA")];
        let m = |s: &str, name: &str| sel(s).matches(name, &labels);
        assert!(m("pakiti_updates_pending", "pakiti_updates_pending"));
        assert!(!m("pakiti_updates_pending", "pakiti_updates_held"));
        assert!(m(r#"{site="SiteA"}"#, "x"));
        assert!(!m(r#"{site="SiteB"}"#, "x"));
        assert!(m(r#"x{site!="SiteB"}"#, "x"));
        assert!(
            Selector::parse(r#"{site!="SiteB"}"#).is_err(),
            "matches the empty value"
        );
        assert!(m(r#"{__name__=~"pakiti_.*", host=~"web-.*"}"#, "pakiti_x"));
        // Regular expressions match the whole value.
        assert!(!m(r#"{host=~"web"}"#, "x"));
        assert!(m(r#"{host!~"db-.*", __name__="x"}"#, "x"));
        // A label the series lacks is empty.
        assert!(m(r#"x{severity=""}"#, "x"));
        assert!(!m(r#"{severity="high"}"#, "x"));
        assert!(m(r#"  x { site = 'SiteA' , } "#, "x"));
        assert!(m(r#"{site=`SiteA`}"#, "x"));
        assert!(m(
            r#"{host="web-01.example.org",site="Site\u{41}"}"#.replace("\\u{41}", "A").as_str(),
            "x"
        ));
        assert!(m("pakiti:recorded", "pakiti:recorded"));
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        for (bad, why) in [
            ("", "selects every series"),
            (r#"{site=~".*"}"#, "selects every series"),
            (r#"{site="A""#, "expected , or }"),
            (r#"{site=A}"#, "a quoted value"),
            (r#"{site~"A"}"#, "=, !=, =~ or !~"),
            (r#"{site="A\q"}"#, "escapes"),
            (r#"{site=~"("}"#, "regex"),
            (r#"x y"#, "the end"),
            (r#"{site="A"#, "closing quote"),
            (r#"{1site="A"}"#, "a label name"),
        ] {
            let e = Selector::parse(bad).unwrap_err();
            assert!(e.to_lowercase().contains(why), "{bad}: {e}");
        }
    }
}
