//! The network edge, knowing nothing about WebSocket: name resolution,
//! global limits on connections (in flight and per second), and
//! connecting with TCP and TLS.

pub mod connect;
pub mod limit;
pub mod resolve;

pub use connect::{ConnectError, Connector, Stream, classify};
pub use limit::Limits;
pub use resolve::Resolver;
