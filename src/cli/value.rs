//! Value parsers for options: every number is checked at parse time
//! against a range that means something for it, and every name or path
//! that ends up in a header, a file name or a terminal against control
//! characters. A typo or an extreme value is then a usage error naming the
//! option and what it takes (clap: `invalid value '0' for '--concurrency
//! <N>': expected an integer from 1 to 100000`, exit 2), never a panic, a
//! hang or a flood deep inside a scan (`--stats-interval 0.000001` wrote
//! 230 MB of stats in 3 s; `--dns-timeout` at u64::MAX never ended).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::TypedValueParser;

use crate::output::escape_controls;

/// One hour, in ms: the ceiling of every network timeout. A peer that has
/// said nothing for an hour is not going to.
pub const HOUR_MS: u64 = 3_600_000;
/// One day, in seconds.
pub const DAY_S: f64 = 86_400.0;
/// Connections in flight, scan-wide or per target (each holds a socket;
/// the open-file limit is checked against it at the start of a scan).
pub const MAX_CONNECTIONS: u64 = 100_000;

/// An integer in `lo..=hi` (`unit` follows the range in the message).
pub fn int<T>(
    lo: u64,
    hi: u64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    move |s: &str| {
        let want = || format!("expected an integer from {lo} to {hi}{unit}");
        let v: u64 = s.trim().parse().map_err(|_| want())?;
        if !(lo..=hi).contains(&v) {
            return Err(want());
        }
        T::try_from(v).map_err(|_| want())
    }
}

/// Milliseconds from `lo` to [`HOUR_MS`].
pub fn millis(lo: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    int(lo, HOUR_MS, " ms")
}

/// A finite number in `lo..=hi` (NaN, infinities and values that round
/// to them are refused).
pub fn number(
    lo: f64,
    hi: f64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let want = || format!("expected a number from {lo} to {hi}{unit}");
        let v: f64 = s.trim().parse().map_err(|_| want())?;
        if !v.is_finite() || v < lo || v > hi {
            return Err(want());
        }
        Ok(v)
    }
}

/// The control character of `s`, if it has one (C0, DEL or C1).
fn control(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

fn no_control(s: &str) -> Result<(), String> {
    match control(s) {
        Some(c) => Err(format!(
            "expected no control characters (found '{}')",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

/// A parser of names and paths whose error shows the refused value with
/// its control characters escaped (clap's own message would print them
/// to the terminal as they are: a CR LF, an escape sequence).
#[derive(Clone)]
pub struct Checked<T>(fn(&OsStr) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        (self.0)(value).map_err(|why| {
            let name = arg.map_or_else(|| "...".to_string(), |a| a.to_string());
            let shown = value.to_string_lossy();
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "invalid value '{}' for '{name}': {why}\n",
                    escape_controls(&shown)
                ),
            )
            .with_cmd(cmd)
        })
    }
}

fn utf8(s: &OsStr) -> Result<&str, String> {
    s.to_str().ok_or_else(|| "expected UTF-8 text".to_string())
}

/// Text that goes into a request header, a fingerprint file or a
/// terminal: no control characters (`-o` with CR LF wrote a header line
/// of its own).
pub fn text() -> Checked<String> {
    Checked(|s| {
        let s = utf8(s)?;
        no_control(s)?;
        Ok(s.to_string())
    })
}

/// Whether `c` may be in a header name: a `tchar` of RFC 9110 §5.6.2.
fn tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A header value may hold no CR, LF, NUL or other control character but
/// the horizontal tab (RFC 9110 §5.5): a CR LF would end the header and
/// start one of the value's choosing.
fn header_text(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control() && *c != '\t') {
        Some(c) => Err(format!(
            "expected no CR, LF, NUL or other control characters in a header value (found '{}')",
            c.escape_default()
        )),
        None => Ok(()),
    }
}

/// A header value (`--cookie`, `--user-agent`), as given.
pub fn header_value() -> Checked<String> {
    Checked(|s| {
        let s = utf8(s)?;
        header_text(s)?;
        Ok(s.to_string())
    })
}

/// `-H NAME:VALUE`: a name of token characters (RFC 9110 §5.1: no space,
/// no colon), a colon, and a value as [`header_value`] takes it, spaces and
/// tabs around it dropped (as HTTP drops them). Names wsfp cannot send on
/// every probe are refused here (see
/// [`crate::probe::build::refused_header`]).
pub fn header() -> Checked<(String, String)> {
    Checked(|s| {
        let s = utf8(s)?;
        let Some((name, value)) = s.split_once(':') else {
            return Err("expected NAME:VALUE (no ':' found)".into());
        };
        if name.is_empty() {
            return Err("expected a header name before the ':'".into());
        }
        if let Some(c) = name.chars().find(|c| !tchar(*c)) {
            return Err(format!(
                "expected a header name of letters, digits and !#$%&'*+-.^_`|~ before the ':' (found '{}')",
                c.escape_default()
            ));
        }
        if let Some(why) = crate::probe::build::refused_header(name) {
            return Err(why);
        }
        let value = value.trim_matches([' ', '\t']);
        header_text(value)?;
        Ok((name.to_string(), value.to_string()))
    })
}

/// A path written to (output, stats, manifest, state, directories): no
/// control characters, which no one means in a file name and which a
/// later `ls`, log line or shell loop would show or split. Non-UTF-8 paths
/// are allowed, as the rest of the path is taken as is.
pub fn out_path() -> Checked<PathBuf> {
    Checked(|s| {
        no_control(&s.to_string_lossy())?;
        Ok(PathBuf::from(s))
    })
}

/// One `--only` selector of `wsfp scan` (see [`crate::output::Only`]).
pub fn only() -> Checked<crate::output::Only> {
    Checked(|s| crate::output::Only::parse(utf8(s)?))
}

/// A fingerprint id: also its file name (`<id>.toml` in the output
/// directory), so letters, digits, `.`, `_` and `-`, not starting with a
/// dot (no `..`, no path separator, nothing hidden).
pub fn id() -> Checked<String> {
    Checked(|s| {
        let s = utf8(s)?;
        let ok = !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(s.to_string())
        } else {
            Err(
                "expected letters, digits, '.', '_' and '-' (it is a file name), not starting with '.'"
                    .into(),
            )
        }
    })
}

