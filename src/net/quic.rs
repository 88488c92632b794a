//! The process's QUIC endpoint: TLS 1.3 with a certificate generated at start (or loaded from
//! PEM files), and cluster authentication on every connection.
//!
//! ## Authentication
//! Nodes share a secret. Right after the handshake the dialing node opens a stream and sends a
//! [`Hello`] whose proof is `HMAC-SHA256(secret, "rill-client" || ekm)`, where `ekm` is keying
//! material exported from this very TLS session (RFC 5705). The accepting node checks it and
//! answers with its own proof over `"rill-server" || ekm`. Because the exported material is
//! unique to the session and equal on both ends only when nobody sits in between, a proof cannot
//! be replayed on another connection, and a relay that terminates TLS on each side cannot
//! produce one; that is why certificates need no CA here (any certificate is accepted, the
//! handshake signature is still verified). A connection without a valid proof within
//! [`HELLO_TIMEOUT`] is closed and the refusal logged; nothing else is read from it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, Incoming, TransportConfig, VarInt};
use ring::hmac;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};

use crate::net::frame::{read_message, write_message, FrameError};

/// The ALPN protocol of Rill's cluster traffic.
pub const ALPN: &[u8] = b"rill/1";
/// The protocol version spoken; a peer with another is refused.
pub const PROTOCOL_VERSION: u32 = 1;
/// How long a new connection may take to prove the secret.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest hello frame read.
const HELLO_LIMIT: usize = 4096;
/// The TLS exporter label of the authentication proof.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-rill-cluster-auth";

/// Application close codes.
pub mod close {
    use quinn::VarInt;
    /// Authentication failed.
    pub const REFUSED: VarInt = VarInt::from_u32(1);
    /// The peer broke the protocol (bad frame, unknown message).
    pub const PROTOCOL: VarInt = VarInt::from_u32(2);
    /// Orderly shutdown.
    pub const SHUTDOWN: VarInt = VarInt::from_u32(3);
    /// The peer was declared lost.
    pub const LOST: VarInt = VarInt::from_u32(4);
    /// The receiver could not take a one-way message (its mailbox was full): rather than
    /// drop it, the connection is closed and the peers start over (re-register).
    pub const OVERLOADED: VarInt = VarInt::from_u32(5);
}

/// Why the network layer failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// TLS or endpoint setup.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// Binding the UDP socket.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Connecting.
    #[error("cannot connect to {addr}: {cause}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        cause: String,
    },
    /// The peer refused us or we refused it.
    #[error("authentication with {addr} failed: {reason}")]
    Refused {
        /// The peer.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A frame could not be read or written.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The connection failed.
    #[error("connection: {0}")]
    Connection(String),
    /// A request got no answer in time.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout {
        /// The peer.
        addr: SocketAddr,
        /// The timeout.
        timeout: Duration,
    },
}

/// The shared secret that admits a node to the cluster.
#[derive(Clone)]
pub struct ClusterSecret(hmac::Key);

impl ClusterSecret {
    /// The secret given as text.
    pub fn new(secret: &str) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// A fresh random secret, as text (for a JobManager started without one).
    pub fn generate() -> String {
        format!(
            "{:016x}{:016x}",
            crate::util::random_u64(),
            crate::util::random_u64()
        )
    }

    fn proof(&self, role: &[u8], ekm: &[u8]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(role);
        ctx.update(ekm);
        ctx.sign().as_ref().to_vec()
    }

    fn verify(&self, role: &[u8], ekm: &[u8], proof: &[u8]) -> bool {
        let mut msg = role.to_vec();
        msg.extend_from_slice(ekm);
        hmac::verify(&self.0, &msg, proof).is_ok()
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// What kind of node is speaking.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    /// The JobManager.
    JobManager,
    /// A TaskManager.
    TaskManager,
}

/// The first message on a new connection, from the dialing node.
#[derive(Serialize, Deserialize, Debug)]
pub struct Hello {
    /// Protocol version.
    pub version: u32,
    /// The dialing node's role.
    pub role: NodeRole,
    /// The dialing node's id.
    pub node_id: String,
    /// `HMAC(secret, "rill-client" || ekm)`.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// The accepting node's answer.
#[derive(Serialize, Deserialize, Debug)]
pub enum HelloReply {
    /// Admitted; the proof is `HMAC(secret, "rill-server" || ekm)`.
    Welcome {
        /// The accepting node's id.
        node_id: String,
        /// Its proof.
        #[serde(with = "serde_bytes")]
        proof: Vec<u8>,
    },
    /// Refused, with the reason.
    Refused(String),
}

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct QuicSettings {
    /// A connection silent for this long is closed (keep-alives run at a third of it).
    pub idle_timeout: Duration,
    /// PEM certificate chain and key; generated when absent.
    pub certificate: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Default for QuicSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            certificate: None,
        }
    }
}

/// An authenticated connection and who is on the other end.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The connection.
    pub connection: Connection,
    /// The peer's node id.
    pub node_id: String,
    /// The peer's address.
    pub address: SocketAddr,
}

