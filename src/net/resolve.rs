//! Name resolution for a scan: hickory-resolver (async), at most
//! `concurrency` lookups at once, A and AAAA, and a bounded cache of
//! answers and failures, so a target list with one name on ten thousand
//! ports asks once. Targets that want a name while its lookup is in
//! flight wait for that lookup rather than start their own, and a lookup
//! that waited for a slot looks in the cache again before it asks: one
//! question per name, however many targets carry it at once.
//! `--resolver ip[:port]` replaces the system's resolver (tests use one on
//! loopback, never the machine's).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::sync::{OnceCell, Semaphore};

/// Entries kept; past this the cache is emptied (a survey of distinct
/// names gains nothing from keeping them).
const CACHE_MAX: usize = 65_536;
/// How long a failure is remembered.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Upper bound on how long an answer is reused.
const POSITIVE_TTL: Duration = Duration::from_secs(300);

type Answer = Result<Vec<IpAddr>, String>;

pub struct Resolver {
    server: Option<SocketAddr>,
    timeout: Duration,
    inner: OnceCell<Result<TokioResolver, String>>,
    sem: Semaphore,
    cache: Mutex<HashMap<String, (Answer, Instant)>>,
    /// Lookups in flight, by name: the first asker's cell, which every
    /// later asker of the name waits on.
    pending: Mutex<HashMap<String, Arc<OnceCell<Answer>>>>,
}

impl Resolver {
    /// `server`: `--resolver` (None = the system configuration).
    pub fn new(server: Option<SocketAddr>, concurrency: usize, timeout: Duration) -> Self {
        Resolver {
            server,
            timeout,
            inner: OnceCell::new(),
            sem: Semaphore::new(concurrency.max(1)),
            cache: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// `ip` or `ip:port` (port 53 by default; IPv6 as `[::1]:53`).
    pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, 53));
        }
        s.parse::<SocketAddr>()
            .map_err(|_| format!("--resolver {s:?}: expected ip or ip:port"))
    }

    /// The cache, taken back from a poisoned lock: it holds plain answers,
    /// so a thread that panicked while holding it left nothing half-made.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Answer, Instant)>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Answer>>>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached answer for `key`, if it has not expired.
    fn cached(&self, key: &str) -> Option<Answer> {
        self.cache()
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(a, _)| a.clone())
    }

    fn store(&self, key: &str, answer: &Answer) {
        let ttl = if answer.is_ok() {
            POSITIVE_TTL
        } else {
            NEGATIVE_TTL
        };
        let mut cache = self.cache();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key.to_string(), (answer.clone(), Instant::now() + ttl));
    }

    async fn client(&self) -> Result<&TokioResolver, String> {
        let r = self
            .inner
            .get_or_init(|| async {
                let mut b = match self.server {
                    None => TokioResolver::builder_tokio()
                        .map_err(|e| format!("no DNS resolver configuration: {e}"))?,
                    Some(addr) => {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = addr.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = addr.port();
                        let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                        TokioResolver::builder_with_config(
                            ResolverConfig::from_parts(None, vec![], vec![ns]),
                            TokioRuntimeProvider::default(),
                        )
                    }
                };
                let o = b.options_mut();
                o.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
                o.timeout = self.timeout;
                o.attempts = 1;
                o.cache_size = 0;
                b.build().map_err(|e| format!("DNS resolver: {e}"))
            })
            .await;
        r.as_ref().map_err(Clone::clone)
    }

    /// All addresses of `host`, IPv4 first. An IP literal is returned as is.
    ///
    /// `None` when `deadline` (the target's) came first, the wait for a
    /// lookup slot included. That is no answer about the name, so nothing
    /// is cached: a target with time left asks again.
    pub async fn resolve(&self, host: &str, deadline: tokio::time::Instant) -> Option<Answer> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Ok(vec![ip]));
        }
        let key = host.to_ascii_lowercase();
        if let Some(a) = self.cached(&key) {
            return Some(a);
        }
        let cell = self.pending().entry(key.clone()).or_default().clone();
        // The asker whose future runs the lookup stores the answer before
        // the cell is set, so an asker that comes after the cell leaves
        // `pending` finds it in the cache. If that asker's deadline cuts
        // it, the cell is still empty and the next waiter runs the lookup
        // (tokio's `OnceCell` hands initialisation on when a future is
        // dropped).
        let asking = cell.get_or_init(|| async {
            let Ok(_permit) = self.sem.acquire().await else {
                return Err("DNS lookup slots closed".to_string());
            };
            if let Some(a) = self.cached(&key) {
                return a;
            }
            let a = self.lookup(&key).await;
            self.store(&key, &a);
            a
        });
        let answer = tokio::time::timeout_at(deadline, asking)
            .await
            .ok()
            .cloned();
        // Leave `pending` as it would be without us: the cell goes once it
        // holds an answer (the cache has it), or when no one else waits on
        // it (a cut lookup must not stay behind for ever). Clones are made
        // under this lock, so the count cannot grow while it is read.
        let mut p = self.pending();
        if p.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell))
            && (cell.initialized() || Arc::strong_count(&cell) <= 2)
        {
            p.remove(&key);
        }
        answer
    }

    async fn lookup(&self, host: &str) -> Answer {
        let client = self.client().await?;
        // The resolver's own timeout covers one query to one server; this
        // gives the whole lookup (A and AAAA, asked at once, and any
        // fallback to TCP) the same one budget, `--dns-timeout`.
        match tokio::time::timeout(self.timeout, client.lookup_ip(host)).await {
            Err(_) => Err(format!("DNS lookup of {host} timed out")),
            Ok(Err(e)) => Err(format!("DNS lookup of {host}: {e}")),
            Ok(Ok(l)) => {
                let mut ips: Vec<IpAddr> = l.iter().collect();
                ips.sort_by_key(|i| i.is_ipv6());
                ips.dedup();
                if ips.is_empty() {
                    Err(format!("no address for {host}"))
                } else {
                    Ok(ips)
                }
            }
        }
    }
}
