//! `parse_response` on arbitrary bytes with small caps.
//!
//! Input layout: byte 0 picks the caps (`max_head` in 16..=512, `max_headers`
//! in 0..=7); the rest is the response. Checked: nothing panics; a complete
//! head lies within the input and the byte cap and holds at most
//! `max_headers` headers; re-parsing exactly that head gives the same
//! result; "need more" and "too large" agree with the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsfp::wire::{ResponseError, parse_response};

fuzz_target!(|data: &[u8]| {
    let Some((&caps, buf)) = data.split_first() else {
        return;
    };
    let max_head = (usize::from(caps >> 3) + 1) * 16; // 16..=512
    let max_headers = usize::from(caps & 7);
    match parse_response(buf, max_head, max_headers) {
        Ok(Some(h)) => {
            assert!(h.head_len <= buf.len(), "head_len past the input");
            assert!(h.head_len <= max_head, "head_len past the cap");
            assert!(h.headers.len() <= max_headers);
            let again = parse_response(&buf[..h.head_len], max_head, max_headers);
            assert_eq!(again, Ok(Some(h)));
        }
        Ok(None) => assert!(buf.len() < max_head),
        Err(ResponseError::TooLarge(n)) => {
            assert_eq!(n, max_head);
            assert!(buf.len() >= max_head);
        }
        Err(ResponseError::Malformed(_)) => {}
    }
});
