//! Input validation results: every problem in one input, each at a JSON pointer, so a caller
//! can fix them all in one go (RFC 9457's `errors` extension member).

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the offending member, `""` for the whole document.
    pub pointer: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error for the whole input, e.g. a body that is not JSON.
    pub fn single(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(pointer, detail);
        errors
    }

    pub fn add(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        });
    }

    /// `Ok(value)` when nothing was added, the errors otherwise.
    pub fn finish<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.pointer, e.detail))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// Checks a free-text field that people will read: NFC-normalised and trimmed, within
/// `max_chars` characters, non-empty when required, and honest to look at: no control
/// characters (but line breaks and tabs), no bidirectional overrides or isolates (which make
/// text read in another order than it is written), no combining mark without a letter to
/// sit on, and something visible when anything is given. Returns the normalised text.
pub fn text(
    errors: &mut ValidationErrors,
    pointer: &str,
    raw: &str,
    required: bool,
    max_chars: usize,
) -> String {
    use unicode_normalization::UnicodeNormalization;
    let normalised: String = raw.nfc().collect();
    let trimmed = normalised.trim();
    if required && trimmed.is_empty() {
        errors.add(pointer, "must not be empty");
    }
    if trimmed.chars().count() > max_chars {
        errors.add(pointer, format!("must be at most {max_chars} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.add(pointer, "must not contain control characters");
    }
    if trimmed.chars().any(is_bidi_control) {
        errors.add(
            pointer,
            "must not contain bidirectional override or isolate characters",
        );
    }
    if has_loose_combining_mark(trimmed) {
        errors.add(
            pointer,
            "must not start a word with a combining mark (it needs a letter before it)",
        );
    }
    if !trimmed.is_empty() && trimmed.chars().all(is_invisible) {
        errors.add(pointer, "must contain visible characters");
    }
    trimmed.to_owned()
}

/// U+202A-U+202E (embeddings and overrides) and U+2066-U+2069 (isolates).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: zero-width spaces and joiners, the word joiner, the byte
/// order mark, and white space.
fn is_invisible(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// A combining mark at the start of the text or after white space has no base to combine with.
fn has_loose_combining_mark(text: &str) -> bool {
    use unicode_normalization::char::is_combining_mark;
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if is_combining_mark(c) && previous.is_none_or(|p| p.is_whitespace() || p.is_control()) {
            return true;
        }
        previous = Some(c);
    }
    false
}

/// Checks that an integer lies in `min..=max`.
pub fn in_range(errors: &mut ValidationErrors, pointer: &str, value: i64, min: i64, max: i64) {
    if value < min || value > max {
        errors.add(pointer, format!("must be between {min} and {max}"));
    }
}

/// Parses an IANA time-zone name such as `Europe/Berlin`.
pub fn time_zone(errors: &mut ValidationErrors, pointer: &str, raw: &str) -> chrono_tz::Tz {
    raw.parse().unwrap_or_else(|_| {
        errors.add(
            pointer,
            format!("`{raw}` is not an IANA time zone such as Europe/Berlin"),
        );
        chrono_tz::UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        let mut errors = ValidationErrors::new();
        assert_eq!(text(&mut errors, "/a", "  hi  ", true, 5), "hi");
        assert!(errors.is_empty());
        text(&mut errors, "/b", "   ", true, 5);
        text(&mut errors, "/c", "toolong", false, 5);
        text(&mut errors, "/d", "bell\u{7}", false, 50);
        let pointers: Vec<_> = errors.errors().iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/b", "/c", "/d"]);
    }

    #[test]
    fn shown_text_is_normalised_and_refuses_what_hides_or_reorders_it() {
        let mut errors = ValidationErrors::new();
        // "é" as e + combining acute becomes the one precomposed character.
        assert_eq!(
            text(&mut errors, "/n", "Ame\u{301}lie", true, 50),
            "Am\u{e9}lie"
        );
        assert!(errors.is_empty());
        let refused = [
            "evil\u{202E}txt.exe",
            "a\u{2066}b\u{2069}",
            "\u{200B}\u{200B}",
            "\u{200D}",
            "\u{301}accent first",
            "word \u{308}",
        ];
        for raw in refused {
            let mut errors = ValidationErrors::new();
            text(&mut errors, "/n", raw, true, 50);
            assert_eq!(errors.errors().len(), 1, "{raw:?}: {errors}");
        }
        // Joiners inside real text (emoji sequences, scripts) are fine.
        let mut errors = ValidationErrors::new();
        text(
            &mut errors,
            "/n",
            "family \u{1F468}\u{200D}\u{1F469}",
            true,
            50,
        );
        text(&mut errors, "/n", "\u{915}\u{94D}\u{937}", true, 50);
        assert!(errors.is_empty(), "{errors}");
    }

    #[test]
    fn unicode_length_counts_characters_not_bytes() {
        let mut errors = ValidationErrors::new();
        text(&mut errors, "/n", "ééééé", true, 5);
        assert!(errors.is_empty());
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        let mut errors = ValidationErrors::new();
        assert_eq!(
            time_zone(&mut errors, "/tz", "Asia/Kathmandu"),
            chrono_tz::Asia::Kathmandu
        );
        time_zone(&mut errors, "/tz", "Mars/Olympus");
        time_zone(&mut errors, "/tz", "+02:00");
        assert_eq!(errors.errors().len(), 2);
    }
}
