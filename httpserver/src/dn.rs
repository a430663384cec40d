//! Distinguished names compared as names, never as loosely built strings:
//! a configured subject is parsed by RFC 4514 (escaping, multi-valued RDNs,
//! attribute types by keyword or OID) and a certificate's subject is read
//! attribute by attribute from its DER, so a common name that contains
//! `,O=Ops` is one attribute and never matches `CN=admin,O=Ops`.

use std::fmt;

/// Attribute types by their RFC 4514 / X.520 keywords.
const KEYWORDS: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("TITLE", "2.5.4.12"),
    ("GIVENNAME", "2.5.4.42"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

/// One attribute: its type as a dotted OID, and its value (`#hex` for a
/// value that is not a string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attribute {
    oid: String,
    value: String,
}

/// A distinguished name: relative distinguished names in RFC 4514 order
/// (most specific first), the attributes of each sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinguishedName(Vec<Vec<Attribute>>);

impl DistinguishedName {
    /// Parses an RFC 4514 string such as `CN=web-01,O=Grid` (white space
    /// around `,`, `+` and `=` is allowed and ignored, as operators write it).
    pub fn parse(s: &str) -> Result<DistinguishedName, String> {
        if s.trim().is_empty() {
            return Err("the distinguished name is empty".into());
        }
        let mut rdns = Vec::new();
        for rdn in split_unescaped(s, b',')? {
            let mut attrs = Vec::new();
            for ava in split_unescaped(rdn, b'+')? {
                let (ty, value) = ava
                    .split_once('=')
                    .ok_or_else(|| format!("{:?} has no '='", ava.trim()))?;
                attrs.push(Attribute {
                    oid: oid_of(ty.trim())?,
                    value: unescape(value)?,
                });
            }
            attrs.sort();
            rdns.push(attrs);
        }
        Ok(DistinguishedName(rdns))
    }

    /// The subject of a certificate, read attribute by attribute.
    pub fn of_x509(name: &x509_parser::x509::X509Name<'_>) -> DistinguishedName {
        let mut rdns: Vec<Vec<Attribute>> = name
            .iter()
            .map(|rdn| {
                let mut attrs: Vec<Attribute> = rdn
                    .iter()
                    .map(|atv| Attribute {
                        oid: atv.attr_type().to_id_string(),
                        value: match atv.as_str() {
                            Ok(s) => s.to_string(),
                            Err(_) => format!("#{}", hex(atv.attr_value().data)),
                        },
                    })
                    .collect();
                attrs.sort();
                attrs
            })
            .collect();
        // DER lists the least specific first; RFC 4514 the most specific.
        rdns.reverse();
        DistinguishedName(rdns)
    }

    /// The value of the most specific common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.0
            .iter()
            .flatten()
            .find(|a| a.oid == "2.5.4.3")
            .map(|a| a.value.as_str())
    }
}

/// RFC 4514 form, escaped, for logs and pages.
impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, a) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                let keyword = KEYWORDS.iter().find(|(_, oid)| *oid == a.oid);
                f.write_str(keyword.map_or(a.oid.as_str(), |(k, _)| k))?;
                f.write_str("=")?;
                if a.value.starts_with('#') && keyword.is_none() {
                    f.write_str(&a.value)?;
                } else {
                    f.write_str(&escape(&a.value))?;
                }
            }
        }
        Ok(())
    }
}

fn oid_of(ty: &str) -> Result<String, String> {
    if ty.starts_with(|c: char| c.is_ascii_digit()) {
        let ok = ty
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        return if ok && ty.contains('.') {
            Ok(ty.to_string())
        } else {
            Err(format!("{ty:?} is not a dotted OID"))
        };
    }
    let upper = ty.to_ascii_uppercase();
    let upper = upper.strip_prefix("OID.").unwrap_or(&upper);
    if upper.starts_with(|c: char| c.is_ascii_digit()) {
        return oid_of(upper);
    }
    KEYWORDS
        .iter()
        .find(|(k, _)| *k == upper || (upper == "E" && *k == "EMAILADDRESS"))
        .map(|(_, oid)| oid.to_string())
        .ok_or_else(|| format!("{ty:?} is not an attribute type this program knows: use CN, O, OU, C, L, ST, DC, UID, … or a dotted OID"))
}

