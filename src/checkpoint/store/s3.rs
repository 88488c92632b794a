//! Checkpoint files in S3 and S3-compatible stores, through the `object_store` crate.
//!
//! A client per bucket, built once from the standard AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, …) with the settings file's `[s3]` options over them ([`configure`]).
//! Requests run on a small runtime of their own, so the blocking callers (I/O threads) wait
//! on a channel and no actor's thread ever runs them. Transient errors are retried with
//! exponential backoff (100 ms doubling to 2 s, at most 5 times and 15 s).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

use super::MULTIPART_ABOVE;

/// Object-store settings over the environment's: `(key, value)` pairs, each key one of
/// `object_store`'s S3 keys (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
/// `allow_http`, `virtual_hosted_style_request`, … with or without `aws_`) or Flink's
/// (`access-key`, `secret-key`, `path.style.access`).
pub type S3Options = Vec<(String, String)>;

/// A file (or a directory's prefix) in a bucket.
pub(super) struct ObjectPath {
    bucket: String,
    key: Key,
}

impl ObjectPath {
    /// `bucket/key…` (what follows `s3://`).
    pub(super) fn parse(rest: &str) -> io::Result<Self> {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(format!("s3://{rest} names no bucket")));
        }
        let key = Key::parse(key.trim_end_matches('/'))
            .map_err(|e| invalid(format!("s3://{rest} is not a valid object path: {e}")))?;
        Ok(Self {
            bucket: bucket.to_string(),
            key,
        })
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The `[s3]` options and the clients built with them, per bucket.
struct Clients {
    options: Vec<(AmazonS3ConfigKey, String)>,
    built: HashMap<String, Arc<AmazonS3>>,
}

fn clients() -> &'static Mutex<Clients> {
    static CLIENTS: OnceLock<Mutex<Clients>> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        Mutex::new(Clients {
            options: Vec::new(),
            built: HashMap::new(),
        })
    })
}

/// Why object-store settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3ConfigError {
    /// A key neither `object_store` nor Flink has.
    #[error("[s3]: unknown option '{0}'")]
    UnknownOption(String),
    /// A thread panicked while it held the clients.
    #[error("the S3 clients are poisoned")]
    Poisoned,
}

/// Sets the options every client is built with from now on (over the environment's);
/// refuses an unknown key.
pub fn configure(options: &S3Options) -> Result<(), S3ConfigError> {
    let mut parsed = Vec::new();
    for (key, value) in options {
        let (key, value) = match key.as_str() {
            "access-key" => ("access_key_id", value.clone()),
            "secret-key" => ("secret_access_key", value.clone()),
            "path.style.access" => (
                "virtual_hosted_style_request",
                (value.trim() != "true").to_string(),
            ),
            k => (k, value.clone()),
        };
        let key: AmazonS3ConfigKey = key
            .to_ascii_lowercase()
            .replace('-', "_")
            .parse()
            .map_err(|_| S3ConfigError::UnknownOption(key.to_string()))?;
        parsed.push((key, value));
    }
    let mut c = clients().lock().map_err(|_| S3ConfigError::Poisoned)?;
    c.options = parsed;
    c.built.clear();
    Ok(())
}

fn client(bucket: &str) -> io::Result<Arc<AmazonS3>> {
    let mut c = clients()
        .lock()
        .map_err(|_| io::Error::other("the S3 clients are poisoned"))?;
    if let Some(s) = c.built.get(bucket) {
        return Ok(s.clone());
    }
    // The HTTP client's TLS goes through the process's rustls provider: ring, as QUIC's
    // (installing it again, or after another, changes nothing).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let retry = RetryConfig {
        max_retries: 5,
        retry_timeout: Duration::from_secs(15),
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
    };
    // Timeouts as settings, not as new client options, which would drop the environment's
    // (`AWS_ALLOW_HTTP`).
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "120s");
    for (k, v) in &c.options {
        builder = builder.with_config(*k, v);
    }
    let store = Arc::new(
        builder
            .build()
            .map_err(|e| io::Error::other(format!("S3 bucket {bucket}: {e}")))?,
    );
    c.built.insert(bucket.to_string(), store.clone());
    Ok(store)
}

/// The runtime object-store requests run on.
fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("rill-object-store")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| io::Error::other(format!("the object-store runtime did not start: {e}")))
}

