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

/// What the service keeps per session.
#[derive(Debug)]
struct Session {
    visits: u64,
    last_request: u64,
}

/// Serves one "request": reads its session, awaits some I/O, then records
/// the visit. Returns the session's visit count as this request left it.
async fn handle(sessions: Arc<HashMap<u64, Session>>, id: u64, request: u64) -> u64 {
    let m = sessions.pin_owned(); // one pin for the request, held across .await
    let session = m.get(&id); // a reference that stays valid across the await
    tokio::time::sleep(Duration::from_millis(1)).await; // the task may move threads here
    if let Some(s) = session {
        // Still readable, even if another request replaced the entry meanwhile.
        assert!(s.visits >= 1);
    }
    // Other requests for this session ran during the await: the visit is
    // recorded with one atomic read-modify-write on the current value, not
    // as "what I read before the await, plus one" (that would lose visits).
    let now = m.update_or_insert(
        id,
        |s| Session {
            visits: s.visits + 1,
            last_request: request,
        },
        Session {
            visits: 1,
            last_request: request,
        },
    );
    now.visits
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let sessions = Arc::new(HashMap::new());
    let mut tasks = Vec::new();
    for request in 0..1_000u64 {
        let id = request % 100;
        tasks.push(tokio::spawn(handle(sessions.clone(), id, request)));
    }
    let mut highest = 0;
    for task in tasks {
        highest = highest.max(task.await.expect("request task panicked"));
    }
    let stats = sessions.stats();
    println!(
        "served 1000 requests over {} sessions; the busiest saw {highest} visits",
        stats.len
    );
    println!("{stats:?}");
    assert_eq!(stats.len, 100);
    // No visit lost: each of the 100 sessions got exactly its 10 requests.
    let m = sessions.pin();
    for (id, s) in m.iter() {
        assert_eq!(s.visits, 10, "session {id}: {s:?}");
        assert_eq!(s.last_request % 100, *id);
    }
    assert_eq!(highest, 10);
}
