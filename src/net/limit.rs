//! Limits on new connections. Scan-wide: how many may be open at once
//! (`--concurrency`, a semaphore whose permit lives as long as the
//! connection) and how many may start per second (`--rate`, governor's
//! GCRA). Every connection of every probe of every target passes here, so
//! the limits hold for the whole scan, which zgrab2 cannot promise. Per
//! target: the least gap between two of its new connections
//! (`--host-gap`, [`Pacer`]).
//!
//! governor keeps its own clock (quanta), not tokio's: tests that pause
//! tokio time cannot drive it, so rate tests run in real time.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Limits {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    rate: Option<DefaultDirectRateLimiter>,
    /// governor wakes its waiters in no particular order; queueing them
    /// behind a fair (FIFO) lock keeps one target from starving.
    rate_queue: tokio::sync::Mutex<()>,
    /// Connection attempts started (for stats and the rate check).
    pub attempts: AtomicU64,
}

impl Limits {
    /// `rate`: new connections per second (None = unlimited).
    pub fn new(max_in_flight: usize, rate: Option<u32>) -> Self {
        let rate = rate.and_then(NonZeroU32::new).map(|r| {
            // A burst of 1% of a second keeps the start smooth and lets the
            // limiter catch up after timer granularity (1 ms in tokio).
            let burst = NonZeroU32::new(r.get() / 100).unwrap_or(NonZeroU32::MIN);
            RateLimiter::direct(Quota::per_second(r).allow_burst(burst))
        });
        Limits {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_in_flight: max_in_flight.max(1),
            rate,
            rate_queue: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
        }
    }

    pub fn unlimited() -> Self {
        Limits::new(Semaphore::MAX_PERMITS, None)
    }

    /// Wait for a connection slot, then for the rate limiter. `None` only
    /// if the semaphore were closed, which nothing does.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.in_flight.clone().acquire_owned().await.ok()?;
        if let Some(r) = &self.rate {
            let _turn = self.rate_queue.lock().await;
            r.until_ready().await;
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Some(permit)
    }

    /// Connections open right now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits().min(self.max_in_flight)
    }
}

/// The TCP socket under a stream (plain or TLS).
pub trait TcpOf {
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl TcpOf for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}

impl<S: TcpOf> TcpOf for super::tls::Sniffed<S> {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().tcp()
    }
}

impl<S: TcpOf> TcpOf for tokio_rustls::client::TlsStream<S> {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().0.tcp()
    }
}

/// A stream that holds its connection slot until dropped.
pub struct Limited<S> {
    inner: S,
    _permit: Option<OwnedSemaphorePermit>,
    /// Acknowledge every read at once (`TCP_QUICKACK`, re-armed after each
    /// read, since Linux falls back to delayed ACKs on its own).
    ///
    /// Why: a server that writes a message and then a pong in two small
    /// writes without TCP_NODELAY (tokio-tungstenite's default) holds the
    /// pong back until its first write is acknowledged (Nagle), and our
    /// delayed ACK takes 40 ms. Every probe that waits for the liveness
    /// pong then took 42 ms on loopback instead of well under one.
    quickack: bool,
}

impl<S: TcpOf> Limited<S> {
    pub fn new(inner: S, permit: Option<OwnedSemaphorePermit>, quickack: bool) -> Self {
        let me = Limited {
            inner,
            _permit: permit,
            quickack,
        };
        me.ack_now();
        me
    }

    fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        if self.quickack {
            let _ = socket2::SockRef::from(self.inner.tcp()).set_tcp_quickack(true);
        }
    }
}

impl<S: AsyncRead + Unpin + TcpOf> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.ack_now();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Spaces out new connections to one target by at least `gap`, so a
/// survey with many probes per host does not look like a flood. One per
/// target, shared by everything that connects to it (the gate and its
/// retries, every probe, the still-up check).
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    next: Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    pub fn new(gap: Duration) -> Self {
        Pacer {
            gap,
            next: Mutex::new(None),
        }
    }

    /// Wait for this connection's slot; false (at once) when the slot
    /// would come at or after `deadline`: the connection is not to be
    /// made.
    pub async fn wait(&self, deadline: Option<tokio::time::Instant>) -> bool {
        if self.gap.is_zero() {
            return true;
        }
        let slot = {
            // The slot is whole after every update: a task that panicked
            // holding the lock left nothing half-made.
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            if deadline.is_some_and(|d| slot >= d) {
                return false;
            }
            *next = Some(slot + self.gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}
