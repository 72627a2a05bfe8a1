//! Standard output for commands that print results.
//!
//! Owns two rules:
//! - a closed pipe (`fleetcmdb ddl | head -1`) ends the command quietly with
//!   exit 0, as ripgrep does, instead of panicking in `println!`; every
//!   command writes its results through [`outln!`];
//! - text that came from input (a group tag, a file name, an AWS message) is
//!   printed with its control characters escaped ([`escape_controls`]), so it
//!   can neither forge summary lines nor drive the terminal.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use crate::error::Error;

/// Writes one line to standard output.
pub fn line(args: fmt::Arguments) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => Error::BrokenPipe,
            _ => Error::io("standard output", e),
        })
}

/// `println!` that returns [`Error::BrokenPipe`] when the reader has gone.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::output::line(format_args!($($t)*))? };
}

/// `s` with every control character (C0, DEL, C1, and the line and
/// paragraph separators) written as `\u{…}`; other text unchanged.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape_where(
        s,
        |c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'),
        |c| format!("\\u{{{:x}}}", c as u32),
    )
}

/// `s` with every character `bad` selects replaced by `escape(c)`; `s`
/// itself, unallocated, when there is none.
pub fn escape_where(
    s: &str,
    bad: impl Fn(char) -> bool,
    escape: impl Fn(char) -> String,
) -> Cow<'_, str> {
    if !s.contains(&bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&escape(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_lines_or_drive_the_terminal() {
        let tag = "web\n  status:     success\u{1b}[2J\u{85}\u{2028}é";
        let e = escape_controls(tag);
        assert_eq!(
            e,
            "web\\u{a}  status:     success\\u{1b}[2J\\u{85}\\u{2028}é"
        );
        assert!(!e.contains('\n') && !e.contains('\u{1b}'));
        assert!(matches!(escape_controls("plain é"), Cow::Borrowed(_)));
    }
}
