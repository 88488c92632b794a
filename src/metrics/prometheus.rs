//! Prometheus's text exposition format (version 0.0.4), written by hand: a family is a
//! `# HELP` and a `# TYPE` line and its samples, `name{label="value",…} value`. The format is
//! small and stable, and writing it directly keeps a scrape to one pass over figures the
//! process already holds, without a registry of metric objects to keep in step with them.
//!
//! ## Rules it keeps
//! - Names are `rill_…` in snake case; counters end in `_total`.
//! - Label values escape `\`, `"` and line breaks; help text escapes `\` and line breaks.
//! - Each family is written once, its samples together (a family with no samples is left out).

use std::fmt::Write;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (resets when its process or subtask restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// One family being gathered: its samples, written out by [`Exposition::family`].
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    /// A family with no samples yet.
    pub fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Self {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a sample with `labels`.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push((
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        ));
        self
    }
}

/// A whole exposition, family after family.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `family` (nothing when it has no samples).
    pub fn family(&mut self, family: Family) -> &mut Self {
        if family.samples.is_empty() {
            return self;
        }
        let _ = writeln!(
            self.text,
            "# HELP {} {}",
            family.name,
            escape_help(family.help)
        );
        let _ = writeln!(self.text, "# TYPE {} {}", family.name, family.kind.as_str());
        for (labels, value) in &family.samples {
            self.text.push_str(family.name);
            if !labels.is_empty() {
                self.text.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
                }
                self.text.push('}');
            }
            let _ = writeln!(self.text, " {}", format_value(*value));
        }
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_with_help_type_and_escaped_labels() {
        let mut e = Exposition::new();
        let mut f = Family::new("rill_task_records_out_total", Kind::Counter, "Records out.");
        f.sample(&[("job_name", "say \"hi\"\\\n"), ("subtask", "0")], 42.0)
            .sample(&[("job_name", "b"), ("subtask", "1")], 0.5);
        e.family(f)
            .family(Family::new("rill_empty", Kind::Gauge, "Left out."));
        let mut g = Family::new("rill_taskmanagers", Kind::Gauge, "Line\nbreak.");
        g.sample(&[], 2.0);
        e.family(g);
        assert_eq!(
            e.finish(),
            "# HELP rill_task_records_out_total Records out.\n\
             # TYPE rill_task_records_out_total counter\n\
             rill_task_records_out_total{job_name=\"say \\\"hi\\\"\\\\\\n\",subtask=\"0\"} 42\n\
             rill_task_records_out_total{job_name=\"b\",subtask=\"1\"} 0.5\n\
             # HELP rill_taskmanagers Line\\nbreak.\n\
             # TYPE rill_taskmanagers gauge\n\
             rill_taskmanagers 2\n"
        );
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
