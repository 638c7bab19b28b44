//! The network edge, knowing nothing about WebSocket: name resolution,
//! global limits on connections (in flight and per second), and
//! connecting with TCP (directly or through a proxy) and TLS (and what a
//! TLS handshake says).

// No panics by construction: what a peer, a capture or an input file sends
// must not be able to reach an unwrap, an index or a slice that panics
// (issue #15). Tests may still unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod connect;
pub mod limit;
pub mod proxy;
pub mod resolve;
pub mod tls;

pub use connect::{ConnectError, Connector, Dest, Relayed, Stream, classify};
pub use limit::{Limits, Pacer};
pub use proxy::{Proxy, ProxyUrl};
pub use resolve::Resolver;
pub use tls::{CertFacts, TlsFacts};
