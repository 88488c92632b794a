//! Word count on a generated ~50 MB text: identical counts at parallelism 1, 2 and 4, on 1 and 3
//! TaskManagers, checked against counts this test computes on its own.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rill::graph::JobStatus;

/// A Zipf-like text: a 10,000-word vocabulary of syllable words, 8 to 12 words a line.
fn generate(path: &Path, bytes: usize) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let syllables: Vec<String> = "bcdfghjklmnprstvwz"
        .chars()
        .flat_map(|c| "aeiou".chars().map(move |v| format!("{c}{v}")))
        .collect();
    let mut vocab = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while vocab.len() < 10_000 {
        let n = 1 + (next() % 4) as usize;
        let w: String = (0..n)
            .map(|_| syllables[(next() % syllables.len() as u64) as usize].as_str())
            .collect();
        if seen.insert(w.clone()) {
            vocab.push(w);
        }
    }
    let mut cum = Vec::with_capacity(vocab.len());
    let mut acc = 0.0;
    for r in 0..vocab.len() {
        acc += 1.0 / (r as f64 + 1.0);
        cum.push(acc);
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut written = 0;
    let mut line = String::new();
    while written < bytes {
        line.clear();
        let words = 8 + (next() % 5) as usize;
        for i in 0..words {
            let x = (next() >> 11) as f64 / (1u64 << 53) as f64 * acc;
            let r = cum.partition_point(|&c| c < x).min(vocab.len() - 1);
            if i > 0 {
                line.push(' ');
            }
            line.push_str(&vocab[r]);
        }
        line.push('\n');
        out.write_all(line.as_bytes()).expect("write");
        written += line.len();
    }
    out.flush().expect("flush");
}

fn expected_counts(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).expect("read");
    let mut counts = BTreeMap::new();
    for w in text.split_ascii_whitespace() {
        *counts.entry(w.to_string()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn wordcount_is_identical_at_every_parallelism_and_cluster_size() {
    let dir = common::temp_dir("wordcount");
    let input = dir.join("words.txt");
    generate(&input, 50_000_000);
    let expected: String = expected_counts(&input)
        .iter()
        .map(|(w, c)| format!("{w},{c}\n"))
        .collect();
    assert!(
        expected.lines().count() > 5_000,
        "the vocabulary is used broadly"
    );

    for (tms, p) in [(1, 1), (1, 2), (1, 4), (3, 4), (3, 2)] {
        let output = dir.join(format!("counts-{tms}-{p}.csv"));
        let args = [
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            output.to_str().expect("utf8"),
        ];
        let result = common::run_registered(
            common::cluster(tms, 4),
            Duration::from_secs(240),
            "wordcount",
            &args,
            p,
        );
        assert_eq!(
            result.status,
            JobStatus::Finished,
            "{tms} TMs, p={p}: {:?}",
            result.failure
        );
        let got = std::fs::read_to_string(&output).expect("output written");
        assert!(
            got == expected,
            "{tms} TaskManagers, parallelism {p}: counts differ from the independent count"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The oracle beside the checkout (`shared/oracles/gen_words.py`, Flink's word count), when it
/// is there: the same bytes as its exact counts.
#[test]
fn wordcount_matches_the_shared_oracle_when_present() {
    let Some(gen) = [
        "../shared/oracles/gen_words.py",
        "shared/oracles/gen_words.py",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists()) else {
        eprintln!("shared/oracles not found beside the checkout; oracle comparison not run");
        return;
    };
    let dir = common::temp_dir("oracle");
    let input = dir.join("words.txt");
    let status = std::process::Command::new("python3")
        .arg(gen)
        .arg(&input)
        .args(["--mb", "5"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let output = dir.join("counts.csv");
    let args = [
        "--input",
        input.to_str().expect("utf8"),
        "--output",
        output.to_str().expect("utf8"),
    ];
    let result = common::run_registered(
        common::cluster(2, 2),
        Duration::from_secs(120),
        "wordcount",
        &args,
        3,
    );
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
    let oracle = std::fs::read_to_string(dir.join("words.txt.counts.csv")).expect("oracle");
    assert_eq!(std::fs::read_to_string(&output).expect("output"), oracle);
    std::fs::remove_dir_all(&dir).ok();
}
