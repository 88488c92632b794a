//! Issue 22: the object-store side of checkpoint storage against an S3 API server (moto):
//! large files in parts, and a process configured by the `AWS_*` environment variables.

mod common;

use common::s3::S3Server;

/// Files above the multipart threshold go up in parts and come back whole: a state file
/// written and read, a local file uploaded and downloaded (as RocksDB's SST files are).
#[test]
fn large_files_go_up_in_parts_and_come_back_whole() {
    use rill::checkpoint::store;
    let dir = common::s3::shared().prefix("multipart");
    let bytes: Vec<u8> = (0..(store::MULTIPART_ABOVE * 2 + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    let object = dir.join("big.state");
    store::write_atomically(&object, &bytes).expect("written in parts");
    assert_eq!(store::len(&object).expect("its size"), bytes.len() as u64);
    assert!(store::read(&object).expect("read back") == bytes);

    let local = common::temp_dir("multipart");
    let (from, to) = (local.join("from.sst"), local.join("to.sst"));
    std::fs::write(&from, &bytes).expect("local file");
    let sst = dir.join("shared").join("1.sst");
    store::upload(&from, &sst).expect("uploaded in parts");
    store::download(&sst, &to).expect("downloaded in ranges");
    assert!(std::fs::read(&to).expect("downloaded") == bytes);

    let mut names = store::children(&dir).expect("listed");
    names.sort();
    assert_eq!(names, vec!["big.state".to_string(), "shared".to_string()]);
    store::remove_dir_all(&dir).expect("removed");
    assert!(store::children(&dir).expect("listed").is_empty());
    let _ = std::fs::remove_dir_all(local);
}

/// A `rill` process reaches the store through the standard `AWS_*` environment variables:
/// the RocksDB checkpoint benchmark writes a savepoint and two incremental checkpoints to it.
#[test]
fn a_process_finds_the_store_through_the_aws_environment() {
    let server = S3Server::start();
    let dir = server.prefix("bench");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["bench", "--state-checkpoints", "--state-bytes", "4000000"])
        .arg("--checkpoint-dir")
        .arg(&dir)
        .envs(server.env())
        .output()
        .expect("rill runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("second incremental checkpoint (1% of keys changed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("written to {}", dir.display())),
        "{stdout}"
    );
}
