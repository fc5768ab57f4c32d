//! A reader for the Prometheus text exposition format (and its OpenMetrics
//! form): samples with their labels and values. Comments, `# HELP`,
//! `# TYPE` and `# EOF` are skipped; exemplars and timestamps are dropped;
//! a malformed line is counted and skipped, never fatal, since `stats`
//! would rather show what it can read.

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name, with any `_total`, `_bucket`, `_sum`, `_count` suffix.
    pub name: String,
    /// Labels in the order given, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Lines that could not be read.
    pub malformed: usize,
}

impl Exposition {
    /// Parse `text`.
    pub fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match sample(line) {
                Some(s) => out.samples.push(s),
                None => out.malformed += 1,
            }
        }
        out
    }

    /// Samples named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample named `name` (`None` when there is none).
    pub fn sum(&self, name: &str) -> Option<f64> {
        self.sum_where(name, |_| true)
    }

    /// The sum of the samples named `name` that `keep` accepts.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> Option<f64> {
        let mut found = None;
        for s in self.named(name).filter(|s| keep(s)) {
            *found.get_or_insert(0.0) += s.value;
        }
        found
    }

    /// Samples named `name` summed per value of label `label` (a sample
    /// without it counts under "").
    pub fn by_label(&self, name: &str, label: &str) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        for s in self.named(name) {
            let key = s.label(label).unwrap_or("");
            match out.iter_mut().find(|(k, _)| k == key) {
                Some((_, v)) => *v += s.value,
                None => out.push((key.to_string(), s.value)),
            }
        }
        out
    }
}

/// One sample line, or `None` if malformed.
fn sample(line: &str) -> Option<Sample> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (l, after) = label_set(after)?;
        labels = l;
        rest = after;
    }
    // OpenMetrics exemplars follow " # "; they are not part of the value.
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut fields = rest.split_ascii_whitespace();
    let value = number(fields.next()?)?;
    // An optional timestamp; anything more is malformed.
    if let Some(ts) = fields.next() {
        number(ts)?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `a="x",b="y"}` (after the `{`): the labels and what follows the `}`.
fn label_set(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let name = s[..eq].trim();
        if !valid_name(name) {
            return None;
        }
        let (value, after) = quoted(s[eq + 1..].trim_start())?;
        labels.push((name.to_string(), value));
        s = after.trim_start();
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return None;
        }
    }
}

/// `"..."` with `\\`, `\"` and `\n` escapes: the value and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_with_escapes_and_skips_comments() {
        let text = "# HELP edgecache_requests Requests.\n\
                    # TYPE edgecache_requests counter\n\
                    edgecache_requests_total{site=\"a \\\"quoted\\\" \\\\ site\\nx\",status=\"2xx\",} 12\n\
                    edgecache_requests_total{site=\"b,c}\",status=\"5xx\"} 3 1700000000000\n\
                    edgecache_up 1\n\
                    # EOF\n";
        let e = Exposition::parse(text);
        assert_eq!(e.malformed, 0);
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.samples[0].label("site"), Some("a \"quoted\" \\ site\nx"));
        assert_eq!(e.samples[1].label("site"), Some("b,c}"));
        assert_eq!(e.samples[1].value, 3.0);
        assert_eq!(e.sum("edgecache_requests_total"), Some(15.0));
        assert_eq!(e.sum("edgecache_up"), Some(1.0));
        assert_eq!(e.sum("edgecache_absent"), None);
    }

    #[test]
    fn reads_histograms_infinities_and_exemplars() {
        let text = "edgecache_origin_first_byte_seconds_bucket{site=\"a\",le=\"0.1\"} 4\n\
                    edgecache_origin_first_byte_seconds_bucket{site=\"a\",le=\"+Inf\"} 5 # {trace_id=\"x\"} 0.3\n\
                    edgecache_origin_first_byte_seconds_sum{site=\"a\"} 0.75\n\
                    edgecache_origin_first_byte_seconds_count{site=\"a\"} 5\n\
                    weird_value NaN\n";
        let e = Exposition::parse(text);
        assert_eq!(e.malformed, 0);
        let buckets: Vec<_> = e
            .named("edgecache_origin_first_byte_seconds_bucket")
            .map(|s| (s.label("le").map(str::to_string), s.value))
            .collect();
        assert_eq!(
            buckets,
            vec![(Some("0.1".into()), 4.0), (Some("+Inf".into()), 5.0)]
        );
        assert_eq!(e.sum("edgecache_origin_first_byte_seconds_sum"), Some(0.75));
        assert!(e.samples[4].value.is_nan());
        assert_eq!(number("-Inf"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn skips_and_counts_malformed_lines() {
        let text = "ok 1\n\
                    9bad_name 1\n\
                    unterminated{a=\"x} 1\n\
                    no_value{a=\"x\"}\n\
                    not_a_number abc\n\
                    too many fields 1 2\n\
                    bad_label{a b=\"x\"} 1\n\
                    also_ok{} 2\n";
        let e = Exposition::parse(text);
        assert_eq!(e.malformed, 6);
        assert_eq!(
            e.samples
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["ok", "also_ok"]
        );
    }

    #[test]
    fn sums_per_label_value() {
        let text = "r_total{site=\"a\",status=\"2xx\"} 3\n\
                    r_total{site=\"b\",status=\"2xx\"} 1\n\
                    r_total{site=\"a\",status=\"5xx\"} 2\n\
                    r_total 7\n";
        let e = Exposition::parse(text);
        assert_eq!(
            e.by_label("r_total", "site"),
            vec![("a".into(), 5.0), ("b".into(), 1.0), (String::new(), 7.0)]
        );
        assert_eq!(
            e.sum_where("r_total", |s| s.label("status") == Some("2xx")),
            Some(4.0)
        );
    }
}
