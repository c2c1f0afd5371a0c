//! An owned pin (`HashMap::pin_owned`) held across `.await` in a
//! multi-threaded tokio runtime: the handle is `Send`, so the task may resume
//! on another worker thread with its references still valid.
//!
//! Run with `cargo run --release --example async_service`.
//!
//! A pinned handle delays the freeing of memory that any thread removes, so
//! a service pins per request (as here), never for the life of a task.

use std::sync::Arc;
use std::time::Duration;

use lfmap::HashMap;

/// Serves one "request": reads a session, awaits some I/O, then updates it.
async fn handle(sessions: Arc<HashMap<u64, String>>, id: u64) -> usize {
    let m = sessions.pin_owned(); // one pin for the request, held across .await
    let before = m.get(&id).map_or(0, String::len);
    tokio::time::sleep(Duration::from_millis(1)).await; // the task may move threads here
    m.insert(id, format!("session {id}: {} visits", before + 1));
    m.get(&id).map_or(0, String::len)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let sessions = Arc::new(HashMap::new());
    let mut tasks = Vec::new();
    for id in 0..1_000u64 {
        tasks.push(tokio::spawn(handle(sessions.clone(), id % 100)));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("request task panicked");
    }
    let stats = sessions.stats();
    println!(
        "served 1000 requests over {} sessions; {} bytes of replies",
        stats.len, total
    );
    println!("{stats:?}");
    assert_eq!(stats.len, 100);
}
