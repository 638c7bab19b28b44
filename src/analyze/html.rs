//! The report as one self-contained HTML file: inline CSS, an inline SVG
//! bar chart, no scripts, fonts or links to fetch, so it opens offline and
//! can be mailed or archived as is.

use std::fmt::Write as _;

use super::report::{Report, Row};

/// Bars drawn in the chart; the rest are summed into one "other" bar so the
/// chart stays readable for a survey with hundreds of implementations.
const MAX_BARS: usize = 25;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart of `rows` (count and share labels on each bar).
fn bar_chart(title: &str, rows: &[Row]) -> String {
    let mut bars: Vec<(String, u64, f64)> = rows
        .iter()
        .take(MAX_BARS)
        .map(|r| (r.key.clone(), r.count, r.share))
        .collect();
    if rows.len() > MAX_BARS {
        let rest = &rows[MAX_BARS..];
        bars.push((
            format!("other ({})", rest.len()),
            rest.iter().map(|r| r.count).sum(),
            rest.iter().map(|r| r.share).sum(),
        ));
    }
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (label_w, bar_w, row_h) = (230.0, 560.0, 22.0);
    let height = 30.0 + row_h * bars.len() as f64;
    let width = label_w + bar_w + 120.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" class="chart">"#,
        t = escape(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="0" y="16" class="ct">{}</text>"#,
        escape(title)
    );
    for (i, (key, count, share)) in bars.iter().enumerate() {
        let y = 28.0 + row_h * i as f64;
        let w = (bar_w * *count as f64 / max as f64).max(1.0);
        let _ = writeln!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" class="cl">{k}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{bh}" class="{cls}"><title>{k}: {count}</title></rect><text x="{vx:.1}" y="{ty}" class="cv">{count} ({pct:.1}%)</text>"#,
            lx = label_w - 6.0,
            ty = y + 14.0,
            k = escape(key),
            bh = row_h - 5.0,
            cls = if key == super::UNKNOWN {
                "bar unk"
            } else {
                "bar"
            },
            vx = label_w + w + 6.0,
            pct = share * 100.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

fn table(title: &str, of: &str, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<h2>{}</h2>\n<table><thead><tr><th>{}</th><th>name</th><th class=n>count</th><th class=n>share ({})</th></tr></thead><tbody>",
        escape(title),
        escape(title),
        escape(of)
    );
    for r in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{:.2}%</td></tr>",
            escape(&r.key),
            escape(r.name.as_deref().unwrap_or("")),
            r.count,
            r.share * 100.0
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsfp survey report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1000px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
th,td{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:left;font-size:.9em}
.n{text-align:right;font-variant-numeric:tabular-nums}
.chart .ct{font-weight:bold;font-size:14px}.chart .cl,.chart .cv{font-size:12px;fill:#333}
.chart .bar{fill:#3b73b9}.chart .bar.unk{fill:#b9503b}
.summary td{border:none}
</style></head><body>
<h1>wsfp survey report</h1>
"#,
    );
    let _ = writeln!(
        s,
        "<table class=summary><tr><td>inputs</td><td>{}</td></tr><tr><td>records</td><td>{}</td></tr><tr><td>bad lines skipped</td><td>{}</td></tr><tr><td>WebSocket endpoints</td><td>{}</td></tr><tr><td>identified</td><td>{}</td></tr><tr><td>unknown</td><td>{} ({:.1}%)</td></tr><tr><td>wsfp</td><td>{}</td></tr></table>",
        escape(&r.inputs.join(", ")),
        r.records,
        r.bad_lines,
        r.websocket,
        r.identified,
        r.unknown,
        r.unknown_share * 100.0,
        escape(&r.wsfp_version)
    );
    s.push_str(&bar_chart(
        "Implementation prevalence (WebSocket endpoints)",
        &r.implementation,
    ));
    for (title, of, rows) in r.tables() {
        s.push_str(&table(title, of, rows));
    }
    s.push_str("<h2>confidence</h2>\n<table><thead><tr><th>bucket</th><th class=n>count</th><th class=n>share (of identified)</th></tr></thead><tbody>\n");
    for b in &r.confidence {
        let _ = writeln!(
            s,
            "<tr><td>{:.1}-{:.1}</td><td class=n>{}</td><td class=n>{:.2}%</td></tr>",
            b.lo,
            b.hi,
            b.count,
            b.share * 100.0
        );
    }
    s.push_str("</tbody></table>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_stays_offline() {
        let rows: Vec<Row> = (0..30)
            .map(|i| Row {
                key: format!("<impl{i}>"),
                name: None,
                count: 30 - i,
                share: 0.01,
            })
            .collect();
        let svg = bar_chart("t", &rows);
        assert!(svg.contains("&lt;impl0&gt;") && !svg.contains("<impl0>"));
        assert_eq!(
            svg.matches("<rect").count(),
            MAX_BARS + 1,
            "top bars + other"
        );
        assert!(svg.contains("other (5)"));
    }
}