/// `--proxy URL`: `socks5://`, `socks5h://` or `http://`, with
/// `[user:pass@]host:port` (see [`crate::net::ProxyUrl::parse`]).
pub fn proxy() -> Checked<crate::net::ProxyUrl> {
    Checked(|s| crate::net::ProxyUrl::parse(utf8(s)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_in_range_only() {
        let p = int::<u16>(1, 65_535, "");
        assert_eq!(p("1"), Ok(1));
        assert_eq!(p(" 65535 "), Ok(65_535));
        for bad in ["0", "65536", "-1", "1.0", "NaN", "", "18446744073709551616"] {
            assert_eq!(
                p(bad),
                Err("expected an integer from 1 to 65535".into()),
                "{bad}"
            );
        }
        assert_eq!(
            millis(1)("0").unwrap_err(),
            "expected an integer from 1 to 3600000 ms"
        );
    }

    #[test]
    fn numbers_are_finite_and_in_range() {
        let p = number(0.1, DAY_S, " s");
        assert_eq!(p("0.1"), Ok(0.1));
        assert_eq!(p("86400"), Ok(86_400.0));
        for bad in [
            "0.099", "1e300", "1e-300", "NaN", "inf", "-inf", "-1", "x", "1e999",
        ] {
            assert_eq!(
                p(bad),
                Err("expected a number from 0.1 to 86400 s".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn control_characters_and_bad_ids() {
        let check = |p: &Checked<String>, s: &str| (p.0)(OsStr::new(s));
        assert!(check(&text(), "http://a.example").is_ok());
        assert_eq!(
            check(&text(), "http://a\r\nX: 1").unwrap_err(),
            "expected no control characters (found '\\r')"
        );
        assert!(check(&text(), "a\u{85}b").is_err(), "C1 too");
        assert!((out_path().0)(OsStr::new("out/x.ndjson")).is_ok());
        assert!((out_path().0)(OsStr::new("out\nx")).is_err());
        for good in ["py-websockets", "rs.tokio_2"] {
            assert!(check(&id(), good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a b", "é", "a\tb"] {
            assert!(check(&id(), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_token_names_and_values_without_cr_lf_nul() {
        let h = |s: &str| (header().0)(OsStr::new(s));
        let pair = |n: &str, v: &str| Ok((n.to_string(), v.to_string()));
        assert_eq!(h("X-Token: a b\tc "), pair("X-Token", "a b\tc"));
        assert_eq!(
            h("Authorization:Bearer x:y"),
            pair("Authorization", "Bearer x:y")
        );
        assert_eq!(h("X-Empty:"), pair("X-Empty", ""));
        assert_eq!(h("Host: app.example"), pair("Host", "app.example"));
        assert_eq!(h("X-A"), Err("expected NAME:VALUE (no ':' found)".into()));
        assert_eq!(
            h(": v"),
            Err("expected a header name before the ':'".into())
        );
        for bad in [
            "X A: 1",
            "X-A : 1",
            " X-A: 1",
            "X\r\nY: 1",
            "X(A): 1",
            "Ä: 1",
        ] {
            assert!(
                h(bad)
                    .unwrap_err()
                    .starts_with("expected a header name of letters"),
                "{bad}"
            );
        }
        for bad in ["X: a\r\nY: b", "X: a\nb", "X: a\0", "X: \u{1b}[2J"] {
            assert!(
                h(bad).unwrap_err().starts_with("expected no CR, LF, NUL"),
                "{bad:?}"
            );
        }
        for refused in ["sec-websocket-key: x", "Sec-WebSocket-Extensions: x"] {
            assert!(h(refused).unwrap_err().contains("every"), "{refused}");
        }
        let v = |s: &str| (header_value().0)(OsStr::new(s));
        assert_eq!(v("a=1; b=2"), Ok("a=1; b=2".to_string()));
        assert_eq!(v(""), Ok(String::new()));
        for bad in ["a\r", "a\n", "a\0b"] {
            assert!(v(bad).is_err(), "{bad:?}");
        }
    }
}
