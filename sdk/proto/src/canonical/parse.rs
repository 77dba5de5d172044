//! A strict JSON parser (RFC 8259) for canonicalisation.

use super::{CanonError, Limits, Value};

pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Value, CanonError> {
    if input.len() > limits.max_bytes {
        return Err(CanonError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| CanonError::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    let mut parser = Parser {
        text,
        bytes: input,
        at: 0,
        limits,
    };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at != input.len() {
        return Err(parser.syntax("unexpected text after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    limits: &'a Limits,
}

impl Parser<'_> {
    fn syntax(&self, reason: &'static str) -> CanonError {
        CanonError::Syntax {
            at: self.at,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), CanonError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.syntax(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, CanonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'N' | b'I') => Err(self.not_a_number()),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn not_a_number(&self) -> CanonError {
        let rest = &self.text[self.at..];
        let literal = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        CanonError::NotANumber {
            literal,
            at: self.at,
        }
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, CanonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expected true, false or null"))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), CanonError> {
        if depth > self.limits.max_depth {
            Err(CanonError::TooDeep {
                limit: self.limits.max_depth,
                at: self.at,
            })
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, CanonError> {
        self.enter(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expected , or ] in an array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CanonError> {
        self.enter(depth)?;
        self.at += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key_at = self.at;
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key (a string) in an object"));
            }
            let key = self.string()?;
            if !keys.insert(key.clone()) {
                return Err(CanonError::DuplicateKey { key, at: key_at });
            }
            self.skip_whitespace();
            self.expect(b':', "expected : after a key")?;
            self.skip_whitespace();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.syntax("expected , or } in an object")),
            }
        }
    }

    fn string(&mut self) -> Result<String, CanonError> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.at;
            // Copy the run of plain characters in one go.
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[start..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let escape_at = self.at;
                    self.at += 1;
                    let Some(kind) = self.peek() else {
                        return Err(self.syntax("unfinished escape"));
                    };
                    self.at += 1;
                    match kind {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape(escape_at)?),
                        _ => {
                            self.at = escape_at;
                            return Err(self.syntax("unknown escape"));
                        }
                    }
                }
                Some(_) => return Err(self.syntax("control character in a string (escape it)")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, CanonError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.syntax("short \\u escape"))?;
        let value = digits.iter().try_fold(0u16, |value, digit| {
            char::from(*digit)
                .to_digit(16)
                .map(|d| (value << 4) | d as u16)
        });
        let Some(value) = value else {
            return Err(self.syntax("bad hex digit in a \\u escape"));
        };
        self.at += 4;
        Ok(value)
    }

    /// After `\u`: one code unit, or a surrogate pair spelled as two
    /// escapes. A surrogate without its partner is refused.
    fn unicode_escape(&mut self, escape_at: usize) -> Result<char, CanonError> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                if self.bytes[self.at..].starts_with(b"\\u") {
                    let saved = self.at;
                    self.at += 2;
                    let second = self.hex4()?;
                    if (0xDC00..=0xDFFF).contains(&second) {
                        let code = 0x10000
                            + (((first as u32) - 0xD800) << 10)
                            + ((second as u32) - 0xDC00);
                        // A high and a low surrogate always make a scalar
                        // value; should they not, it is a lone surrogate.
                        if let Some(c) = char::from_u32(code) {
                            return Ok(c);
                        }
                    }
                    self.at = saved;
                }
                Err(CanonError::LoneSurrogate {
                    code: first,
                    at: escape_at,
                })
            }
            0xDC00..=0xDFFF => Err(CanonError::LoneSurrogate {
                code: first,
                at: escape_at,
            }),
            _ => char::from_u32(u32::from(first)).ok_or(CanonError::LoneSurrogate {
                code: first,
                at: escape_at,
            }),
        }
    }

    fn number(&mut self) -> Result<Value, CanonError> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
            if matches!(self.peek(), Some(b'I' | b'N')) {
                return Err(self.not_a_number());
            }
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.syntax("leading zeros are not allowed"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.syntax("expected digits")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.syntax("expected digits after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("expected digits in the exponent"));
            }
        }
        let text = &self.text[start..self.at];
        let value: f64 = text.parse().map_err(|_| CanonError::Syntax {
            at: start,
            reason: "bad number",
        })?;
        if !value.is_finite() || value.abs() > self.limits.max_abs_number {
            return Err(CanonError::NumberOutOfRange {
                text: text.to_owned(),
                at: start,
            });
        }
        Ok(Value::Number(value))
    }
}
