//! Lexical details the grammar leaves loose: number shapes, string escapes, block strings.

/// Whether a loosely lexed number is `-?digits(.digits)?([eE][+-]?digits)?`.
pub(super) fn valid_number(s: &str) -> bool {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[i..]);
    if n == 0 {
        return false;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(&b[i + 1..]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&b[i..]);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// `$name` → `name`.
pub(super) fn variable_name(s: &str) -> String {
    s.strip_prefix('$').unwrap_or(s).to_string()
}

/// Quotes the escape sequence at the start of `s` (a backslash and one more character).
pub(super) fn found_token_escape(s: &str) -> String {
    let esc: String = s.chars().take(2).collect();
    format!("`{esc}`")
}

/// Resolves escapes in a string body already validated by the grammar.
///
/// Errors carry the byte offset (within `s`) of the offending escape.
pub(super) fn unescape(s: &str) -> std::result::Result<String, (usize, String)> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    let mut literal_start = 0usize;
    let bad = |at: usize, what: &str| (at, format!("invalid {what} in string"));
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(s.get(literal_start..i).unwrap_or(""));
        let esc_start = i;
        let simple = match bytes.get(i + 1) {
            Some(b'"') => Some('"'),
            Some(b'\\') => Some('\\'),
            Some(b'/') => Some('/'),
            Some(b'b') => Some('\u{8}'),
            Some(b'f') => Some('\u{c}'),
            Some(b'n') => Some('\n'),
            Some(b'r') => Some('\r'),
            Some(b't') => Some('\t'),
            Some(b'u') => None,
            _ => return Err(bad(esc_start, "escape sequence")),
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else {
            let (code, len) = read_unicode_escape(s, i).ok_or_else(|| bad(i, "unicode escape"))?;
            i += len;
            let c = if (0xD800..0xDC00).contains(&code) {
                // A high surrogate must be followed by a `\uXXXX` low surrogate.
                match read_unicode_escape(s, i) {
                    Some((low, low_len)) if (0xDC00..0xE000).contains(&low) => {
                        i += low_len;
                        char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                    }
                    _ => None,
                }
            } else {
                char::from_u32(code)
            };
            match c {
                Some(c) => out.push(c),
                None => return Err(bad(esc_start, "unicode escape (not a valid code point)")),
            }
        }
        literal_start = i;
    }
    out.push_str(s.get(literal_start..).unwrap_or(""));
    Ok(out)
}

/// Reads `\uXXXX` or `\u{X..}` at byte `i` of `s`: (code point, length in bytes).
pub(super) fn read_unicode_escape(s: &str, i: usize) -> Option<(u32, usize)> {
    let tail = s.get(i..)?.strip_prefix("\\u")?;
    if let Some(braced) = tail.strip_prefix('{') {
        let close = braced.find('}')?;
        let hex = braced.get(..close)?;
        if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(hex, 16).ok()?;
        Some((code, 2 + 1 + close + 1))
    } else {
        let hex = tail.get(..4)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((u32::from_str_radix(hex, 16).ok()?, 6))
    }
}

/// The value of a `"""block string"""` body (GraphQL rules: common indentation
/// removed, blank first/last lines dropped, `\"""` unescaped).
pub(super) fn block_string_value(raw: &str) -> String {
    let raw = raw.replace("\\\"\"\"", "\"\"\"");
    let normalized = raw.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let indent_of = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
    let common = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim_start_matches([' ', '\t']).is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            if n == 0 {
                l
            } else {
                // Leading indentation is ASCII, so `common` (≤ indent) is a char boundary.
                l.get(common.min(indent_of(l))..).unwrap_or("")
            }
        })
        .collect();
    let blank = |l: &&str| l.trim_start_matches([' ', '\t']).is_empty();
    while out.first().is_some_and(blank) {
        out.remove(0);
    }
    while out.last().is_some_and(blank) {
        out.pop();
    }
    out.join("\n")
}
