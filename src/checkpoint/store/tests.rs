use std::path::{Path, PathBuf};

use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rill-store-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn locations_are_local_paths_or_object_stores_by_their_scheme() {
    assert!(!is_remote(Path::new("/var/lib/rill")));
    assert!(!is_remote(Path::new("relative/dir")));
    assert!(!is_remote(Path::new("file:///var/lib/rill")));
    assert!(is_remote(Path::new("s3://bucket/prefix")));
    assert!(is_remote(Path::new("s3a://bucket")));
    // Joining keeps the scheme: checkpoint directories are built by joining.
    let chk = Path::new("s3://bucket/prefix").join("job").join("chk-3");
    assert_eq!(chk.to_str(), Some("s3://bucket/prefix/job/chk-3"));
    assert_eq!(
        chk.parent().and_then(Path::to_str),
        Some("s3://bucket/prefix/job")
    );
    assert!(is_remote(&chk));

    let e = check(Path::new("hdfs://namenode/x")).expect_err("refused");
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    assert!(e.to_string().contains("'hdfs://'"), "{e}");
    let e = check(Path::new("s3:///no-bucket")).expect_err("refused");
    assert!(e.to_string().contains("names no bucket"), "{e}");
    let e = check(Path::new("s3://bucket/a//b")).expect_err("refused");
    assert!(e.to_string().contains("not a valid object path"), "{e}");
}

#[test]
fn local_files_are_written_whole_listed_and_removed() {
    let dir = temp("local");
    let file = dir.join("chk-1").join("_metadata");
    write_atomically(&file, b"abc").expect("works");
    assert_eq!(read(&file).expect("works"), b"abc");
    assert_eq!(len(&file).expect("works"), 3);
    assert!(exists(&file));
    assert!(!dir.join("chk-1").join("_metadata.inprogress").exists());
    assert_eq!(children(&dir).expect("works"), vec!["chk-1".to_string()]);
    assert_eq!(
        children(&dir.join("absent")).expect("works"),
        Vec::<String>::new()
    );

    let copy = dir.join("shared").join("1.sst");
    create_dir_all(&dir.join("shared")).expect("works");
    upload(&file, &copy).expect("works");
    let back = dir.join("back");
    download(&copy, &back).expect("works");
    assert_eq!(read(&back).expect("works"), b"abc");

    remove_file(&copy).expect("works");
    assert!(!exists(&copy));
    assert_eq!(
        read(&copy).expect_err("refused").kind(),
        io::ErrorKind::NotFound,
        "a missing file is NotFound"
    );
    remove_dir_all(&dir).expect("works");
    assert!(!dir.exists());
}

#[test]
fn unknown_s3_options_are_refused() {
    let e = configure(&vec![("no_such_option".into(), "1".into())]).expect_err("refused");
    assert_eq!(e, S3ConfigError::UnknownOption("no_such_option".into()));
    assert!(e.to_string().contains("no_such_option"), "{e}");
    configure(&vec![
        ("endpoint".into(), "http://127.0.0.1:1".into()),
        ("path.style.access".into(), "true".into()),
        ("access-key".into(), "k".into()),
        ("secret-key".into(), "s".into()),
    ])
    .expect("works");
    configure(&Vec::new()).expect("works");
}
