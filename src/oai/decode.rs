//! Bytes → text before parsing. Real endpoints send BOMs, junk before the XML declaration,
//! windows-1251 or KOI8-R bodies, invalid UTF-8 and XML-illegal control characters
//! (quirks.md #40–48); the parser only ever sees clean UTF-8 text.

use encoding_rs::Encoding;

/// What decoding had to repair; recorded as quirks of the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// The encoding used (WHATWG name, e.g. `UTF-8`, `windows-1251`).
    pub encoding: &'static str,
    /// Invalid byte sequences were replaced with U+FFFD.
    pub lossy: bool,
    /// Count of XML-1.0-illegal characters removed.
    pub illegal_chars_removed: usize,
    /// Bytes skipped before the first `<` (BOM excluded).
    pub junk_skipped: usize,
}

/// Decodes a response body. The encoding is chosen BOM > XML declaration > HTTP charset >
/// UTF-8, as XML 1.0 Appendix F prescribes for a document fetched over HTTP.
pub fn decode_body(bytes: &[u8], http_charset: Option<&str>) -> (String, DecodeReport) {
    let mut report = DecodeReport::default();
    let (bom_enc, bom_len) = match Encoding::for_bom(bytes) {
        Some((enc, len)) => (Some(enc), len),
        None => (None, 0),
    };
    let rest = &bytes[bom_len..];
    let start = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
    report.junk_skipped = start;
    let body = &rest[start..];

    let encoding = bom_enc
        .or_else(|| declared_encoding(body))
        .or_else(|| http_charset.and_then(|c| Encoding::for_label(c.trim().as_bytes())))
        .unwrap_or(encoding_rs::UTF_8);
    report.encoding = encoding.name();
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    report.lossy = had_errors;
    let (text, removed) = strip_illegal_chars(text.into_owned());
    report.illegal_chars_removed = removed;
    (text, report)
}

/// The `encoding="…"` of an XML declaration at the start of `body`, if known to encoding_rs.
/// A declaration saying UTF-16 on a body without a BOM is ignored: the bytes are ASCII-compatible.
fn declared_encoding(body: &[u8]) -> Option<&'static Encoding> {
    let head = body.get(..body.len().min(200))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let after = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let after = after.trim_start();
    let quote = after.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let value = after[1..].split(quote).next()?;
    let enc = Encoding::for_label(value.as_bytes())?;
    (enc != encoding_rs::UTF_16LE && enc != encoding_rs::UTF_16BE).then_some(enc)
}

/// Removes characters XML 1.0 forbids (C0 controls except tab/CR/LF, U+FFFE/U+FFFF,
/// U+0000) and character references to them, which quick-xml would otherwise reject or
/// pass into the database (PostgreSQL refuses U+0000 in text).
pub fn strip_illegal_chars(text: String) -> (String, usize) {
    let needs_work = text.chars().any(is_illegal) || text.contains("&#");
    if !needs_work {
        return (text, 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("&#")
            && let Some((len, ch)) = char_ref(rest)
            && ch.is_none_or(is_illegal)
        {
            removed += 1;
            rest = &rest[len..];
            continue;
        }
        if is_illegal(c) {
            removed += 1;
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    (out, removed)
}

/// Characters XML 1.0 forbids in a document.
pub(crate) fn is_illegal(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Parses `&#NN;` / `&#xHH;` at the start of `s`: (byte length, the char or None when the
/// number is not a Unicode scalar value, e.g. a lone surrogate).
fn char_ref(s: &str) -> Option<(usize, Option<char>)> {
    let end = s.find(';')?;
    if end > 12 {
        return None;
    }
    let body = &s[2..end];
    let n = if let Some(hex) = body.strip_prefix('x').or_else(|| body.strip_prefix('X')) {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        body.parse::<u32>().ok()?
    };
    Some((end + 1, char::from_u32(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_utf8_passes_untouched() {
        let (t, r) = decode_body("<a>Привет</a>".as_bytes(), None);
        assert_eq!(t, "<a>Привет</a>");
        assert_eq!(r.encoding, "UTF-8");
        assert!(!r.lossy);
        assert_eq!(r.illegal_chars_removed, 0);
    }

    #[test]
    fn bom_and_junk_before_the_declaration_are_skipped() {
        let mut body = vec![0xEF, 0xBB, 0xBF];
        body.extend_from_slice(b"\n\n  <?xml version=\"1.0\"?><a/>");
        let (t, r) = decode_body(&body, None);
        assert_eq!(t, "<?xml version=\"1.0\"?><a/>");
        assert_eq!(r.junk_skipped, 4);
    }

    #[test]
    fn declared_windows_1251_is_decoded() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<?xml version=\"1.0\" encoding=\"windows-1251\"?><a>Журнал</a>");
        let (t, r) = decode_body(&bytes, Some("utf-8"));
        assert!(t.ends_with("<a>Журнал</a>"), "{t}");
        assert_eq!(r.encoding, "windows-1251");
    }

    #[test]
    fn http_charset_is_used_when_the_body_says_nothing() {
        let (bytes, _, _) = encoding_rs::KOI8_R.encode("<a>Журнал</a>");
        let (t, r) = decode_body(&bytes, Some("koi8-r"));
        assert_eq!(t, "<a>Журнал</a>");
        assert_eq!(r.encoding, "KOI8-R");
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_and_flagged() {
        let (t, r) = decode_body(b"<a>ok \xff\xfe done</a>", None);
        assert!(r.lossy);
        assert!(t.starts_with("<a>ok "));
    }

    #[test]
    fn illegal_characters_and_references_are_removed() {
        let (t, n) =
            strip_illegal_chars("<a>x\u{1}y&#x0;&#xFFFE;&#55296;&#65;&#x42;z\u{0}</a>".into());
        assert_eq!(t, "<a>xy&#65;&#x42;z</a>");
        assert_eq!(n, 5);
    }
}