/// Splits at `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &str, sep: u8) -> Result<Vec<&str>, String> {
    let b = s.as_bytes();
    let (mut parts, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == sep => {
                parts.push(&s[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    parts.push(&s[start.min(s.len())..]);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!("{s:?} has an empty part"));
    }
    Ok(parts)
}

/// An attribute value: `\` escapes a special character or gives a byte as two
/// hex digits; unescaped leading and trailing spaces are not part of it.
fn unescape(raw: &str) -> Result<String, String> {
    let raw = raw.trim_start_matches(' ');
    if let Some(hex_value) = raw.trim_end().strip_prefix('#') {
        if hex_value.len() % 2 == 0 && hex_value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(format!("#{}", hex_value.to_ascii_lowercase()));
        }
        return Err(format!("{raw:?}: '#' must begin a hex-encoded value"));
    }
    let b = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    // Length of `out` up to the last character that was escaped or not a space.
    let mut keep = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let next = *b
                    .get(i + 1)
                    .ok_or_else(|| format!("{raw:?} ends in '\\'"))?;
                if b"\"+,;<>\\ #=".contains(&next) {
                    out.push(next);
                    i += 2;
                } else {
                    let pair = raw
                        .get(i + 1..i + 3)
                        .filter(|p| p.bytes().all(|c| c.is_ascii_hexdigit()))
                        .ok_or_else(|| format!("{raw:?}: '\\' must be followed by a special character or two hex digits"))?;
                    out.push(u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?);
                    i += 3;
                }
                keep = out.len();
            }
            c @ (b'"' | b';' | b'<' | b'>') => {
                return Err(format!(
                    "{raw:?}: {:?} must be escaped with '\\'",
                    c as char
                ))
            }
            c => {
                out.push(c);
                i += 1;
                if c != b' ' {
                    keep = out.len();
                }
            }
        }
    }
    out.truncate(keep);
    String::from_utf8(out).map_err(|_| format!("{raw:?}: the escaped bytes are not UTF-8"))
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{byte:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> DistinguishedName {
        DistinguishedName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// A certificate with this subject, as rcgen writes it (DER order as given).
    fn cert_subject(attrs: &[(rcgen::DnType, &str)]) -> DistinguishedName {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        for (ty, v) in attrs {
            name.push(ty.clone(), *v);
        }
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        DistinguishedName::of_x509(parsed.subject())
    }

    #[test]
    fn spelling_differences_that_do_not_change_the_name() {
        let a = dn("CN=admin,O=Ops");
        for same in [
            "CN=admin, O=Ops",
            "cn=admin,o=Ops",
            " CN = admin , O = Ops ",
            "2.5.4.3=admin,2.5.4.10=Ops",
            "OID.2.5.4.3=admin,O=Ops",
            "CN=\\61dmin,O=Ops",
        ] {
            assert_eq!(dn(same), a, "{same}");
        }
        assert_eq!(
            dn("CN=a+UID=b,O=x"),
            dn("UID=b+CN=a,O=x"),
            "a multi-valued RDN is a set"
        );
        assert_eq!(dn("CN=caf\\C3\\A9"), dn("CN=café"));
    }

    #[test]
    fn escaped_separators_stay_inside_one_value() {
        let one = dn("CN=admin\\,O=Ops");
        assert_ne!(one, dn("CN=admin,O=Ops"));
        assert_eq!(one.common_name(), Some("admin,O=Ops"));
        assert_eq!(one.to_string(), "CN=admin\\,O=Ops");
        assert_eq!(dn("CN=a\\+b").to_string(), "CN=a\\+b");
        assert_ne!(dn("CN=a\\+b"), dn("CN=a+UID=b"));
        assert_eq!(dn("CN=\\ lead\\ ").common_name(), Some(" lead "));
        assert_eq!(dn("CN=\\ lead\\ ").to_string(), "CN=\\ lead\\ ");
        assert_ne!(dn("CN=admin,O=Ops"), dn("O=Ops,CN=admin"), "order matters");
    }

    #[test]
    fn malformed_names_are_refused_with_a_reason() {
        for bad in [
            "",
            "CN",
            "CN=a,,O=b",
            "CN=a,",
            "XX=a",
            "CN=a\"b",
            "CN=a;b",
            "CN=a\\",
            "CN=a\\zz",
            "1.2.x=a",
            "CN=#abc",
            "CN=\\ff",
        ] {
            assert!(
                DistinguishedName::parse(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn a_certificate_subject_is_read_attribute_by_attribute() {
        use rcgen::DnType;
        // DER order O then CN: RFC 4514 shows the most specific first.
        let real = cert_subject(&[
            (DnType::OrganizationName, "Ops"),
            (DnType::CommonName, "admin"),
        ]);
        assert_eq!(real, dn("CN=admin,O=Ops"));
        assert_eq!(real.to_string(), "CN=admin,O=Ops");
        // A common name that spells another name is one attribute.
        let forged = cert_subject(&[(DnType::CommonName, "admin,O=Ops")]);
        assert_ne!(forged, dn("CN=admin,O=Ops"));
        assert_eq!(forged, dn("CN=admin\\,O=Ops"));
        assert_eq!(forged.to_string(), "CN=admin\\,O=Ops");
        let forged = cert_subject(&[
            (DnType::OrganizationName, "Ops"),
            (DnType::CommonName, "admin, O=Ops"),
        ]);
        assert_ne!(forged, dn("CN=admin, O=Ops,O=Ops"));
    }
}
