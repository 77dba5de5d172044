//! What you see is what you sign: tool arguments as an approver reads
//! them.
//!
//! A card shows the canonical JSON whose hash the grant binds, byte for
//! byte, except that each character a person cannot see, or that changes
//! how the text around it reads, is written as `\u{202e}` and named in
//! words: bidirectional controls (a right-to-left override can make
//! `txt.exe` read as `exe.txt`), zero-width and other invisible characters,
//! controls, unusual spaces and Unicode TAG characters (which can carry a
//! whole hidden sentence). [`unshow`] undoes [`show`] exactly, so what the
//! card shows can be checked against the bytes that were hashed.
//!
//! The lists are written here, not taken from a Unicode crate: which
//! characters to escape is a security decision (every `Cf` character, and
//! more than `Cf`), and it must be the same in the gateway and in a policy
//! rule's sandbox.

/// The kind of a character the card escapes, in words, or `None` for a
/// character shown as it is.
pub fn hidden_kind(c: char) -> Option<&'static str> {
    Some(match u32::from(c) {
        0x202E => "a right-to-left override",
        0x202D => "a left-to-right override",
        0x202A | 0x202B => "a directional embedding",
        0x202C => "a pop directional formatting",
        0x2066..=0x2069 => "a directional isolate",
        0x200E | 0x200F | 0x061C => "a direction mark",
        0x200B => "a zero-width space",
        0x200C => "a zero-width non-joiner",
        0x200D => "a zero-width joiner",
        0x2060 => "a word joiner",
        0x2061..=0x2064 => "an invisible operator",
        0xFEFF => "a zero-width no-break space",
        0x00AD => "a soft hyphen",
        0x034F => "a combining grapheme joiner",
        0x180E => "a Mongolian vowel separator",
        0x115F | 0x1160 | 0x3164 | 0xFFA0 => "a Hangul filler",
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF => "a variation selector",
        0xE0000..=0xE007F => "a Unicode TAG character",
        0x0000..=0x001F | 0x007F..=0x009F => "a control character",
        0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => "an unusual space",
        0x2028 | 0x2029 => "a line or paragraph separator",
        0xFFF9..=0xFFFB => "an interlinear annotation character",
        0x0600..=0x0605 | 0x06DD | 0x070F | 0x08E2 | 0x110BD | 0x110CD => {
            "an invisible number or format sign"
        }
        0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0x13430..=0x1343F => {
            "an invisible format character"
        }
        0xFFFC => "an object replacement character",
        0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD => "a private-use character",
        0xFFFE | 0xFFFF => "a noncharacter",
        _ => return None,
    })
}

/// Whether `text` holds any character [`show`] would escape.
pub fn contains_hidden(text: &str) -> bool {
    text.chars().any(|c| hidden_kind(c).is_some())
}

/// `text` as a card shows it, and what was escaped, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The text with each hidden character written as `\u{…}`.
    pub text: String,
    /// One sentence per kind of hidden character, in order of first
    /// appearance ("contains a right-to-left override (U+202E), 1 time"),
    /// and what TAG characters spell.
    pub warnings: Vec<String>,
}

/// Escapes what a person cannot see, and says what it was.
pub fn show(text: &str) -> Shown {
    let mut shown = String::with_capacity(text.len());
    let mut kinds: Vec<(&'static str, u32, usize)> = Vec::new();
    let mut tagged = String::new();
    for c in text.chars() {
        let Some(kind) = hidden_kind(c) else {
            shown.push(c);
            continue;
        };
        let code = u32::from(c);
        shown.push_str(&format!("\\u{{{code:x}}}"));
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, _, count)) => *count += 1,
            None => kinds.push((kind, code, 1)),
        }
        if let 0xE0020..=0xE007E = code {
            tagged.push(char::from(u8::try_from(code - 0xE0000).unwrap_or(b'?')));
        }
    }
    let mut warnings: Vec<String> = kinds
        .into_iter()
        .map(|(kind, code, count)| {
            let times = if count == 1 { "time" } else { "times" };
            format!("contains {kind} (U+{code:04X}), {count} {times}")
        })
        .collect();
    if !tagged.is_empty() {
        warnings.push(format!("its TAG characters spell hidden text: {tagged:?}"));
    }
    Shown {
        text: shown,
        warnings,
    }
}

