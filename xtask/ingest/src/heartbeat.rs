//! Keeps a task's lease while the worker reads, chunks and embeds its file: a beat every
//! third of the lease, on a thread of its own, until the work is done. A beat answered 409
//! means the lease is gone (it expired and the task went to another worker, or it was
//! canceled): the work stops at its next step.

use crate::api::Api;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Heartbeat {
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(api: Api, task_id: String, lease_seconds: u64, every: Duration) -> Heartbeat {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let flag = lost.clone();
        let thread = std::thread::spawn(move || loop {
            match stopped.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                // Stopped, or the task is over.
                _ => return,
            }
            match api.heartbeat(&task_id, lease_seconds) {
                Ok(()) => {}
                Err(e) if e.status == Some(409) => {
                    eprintln!("genbase-ingest: task {task_id}: lease lost ({e})");
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                // A missed beat is not fatal: the lease lasts three of them.
                Err(e) => eprintln!("genbase-ingest: task {task_id}: heartbeat failed ({e})"),
            }
        });
        Heartbeat {
            lost,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
