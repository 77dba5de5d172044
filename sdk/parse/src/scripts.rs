//! Words that mix writing systems, such as `pаypal` with a Cyrillic `а`:
//! the mixed-script test of Unicode Technical Standard #39, from the
//! `unicode-security` crate. An approval card flags them (it does not
//! escape them: mixing scripts is also how many people write).

use unicode_script::{Script, UnicodeScript as _};
use unicode_security::MixedScript as _;

/// Each word of `text` (a run of letters, digits, marks and joiners) that
/// is not single-script, with the scripts it mixes; at most `limit` words,
/// in order.
pub fn mixed_script_words(text: &str, limit: usize) -> Vec<(String, Vec<&'static str>)> {
    let mut found: Vec<(String, Vec<&'static str>)> = Vec::new();
    let words = text.split(|c: char| !(c.is_alphanumeric() || is_mark(c)));
    for word in words.filter(|w| !w.is_empty()) {
        if found.len() == limit {
            break;
        }
        if word.is_single_script() || found.iter().any(|(w, _)| w == word) {
            continue;
        }
        let mut scripts: Vec<&'static str> = Vec::new();
        for c in word.chars() {
            let script = c.script();
            if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
                continue;
            }
            if !scripts.contains(&script.full_name()) {
                scripts.push(script.full_name());
            }
        }
        found.push((word.to_owned(), scripts));
    }
    found
}

/// Combining marks belong to the word they sit on.
fn is_mark(c: char) -> bool {
    matches!(u32::from(c), 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cyrillic_letter_in_a_latin_word_is_found() {
        let found = mixed_script_words("pay p\u{0430}ypal now", 10);
        assert_eq!(
            found,
            [("p\u{0430}ypal".to_owned(), vec!["Latin", "Cyrillic"])]
        );
    }

    #[test]
    fn single_script_words_and_japanese_are_fine() {
        // Han, Hiragana and Katakana together are one script set (Jpan).
        for text in [
            "hello world",
            "Zoë",
            "日本語のテキスト",
            "Ελληνικά",
            "a1b2",
            "",
        ] {
            assert!(mixed_script_words(text, 10).is_empty(), "{text}");
        }
    }

    #[test]
    fn the_list_is_bounded_and_each_word_named_once() {
        let text = "p\u{0430}y ".repeat(100);
        assert_eq!(mixed_script_words(&text, 5).len(), 1);
        let many: String = (0..50).map(|i| format!("x{i}\u{0430} ")).collect();
        assert_eq!(mixed_script_words(&many, 5).len(), 5);
    }
}