/// Runs `f` with the bucket's client on the object-store runtime and waits for its result.
fn run<T, F, Fut>(bucket: &str, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce(Arc<AmazonS3>) -> Fut,
    Fut: std::future::Future<Output = object_store::Result<T>> + Send + 'static,
{
    let fut = f(client(bucket)?);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv() {
        Ok(result) => result.map_err(to_io),
        Err(_) => Err(io::Error::other("an object-store request was lost")),
    }
}

fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

pub(super) fn put(o: &ObjectPath, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() <= MULTIPART_ABOVE {
        let (key, payload) = (o.key.clone(), PutPayload::from(bytes.to_vec()));
        return run(&o.bucket, |s| async move {
            s.put(&key, payload).await.map(drop)
        });
    }
    let mut parts = Parts::start(o)?;
    for chunk in bytes.chunks(MULTIPART_ABOVE) {
        parts = parts.write(o, chunk.to_vec())?;
    }
    parts.finish(o)
}

pub(super) fn get(o: &ObjectPath) -> io::Result<Vec<u8>> {
    let key = o.key.clone();
    run(
        &o.bucket,
        |s| async move { s.get(&key).await?.bytes().await },
    )
    .map(|b| b.to_vec())
}

pub(super) fn head(o: &ObjectPath) -> io::Result<u64> {
    let key = o.key.clone();
    run(
        &o.bucket,
        |s| async move { s.head(&key).await.map(|m| m.size) },
    )
}

pub(super) fn delete(o: &ObjectPath) -> io::Result<()> {
    let key = o.key.clone();
    run(&o.bucket, |s| async move { s.delete(&key).await })
}

pub(super) fn children(o: &ObjectPath) -> io::Result<Vec<String>> {
    let key = o.key.clone();
    let listed = run(&o.bucket, |s| async move {
        s.list_with_delimiter(Some(&key)).await
    })?;
    let names = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .chain(
            listed
                .objects
                .iter()
                .filter_map(|m| m.location.filename().map(str::to_string)),
        )
        .collect();
    Ok(names)
}

pub(super) fn files(o: &ObjectPath) -> io::Result<Vec<String>> {
    let key = o.key.clone();
    let listed: Vec<object_store::ObjectMeta> = run(&o.bucket, |s| async move {
        s.list(Some(&key)).try_collect().await
    })?;
    let prefix: Vec<_> = o.key.parts().collect();
    Ok(listed
        .into_iter()
        .filter_map(|m| {
            let parts: Vec<_> = m.location.parts().collect();
            let rest = parts.get(prefix.len()..)?;
            Some(
                rest.iter()
                    .map(|p| p.as_ref())
                    .collect::<Vec<&str>>()
                    .join("/"),
            )
        })
        .collect())
}

pub(super) fn rename(from: &ObjectPath, to: &ObjectPath) -> io::Result<()> {
    if from.bucket != to.bucket {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "cannot rename across buckets ({} to {})",
                from.bucket, to.bucket
            ),
        ));
    }
    let (from, to_key) = (from.key.clone(), to.key.clone());
    run(
        &to.bucket,
        |s| async move { s.rename(&from, &to_key).await },
    )
}

pub(super) fn delete_prefix(o: &ObjectPath) -> io::Result<()> {
    let key = o.key.clone();
    run(&o.bucket, |s| async move {
        let keys = s.list(Some(&key)).map(|m| m.map(|m| m.location)).boxed();
        let mut deleted = s.delete_stream(keys);
        while let Some(d) = deleted.next().await {
            d?;
        }
        Ok(())
    })
}

pub(super) fn upload(from: &Path, o: &ObjectPath) -> io::Result<()> {
    let mut file = std::fs::File::open(from)?;
    let size = file.metadata()?.len();
    if size <= MULTIPART_ABOVE as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes)?;
        return put(o, &bytes);
    }
    let mut parts = Parts::start(o)?;
    loop {
        let mut chunk = Vec::with_capacity(MULTIPART_ABOVE);
        (&mut file)
            .take(MULTIPART_ABOVE as u64)
            .read_to_end(&mut chunk)?;
        if chunk.is_empty() {
            return parts.finish(o);
        }
        parts = parts.write(o, chunk)?;
    }
}

pub(super) fn download(o: &ObjectPath, to: &Path) -> io::Result<()> {
    let size = head(o)?;
    let mut file = std::fs::File::create(to)?;
    let mut at = 0;
    while at < size {
        let end = (at + MULTIPART_ABOVE as u64).min(size);
        let key = o.key.clone();
        let range = at..end;
        let bytes = run(&o.bucket, |s| async move { s.get_range(&key, range).await })?;
        file.write_all(&bytes)?;
        at = end;
    }
    Ok(())
}

/// Parts in flight to one object: at most [`IN_FLIGHT`] at once, each [`MULTIPART_ABOVE`]
/// bytes; completed by [`Parts::finish`], aborted on a failure.
struct Parts(WriteMultipart);

/// Parts uploaded at once.
const IN_FLIGHT: usize = 4;

impl Parts {
    fn start(o: &ObjectPath) -> io::Result<Self> {
        let key = o.key.clone();
        let upload = run(&o.bucket, |s| async move { s.put_multipart(&key).await })?;
        Ok(Self(WriteMultipart::new_with_chunk_size(
            upload,
            MULTIPART_ABOVE,
        )))
    }

    fn write(self, o: &ObjectPath, chunk: Vec<u8>) -> io::Result<Self> {
        let mut w = self.0;
        let (w, result) = run(&o.bucket, |_| async move {
            w.put(chunk.into());
            let result = w.wait_for_capacity(IN_FLIGHT).await;
            Ok((w, result))
        })?;
        match result {
            Ok(()) => Ok(Self(w)),
            Err(e) => {
                let _ = run(&o.bucket, |_| async move { w.abort().await });
                Err(to_io(e))
            }
        }
    }

    fn finish(self, o: &ObjectPath) -> io::Result<()> {
        let w = self.0;
        run(&o.bucket, |_| async move { w.finish().await.map(drop) })
    }
}
