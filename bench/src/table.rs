//! Markdown tables and the number formats the bench prints (times, sizes,
//! ratios, medians), so every section renders figures the same way.

use std::time::Duration;

/// A markdown table: one header row, then rows of already formatted cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; a short row (a failure told once) is padded with blanks.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len().max(cells.len()), String::new());
        self.rows.push(cells);
    }

    /// The table as markdown; a `|` inside a cell is escaped.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.header);
        out.push_str(&line(&vec!["---".to_owned(); self.header.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// The median of the samples (the mean of the middle two for an even
/// count); `None` for no samples.
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

/// The median of plain numbers (kilobytes and the like).
pub fn median_u64(samples: &[u64]) -> Option<u64> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// A duration with three significant figures: `412 µs`, `1.63 ms`, `10.2 s`.
pub fn time(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{} ms", sig3(secs * 1e3))
    } else {
        format!("{} s", sig3(secs))
    }
}

/// A size in bytes: `13,368 B` below 64 KiB (exact), else KiB or MiB.
pub fn bytes(n: u64) -> String {
    if n < 64 * 1024 {
        format!("{} B", thousands(n))
    } else {
        kib(n / 1024)
    }
}

/// A memory figure given in KiB (as /proc reports it): `692 KiB`, `1.74 MiB`.
pub fn kib(k: u64) -> String {
    if k < 1024 {
        format!("{k} KiB")
    } else {
        format!("{} MiB", sig3(k as f64 / 1024.0))
    }
}

/// `value / base` as `0.31x` or `142x`.
pub fn ratio(value: Duration, base: Duration) -> String {
    if base.is_zero() {
        return "n/a".to_owned();
    }
    format!("{}x", sig3(value.as_secs_f64() / base.as_secs_f64()))
}

/// `value / base` for counts (bytes, KiB), as [`ratio`] writes it.
pub fn ratio_of_counts(value: u64, base: u64) -> String {
    if base == 0 {
        return "n/a".to_owned();
    }
    format!("{}x", sig3(value as f64 / base as f64))
}

/// Three significant figures, no exponent.
fn sig3(x: f64) -> String {
    let decimals = match x {
        _ if x >= 100.0 => 0,
        _ if x >= 10.0 => 1,
        _ if x >= 1.0 => 2,
        _ if x >= 0.1 => 3,
        _ => 4,
    };
    format!("{x:.decimals$}")
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
