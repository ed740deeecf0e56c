//! Transactions, and group commit: many device requests made durable by one
//! `fsync`.
//!
//! With `synchronous=FULL` every COMMIT waits for the disk. Answering
//! devices one transaction each bounds the service at one request per
//! flush, however fast the rest is. So the device API hands the store a
//! batch of the requests already waiting ([`Store::in_one_commit`]): each
//! runs as before, in a SAVEPOINT of one outer transaction, so a request
//! that fails undoes only its own writes; the outer COMMIT makes the whole
//! batch durable at once; and nothing leaves the store (replies, change
//! events, notifications) before that COMMIT returned. A device is never
//! told "accepted" about a change the disk does not hold.
//!
//! Every store method takes its transaction from [`Store::write_tx`] or
//! [`Store::read_tx`], which see whether a batch is open: outside one they
//! begin and end a transaction of their own, inside one a savepoint.

use super::{Store, StoreError};
use rusqlite::Connection;
use std::ops::Deref;

/// A write transaction, or a savepoint of the batch's transaction. Dropped
/// without [`WriteTx::commit`], it undoes what it wrote and nothing else.
pub(crate) struct WriteTx<'a> {
    conn: &'a Connection,
    nested: bool,
    open: bool,
}

impl WriteTx<'_> {
    /// Keeps what was written: commits a transaction of its own (durable
    /// when this returns), or releases the batch's savepoint (durable when
    /// the batch commits).
    /// If that fails, the drop undoes the writes, as for any failed write:
    /// the connection is never left inside a transaction.
    pub(crate) fn commit(mut self) -> Result<(), rusqlite::Error> {
        let kept = run(
            self.conn,
            if self.nested {
                "RELEASE jobhost_request"
            } else {
                "COMMIT"
            },
        );
        self.open = kept.is_err();
        kept
    }
}

impl Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let undone = if self.nested {
            run(self.conn, "ROLLBACK TO jobhost_request")
                .and_then(|()| run(self.conn, "RELEASE jobhost_request"))
        } else if self.conn.is_autocommit() {
            // A failed COMMIT that SQLite already rolled back.
            Ok(())
        } else {
            run(self.conn, "ROLLBACK")
        };
        if let Err(e) = undone {
            tracing::error!(target: "service", "cannot undo a failed store write: {e}");
        }
    }
}

/// A read that several queries make from one snapshot: a transaction of
/// its own, or (during a batch) the batch's, which shows the batch's own
/// writes so far.
pub(crate) struct ReadTx<'a> {
    conn: &'a Connection,
    own: bool,
}

impl Deref for ReadTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        if self.own {
            // A read-only transaction: ending it either way changes nothing.
            let _ = run(self.conn, "ROLLBACK");
        }
    }
}

impl Store {
    /// Starts a write: a transaction of its own (IMMEDIATE: it takes the
    /// write lock up front, so that a read-then-write transition cannot fail
    /// half-way with `SQLITE_BUSY` when another process writes in between),
    /// or a savepoint in the batch's transaction, which already holds it.
    pub(super) fn write_tx(&mut self) -> Result<WriteTx<'_>, StoreError> {
        let nested = !self.conn.is_autocommit();
        run(
            &self.conn,
            if nested {
                "SAVEPOINT jobhost_request"
            } else {
                "BEGIN IMMEDIATE"
            },
        )?;
        Ok(WriteTx {
            conn: &self.conn,
            nested,
            open: true,
        })
    }

    /// Starts a read transaction, so that a read made of several queries
    /// (a job and its counts) sees one snapshot. `&self` suffices because
    /// `Store` is not `Sync`: no other transaction can be open on this
    /// connection at the same time, except the batch this read is part of.
    pub(super) fn read_tx(&self) -> Result<ReadTx<'_>, StoreError> {
        let own = self.conn.is_autocommit();
        if own {
            run(&self.conn, "BEGIN DEFERRED")?;
        }
        Ok(ReadTx {
            conn: &self.conn,
            own,
        })
    }

    /// Runs `work` in one transaction and commits it once: group commit
    /// (see the module's documentation). The change events of `work`'s
    /// writes are published after the COMMIT; if it fails, everything
    /// `work` wrote is undone, nothing is published, and the error says so:
    /// whatever `work` computed must then be treated as not having happened.
    pub fn in_one_commit<R>(
        &mut self,
        work: impl FnOnce(&mut Store) -> R,
    ) -> Result<R, StoreError> {
        if !self.conn.is_autocommit() {
            // Already in a batch: it commits.
            return Ok(work(self));
        }
        run(&self.conn, "BEGIN IMMEDIATE")?;
        self.deferred = Some(Vec::new());
        // Undo on unwind too: a panic in `work` must not leave the
        // connection inside a transaction every later request joins.
        let mut batch = Batch {
            store: self,
            open: true,
        };
        let result = work(batch.store);
        batch.commit().map(|()| result)
    }
}

/// An open batch: committed by [`Batch::commit`], rolled back if dropped
/// before (a panic in the batch's work).
struct Batch<'a> {
    store: &'a mut Store,
    open: bool,
}

impl Batch<'_> {
    fn commit(&mut self) -> Result<(), StoreError> {
        self.open = false;
        let deferred = self.store.deferred.take().unwrap_or_default();
        match run(&self.store.conn, "COMMIT") {
            Ok(()) => {
                self.store.publish(deferred);
                Ok(())
            }
            Err(e) => {
                let _ = run(&self.store.conn, "ROLLBACK");
                Err(e.into())
            }
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.open {
            self.store.deferred = None;
            let _ = run(&self.store.conn, "ROLLBACK");
        }
    }
}

/// Runs one transaction statement through the statement cache: these run
/// several times per device request, and `execute_batch` would parse each
/// again every time (9 % of the service's time in the fleet benchmark).
fn run(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}
