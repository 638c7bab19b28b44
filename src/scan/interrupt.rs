//! SIGINT and SIGTERM stop a survey cleanly instead of killing it: the
//! first asks the survey loop to stop (no new targets, a short grace for
//! those in flight, then flush, checkpoint and summary); a second exits at
//! once, for when the grace is too long to wait. Either way what is on
//! disk stays resumable: the checkpoint only ever covers durable output.

use tokio::sync::watch;

/// The signal that stopped a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process it killed.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }
}

/// The first stop signal, once received. Cloned into whoever waits for it.
#[derive(Debug, Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Option<Signal>>,
}

impl Interrupt {
    /// Take over SIGINT and SIGTERM (inside the runtime). From here on they
    /// no longer end the process, except the second one.
    pub fn install() -> std::io::Result<Interrupt> {
        let mut signals = Signals::new()?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let first = signals.next().await;
            let _ = tx.send(Some(first));
            let second = signals.next().await;
            crate::stderr!(
                "wsfp: {}: a second stop signal; exiting at once",
                second.name()
            );
            std::process::exit(second.exit_code());
        });
        Ok(Interrupt { rx })
    }

    /// One that never fires (scans run without the handlers).
    pub fn never() -> Interrupt {
        let (_, rx) = watch::channel(None);
        Interrupt { rx }
    }

    /// Wait for the first signal (at once if it already came).
    pub async fn wait(&mut self) -> Signal {
        loop {
            if let Some(s) = *self.rx.borrow_and_update() {
                return s;
            }
            if self.rx.changed().await.is_err() {
                // No handler behind it: never.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Int,
            _ = self.term.recv() => Signal::Term,
        }
    }
}

/// Elsewhere only Ctrl-C is caught.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Signals)
    }

    async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Int
    }
}