/// The text [`show`] was given, from what it showed.
///
/// Unambiguous for JSON text: a backslash there is always the start of an
/// escape of two characters (`\\`, `\"`, `\n`, `\u0041`), never `\u{`.
pub fn unshow(shown: &str) -> Option<String> {
    let mut text = String::with_capacity(shown.len());
    let mut rest = shown;
    while let Some(at) = rest.find('\\') {
        text.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(inner) = escape.strip_prefix("\\u{") {
            let end = inner.find('}')?;
            let code = u32::from_str_radix(&inner[..end], 16).ok()?;
            text.push(char::from_u32(code)?);
            rest = &inner[end + 1..];
        } else {
            let next = escape[1..].chars().next()?;
            text.push('\\');
            text.push(next);
            rest = &escape[1 + next.len_utf8()..];
        }
    }
    text.push_str(rest);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_right_to_left_override_is_escaped_and_named() {
        let text = "{\"file\":\"invoice\u{202e}fdp.exe\"}";
        let shown = show(text);
        assert_eq!(shown.text, "{\"file\":\"invoice\\u{202e}fdp.exe\"}");
        assert_eq!(
            shown.warnings,
            ["contains a right-to-left override (U+202E), 1 time"]
        );
        assert_eq!(unshow(&shown.text).as_deref(), Some(text));
    }

    #[test]
    fn tag_characters_are_escaped_and_their_hidden_text_told() {
        let hidden: String = "rm -rf /"
            .bytes()
            .map(|b| char::from_u32(0xE0000 + u32::from(b)).unwrap_or('?'))
            .collect();
        let text = format!("{{\"cmd\":\"ls{hidden}\"}}");
        let shown = show(&text);
        assert!(!shown.text.contains('\u{e0072}'));
        assert_eq!(
            shown.warnings,
            [
                "contains a Unicode TAG character (U+E0072), 8 times",
                "its TAG characters spell hidden text: \"rm -rf /\""
            ]
        );
        assert_eq!(unshow(&shown.text), Some(text));
    }

    #[test]
    fn plain_text_and_json_escapes_pass_unchanged() {
        for text in [
            "{\"a\":\"b\"}",
            "{\"path\":\"C:\\\\u{202e}\"}",
            "{\"q\":\"\\\"\\n\\u0041\"}",
            "{\"name\":\"Zoë 名前 🙂\"}",
        ] {
            let shown = show(text);
            assert_eq!(shown.text, text);
            assert!(shown.warnings.is_empty(), "{text}: {:?}", shown.warnings);
            assert_eq!(unshow(&shown.text).as_deref(), Some(text));
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let text: String = [
            '\u{0}',
            '\u{7f}',
            '\u{85}',
            '\u{a0}',
            '\u{ad}',
            '\u{34f}',
            '\u{61c}',
            '\u{180e}',
            '\u{200b}',
            '\u{200d}',
            '\u{2028}',
            '\u{2066}',
            '\u{2069}',
            '\u{3000}',
            '\u{feff}',
            '\u{fe0f}',
            '\u{fff9}',
            '\u{e0001}',
            '\u{e01ef}',
            '\u{f0000}',
            '\u{10fffd}',
        ]
        .into_iter()
        .collect();
        let shown = show(&text);
        assert!(shown.text.is_ascii(), "{}", shown.text);
        assert!(!contains_hidden(&shown.text));
        assert_eq!(unshow(&shown.text), Some(text));
    }

    #[test]
    fn broken_escapes_do_not_unshow() {
        for bad in ["\\u{", "\\u{zz}", "\\u{d800}", "\\u{110000}", "\\"] {
            assert_eq!(unshow(bad), None, "{bad}");
        }
    }
}