/// The process's one QUIC endpoint.
#[derive(Clone)]
pub struct QuicNode {
    endpoint: Endpoint,
    secret: ClusterSecret,
    node_id: String,
    role: NodeRole,
}

impl QuicNode {
    /// Binds the endpoint (it both accepts and dials). Must run inside a tokio runtime.
    pub fn bind(
        addr: SocketAddr,
        secret: ClusterSecret,
        node_id: String,
        role: NodeRole,
        settings: &QuicSettings,
    ) -> Result<Self, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (certs, key) = match &settings.certificate {
            Some((cert, key)) => load_pem(cert, key)?,
            None => generate_certificate()?,
        };
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| NetError::Tls(e.to_string()))?;
        server.alpn_protocols = vec![ALPN.to_vec()];
        let server =
            QuicServerConfig::try_from(server).map_err(|e| NetError::Tls(e.to_string()))?;
        let transport = Arc::new(transport_config(settings)?);
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
        server.transport_config(transport.clone());

        let mut client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN.to_vec()];
        let client =
            QuicClientConfig::try_from(client).map_err(|e| NetError::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client));
        client.transport_config(transport);

        let mut endpoint =
            Endpoint::server(server, addr).map_err(|source| NetError::Bind { addr, source })?;
        endpoint.set_default_client_config(client);
        Ok(Self {
            endpoint,
            secret,
            node_id,
            role,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.endpoint
            .local_addr()
            .map_err(|e| NetError::Connection(e.to_string()))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Dials `addr` and proves the secret; fails if the peer does not prove it back.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Peer, NetError> {
        let err = |cause: String| NetError::Connect { addr, cause };
        let connecting = self
            .endpoint
            .connect(addr, "rill")
            .map_err(|e| err(e.to_string()))?;
        let connection = tokio::time::timeout(HELLO_TIMEOUT, connecting)
            .await
            .map_err(|_| err("handshake timed out".into()))?
            .map_err(|e| err(e.to_string()))?;
        let ekm = exported(&connection)?;
        let hello = Hello {
            version: PROTOCOL_VERSION,
            role: self.role,
            node_id: self.node_id.clone(),
            proof: self.secret.proof(b"rill-client", &ekm),
        };
        let exchange = async {
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|e| NetError::Connection(e.to_string()))?;
            write_message(&mut send, &hello).await?;
            let _ = send.finish();
            Ok::<_, NetError>(read_message::<HelloReply>(&mut recv, HELLO_LIMIT).await?)
        };
        let reply = tokio::time::timeout(HELLO_TIMEOUT, exchange)
            .await
            .map_err(|_| NetError::Timeout {
                addr,
                timeout: HELLO_TIMEOUT,
            })?;
        let refused = |reason: String| {
            connection.close(close::REFUSED, b"authentication failed");
            NetError::Refused { addr, reason }
        };
        match reply {
            Ok(Some(HelloReply::Welcome { node_id, proof })) => {
                if self.secret.verify(b"rill-server", &ekm, &proof) {
                    Ok(Peer {
                        connection,
                        node_id,
                        address: addr,
                    })
                } else {
                    Err(refused(
                        "the peer could not prove the cluster secret".into(),
                    ))
                }
            }
            Ok(Some(HelloReply::Refused(reason))) => Err(refused(reason)),
            Ok(None) => Err(refused("the peer closed the handshake stream".into())),
            Err(e) => Err(refused(e.to_string())),
        }
    }

    /// The next incoming connection attempt; `None` once the endpoint is closed.
    pub async fn accept(&self) -> Option<Incoming> {
        self.endpoint.accept().await
    }

    /// Completes an incoming connection and checks its proof. Refusals are logged here.
    pub async fn authenticate(&self, incoming: Incoming) -> Result<(Peer, NodeRole), NetError> {
        let addr = incoming.remote_address();
        let connection = tokio::time::timeout(HELLO_TIMEOUT, incoming)
            .await
            .map_err(|_| NetError::Timeout {
                addr,
                timeout: HELLO_TIMEOUT,
            })?
            .map_err(|e| NetError::Connect {
                addr,
                cause: e.to_string(),
            })?;
        let ekm = exported(&connection)?;
        let exchange = async {
            let (send, mut recv) = connection
                .accept_bi()
                .await
                .map_err(|e| NetError::Connection(e.to_string()))?;
            let hello = read_message::<Hello>(&mut recv, HELLO_LIMIT).await?;
            Ok::<_, NetError>((send, hello))
        };
        let outcome = tokio::time::timeout(HELLO_TIMEOUT, exchange).await;
        let refuse = |reason: String| {
            tracing::warn!(peer = %addr, %reason, "connection refused");
            connection.close(close::REFUSED, b"authentication failed");
            NetError::Refused { addr, reason }
        };
        let (mut send, hello) = match outcome {
            Err(_) => return Err(refuse("no hello within the timeout".into())),
            Ok(Err(e)) => return Err(refuse(e.to_string())),
            Ok(Ok((_, None))) => return Err(refuse("stream ended before the hello".into())),
            Ok(Ok((send, Some(hello)))) => (send, hello),
        };
        let verdict = if hello.version != PROTOCOL_VERSION {
            Err(format!(
                "protocol version {} (this node speaks {PROTOCOL_VERSION})",
                hello.version
            ))
        } else if !self.secret.verify(b"rill-client", &ekm, &hello.proof) {
            Err(format!(
                "node {:?} did not prove the cluster secret",
                hello.node_id
            ))
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                let reply = HelloReply::Welcome {
                    node_id: self.node_id.clone(),
                    proof: self.secret.proof(b"rill-server", &ekm),
                };
                write_message(&mut send, &reply).await?;
                let _ = send.finish();
                Ok((
                    Peer {
                        connection,
                        node_id: hello.node_id,
                        address: addr,
                    },
                    hello.role,
                ))
            }
            Err(reason) => {
                let _ = write_message(&mut send, &HelloReply::Refused(reason.clone())).await;
                let _ = send.finish();
                // Give the refusal a moment to leave before the close discards it.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(refuse(reason))
            }
        }
    }

    /// Closes every connection and the endpoint.
    pub fn close(&self) {
        self.endpoint.close(close::SHUTDOWN, b"shutting down");
    }
}

