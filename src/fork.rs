//! What `fork()` does to attachments, from `pthread_atfork` handlers.
//!
//! Before the fork, the forking thread locks the list of attachments and every attachment's
//! local state, and keeps them locked until the fork is over, so the child inherits them in a
//! consistent state and never a mutex another thread held. None of these locks is ever held while
//! waiting for another process, so a fork never waits for one. For each writable attachment the
//! parent claims a writer slot for the child on a new file description (`Shared::prepare_child`,
//! a few system calls, whatever the process holds); the child points its descriptor at it, so
//! from its first instant it is alive in a slot of its own, and holds what it inherited through
//! its parent's owner bits (which its parent hands over to it before giving them up).

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::attach::{Local, Shared, lock_guard, refresh_pid};
use crate::sys;

/// Writable attachments of this process.
static ATTACHED: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// One attachment kept locked across a fork. Fields drop in order: the guard before the Arc
/// that keeps its mutex alive.
struct Held {
    guard: ManuallyDrop<MutexGuard<'static, Local>>,
    shared: Arc<Shared>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here, while `shared` (declared after it) is still alive.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
    }
}

/// What the forking thread locked in `prepare`: the list, then each attachment.
type Locked = (MutexGuard<'static, Vec<Weak<Shared>>>, Vec<Held>);

thread_local! {
    /// What the forking thread locked in `prepare`, released by `parent`/`child`.
    static HELD: RefCell<Option<Locked>> = const { RefCell::new(None) };
}

pub(crate) fn track(shared: &Arc<Shared>) {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let _ = sys::at_fork(prepare, parent, child);
    });
    let mut all = lock_guard(&ATTACHED);
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(shared));
}

extern "C" fn prepare() {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let all = lock_guard(&ATTACHED);
        let held = all
            .iter()
            .filter_map(Weak::upgrade)
            .map(|shared| {
                let guard = lock_guard(&shared.local);
                // SAFETY: the guard borrows the mutex inside `shared`, which the same `Held`
                // keeps alive and outlives the guard (see `Held`'s drop order); the guard never
                // leaves this thread.
                let guard: MutexGuard<'static, Local> = unsafe { std::mem::transmute(guard) };
                let mut held = Held { guard: ManuallyDrop::new(guard), shared };
                held.shared.prepare_child(&mut held.guard);
                held
            })
            .collect();
        HELD.with(|h| *h.borrow_mut() = Some((all, held)));
    }));
}

fn finish(f: impl Fn(&Shared, &mut Local)) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some((all, held)) = HELD.with(|h| h.borrow_mut().take()) {
            for mut h in held {
                let Held { guard, shared } = &mut h;
                f(shared, guard);
            }
            drop(all);
        }
    }));
}

extern "C" fn parent() {
    finish(Shared::after_fork_parent);
}

extern "C" fn child() {
    refresh_pid();
    finish(Shared::after_fork_child);
}
