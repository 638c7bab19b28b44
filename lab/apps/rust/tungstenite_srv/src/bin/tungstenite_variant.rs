// Variant app for tokio-tungstenite (same library and crate versions as src/main.rs, different app behaviour).
// A second binary of the tungstenite_srv package (auto-discovered: no Cargo.toml/Cargo.lock change).
// usage: tungstenite_variant PORT silent|push
//   silent: accept, read and discard every message, never send a data message
//   push:   accept, never echo (reads and discards), send a text message every 100 ms (like STEWS's ws server-stats app)
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
#[tokio::main]
async fn main() {
    let port = std::env::args().nth(1).unwrap_or("9001".into());
    let mode = std::env::args().nth(2).unwrap_or("silent".into());
    if mode != "silent" && mode != "push" {
        eprintln!("unknown mode {mode:?} (silent|push)");
        std::process::exit(2);
    }
    let push = mode == "push";
    let start = std::time::Instant::now();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await.unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
            if !push {
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            tick.tick().await; // the first tick is immediate; push from 100 ms on
            let mut seq = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        seq += 1;
                        let msg = format!("{{\"seq\":{seq},\"uptime\":{:.3}}}", start.elapsed().as_secs_f64());
                        if ws.send(Message::text(msg)).await.is_err() { break; }
                    }
                    m = ws.next() => match m { Some(Ok(_)) => {}, _ => break },
                }
            }
        });
    }
}