fn exported(connection: &Connection) -> Result<[u8; 32], NetError> {
    let mut ekm = [0u8; 32];
    connection
        .export_keying_material(&mut ekm, EXPORTER_LABEL, b"")
        .map_err(|_| NetError::Tls("cannot export keying material".into()))?;
    Ok(ekm)
}

fn transport_config(settings: &QuicSettings) -> Result<TransportConfig, NetError> {
    let mut t = TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(settings.idle_timeout)
        .map_err(|e| NetError::Tls(format!("idle timeout: {e}")))?;
    t.max_idle_timeout(Some(idle));
    t.keep_alive_interval(Some(settings.idle_timeout / 3));
    // One stream per data channel plus short request streams.
    t.max_concurrent_bidi_streams(VarInt::from_u32(4096));
    t.max_concurrent_uni_streams(VarInt::from_u32(64));
    // Windows large enough for loopback and LAN throughput.
    t.stream_receive_window(VarInt::from_u32(4 * 1024 * 1024));
    t.receive_window(VarInt::from_u32(64 * 1024 * 1024));
    t.send_window(64 * 1024 * 1024);
    Ok(t)
}

fn generate_certificate() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), NetError>
{
    let ck = rcgen::generate_simple_self_signed(vec!["rill".to_string()])
        .map_err(|e| NetError::Tls(e.to_string()))?;
    let key = PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der());
    Ok((vec![ck.cert.der().clone()], key.into()))
}

fn load_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), NetError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| NetError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NetError::Tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| NetError::Tls(format!("{}: {e}", key.display())))?;
    Ok((certs, key))
}

/// Accepts any server certificate but verifies the handshake signature with it, so the session
/// (and the exported keying material the proofs bind to) belongs to the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(secret: &str, id: &str) -> QuicNode {
        QuicNode::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ClusterSecret::new(secret),
            id.into(),
            NodeRole::TaskManager,
            &QuicSettings::default(),
        )
        .expect("bind")
    }

    #[tokio::test]
    async fn nodes_with_the_secret_connect_and_others_are_refused() {
        let server = node("s3cret", "jm");
        let addr = server.local_addr().expect("addr");
        let srv = server.clone();
        let accepting = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let Some(inc) = srv.accept().await else { break };
                // Keep the connection: dropping its last handle closes it.
                outcomes.push(
                    srv.authenticate(inc)
                        .await
                        .map(|(p, r)| (p.node_id.clone(), r, p)),
                );
            }
            outcomes
        });
        let client = node("s3cret", "tm-good");
        let good = client.connect(addr).await.expect("admitted");
        assert_eq!(good.node_id, "jm");
        let bad = node("wrong", "tm-bad").connect(addr).await;
        assert!(matches!(&bad, Err(NetError::Refused { .. })), "{bad:?}");
        let outcomes = accepting.await.expect("join");
        drop(good);
        assert!(matches!(&outcomes[0], Ok((id, NodeRole::TaskManager, _)) if id == "tm-good"));
        assert!(matches!(&outcomes[1], Err(NetError::Refused { .. })));
    }

    #[test]
    fn proofs_bind_role_and_session() {
        let s = ClusterSecret::new("k");
        let p = s.proof(b"rill-client", &[1; 32]);
        assert!(s.verify(b"rill-client", &[1; 32], &p));
        assert!(
            !s.verify(b"rill-server", &[1; 32], &p),
            "a client proof is no server proof"
        );
        assert!(
            !s.verify(b"rill-client", &[2; 32], &p),
            "nor valid in another session"
        );
        assert!(!ClusterSecret::new("j").verify(b"rill-client", &[1; 32], &p));
    }
}
