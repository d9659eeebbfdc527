//! Cache names follow SQL identifier rules, like the name of the view they create:
//! `create_cache('MyCache', ...)` makes the cache `mycache` (and the view and row type
//! `mycache`), `'"MyCache"'` a case-sensitive one, `'s.c'` the cache `c` in schema `s`. Every
//! function canonicalizes the name it is given the same way, so `NULL::MyCache`,
//! `load('MyCache')` and `load('mycache')` all name one cache.

use pgrx::pg_sys;
use std::ffi::{CStr, CString};

/// Splits a possibly qualified identifier (`a`, `"A b"`, `s.c`) into its parts, unquoted parts
/// folded to lower case as PostgreSQL folds them (ASCII letters; UTF-8 text is not folded).
/// None when it is not a valid identifier.
pub fn parse_ident(s: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = s.trim().chars().peekable();
    loop {
        let mut part = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                loop {
                    match chars.next()? {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        '"' => break,
                        c => part.push(c),
                    }
                }
                if part.is_empty() {
                    return None;
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == '.' || c.is_whitespace() {
                        break;
                    }
                    if !(c.is_alphanumeric() || c == '_' || c == '$') {
                        return None;
                    }
                    part.push(c.to_ascii_lowercase());
                    chars.next();
                }
                let first = part.chars().next()?;
                if !(first.is_alphabetic() || first == '_') {
                    return None;
                }
            }
        }
        parts.push(part);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Some(parts),
            Some('.') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => return None,
        }
    }
}

pub fn quote_ident(s: &str) -> String {
    let c = CString::new(s).unwrap_or_default();
    unsafe { CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())).to_string_lossy().into_owned() }
}

/// The canonical spelling of a cache name (each part quoted only where SQL needs it), or None
/// when it is not one or two identifiers.
pub fn canonical(s: &str) -> Option<String> {
    let parts = parse_ident(s)?;
    if parts.is_empty() || parts.len() > 2 {
        return None;
    }
    Some(parts.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join("."))
}
