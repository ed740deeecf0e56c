//! The journal's promises: what survives a reopen, checkpoint coalescing,
//! torn and corrupt files, the older single-file journal.

use super::*;

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    j.update(|s| {
        s.running = Some(RunningEntry {
            job_id: "j".into(),
            execution_number: 2,
            checkpoint: Some("c".into()),
            reboot: None,
            rotation: None,
            restarts: 2,
        })
    })
    .unwrap();
    let (details, _) = StatusDetails::from_pairs([("reason", "r")]);
    j.update(|s| {
        s.pending_report = Some(PendingReport {
            job_id: "j".into(),
            execution_number: 2,
            status: TerminalStatus::Failed,
            status_details: details.clone(),
            then_shutdown: false,
        })
    })
    .unwrap();
    let again = Journal::open(dir.path()).unwrap();
    assert_eq!(again.state(), j.state());
    assert_eq!(
        again
            .state()
            .running
            .as_ref()
            .unwrap()
            .checkpoint
            .as_deref(),
        Some("c")
    );
}

fn running(j: &mut Journal) {
    j.update(|s| {
        s.running = Some(RunningEntry {
            job_id: "j".into(),
            execution_number: 1,
            checkpoint: None,
            reboot: None,
            rotation: None,
            restarts: 0,
        })
    })
    .unwrap();
}

fn on_disk(dir: &Path) -> Option<String> {
    Journal::open(dir)
        .unwrap()
        .state()
        .running
        .clone()?
        .checkpoint
}

#[test]
fn checkpoints_beyond_the_burst_are_coalesced_and_the_newest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path())
        .unwrap()
        .with_checkpoint_interval(Duration::from_secs(3600));
    running(&mut j);
    for i in 1..=CHECKPOINT_BURST {
        let saved = j.save_checkpoint("j", 1, &format!("c{i}")).unwrap();
        assert_eq!(saved, Saved::Durable, "c{i} is within the burst");
        assert_eq!(on_disk(dir.path()), Some(format!("c{i}")));
    }
    for i in CHECKPOINT_BURST + 1..=1000 {
        let saved = j.save_checkpoint("j", 1, &format!("c{i}")).unwrap();
        assert_eq!(saved, Saved::Deferred);
    }
    assert_eq!(on_disk(dir.path()), Some(format!("c{CHECKPOINT_BURST}")));
    assert!(!j.flush_due().unwrap(), "no slot within the hour");
    // Any other write carries the newest checkpoint along.
    j.update(|s| {
        if let Some(r) = s.running.as_mut() {
            r.restarts = 1;
        }
    })
    .unwrap();
    assert_eq!(on_disk(dir.path()).as_deref(), Some("c1000"));
    j.save_checkpoint("j", 1, "last").unwrap();
    j.flush().unwrap();
    assert_eq!(on_disk(dir.path()).as_deref(), Some("last"));
    assert_eq!(
        j.save_checkpoint("other", 1, "x").unwrap(),
        Saved::NotRunning
    );
}

#[test]
fn a_deferred_checkpoint_is_written_at_the_next_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path())
        .unwrap()
        .with_checkpoint_interval(Duration::from_millis(20));
    running(&mut j);
    let mut i = 0;
    while j.save_checkpoint("j", 1, &format!("c{i}")).unwrap() == Saved::Durable {
        i += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !j.flush_due().unwrap() {
        assert!(Instant::now() < deadline, "no slot came");
        std::thread::yield_now();
    }
    assert_eq!(on_disk(dir.path()), Some(format!("c{i}")));
}

/// How many unreadable journals were moved aside in `dir`.
fn set_aside_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt")
        })
        .count()
}

#[test]
fn a_corrupt_journal_is_moved_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(log::FILE_NAME), b"{not json").unwrap();
    let j = Journal::open(dir.path()).unwrap();
    assert_eq!(j.state(), &JournalState::default());
    assert_eq!(set_aside_files(dir.path()), 1);
}

/// Two changes, then the second's record damaged as a crash mid-write
/// would leave it: the first change is the journal, and the file is made
/// anew so that the damage is never read past.
#[test]
fn a_torn_last_record_leaves_the_change_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    running(&mut j);
    let first = j.state().clone();
    j.save_checkpoint("j", 1, "c1").unwrap();
    let path = dir.path().join(log::FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    let end = log::scan(&bytes).end;
    bytes[end - 3] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let again = Journal::open(dir.path()).unwrap();
    assert_eq!(again.state(), &first);
    let scan = log::scan(&fs::read(&path).unwrap());
    assert!(!scan.damaged, "the torn record is gone from the file");
    assert_eq!(Journal::read(dir.path()).unwrap(), first);
}

/// Many more changes than fit in one file: each survives a reopen, the
/// file keeps its size, and nothing else is left in the directory.
#[test]
fn a_full_log_starts_a_new_file_with_the_latest_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path())
        .unwrap()
        .with_checkpoint_interval(Duration::from_millis(0));
    running(&mut j);
    let size = fs::metadata(dir.path().join(log::FILE_NAME)).unwrap().len();
    for i in 0..2000 {
        j.update(|s| {
            if let Some(r) = s.running.as_mut() {
                r.checkpoint = Some(format!("checkpoint {i} {}", "x".repeat(i % 50)));
            }
        })
        .unwrap();
        if i % 250 == 0 {
            assert_eq!(Journal::read(dir.path()).unwrap(), *j.state(), "after {i}");
        }
    }
    assert_eq!(Journal::open(dir.path()).unwrap().state(), j.state());
    assert_eq!(
        fs::metadata(dir.path().join(log::FILE_NAME)).unwrap().len(),
        size
    );
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [log::FILE_NAME]);
}

/// An older agent's `journal.json` is the first content of the log, and
/// is gone after the first start.
#[test]
fn an_older_agents_journal_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let old = JournalState {
        running: Some(RunningEntry {
            job_id: "j".into(),
            execution_number: 4,
            checkpoint: Some("step-2".into()),
            reboot: None,
            rotation: None,
            restarts: 1,
        }),
        pending_report: None,
    };
    fs::write(
        dir.path().join(LEGACY_FILE),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    assert_eq!(Journal::read(dir.path()).unwrap(), old);
    let j = Journal::open(dir.path()).unwrap();
    assert_eq!(j.state(), &old);
    assert!(!dir.path().join(LEGACY_FILE).exists());
    assert_eq!(Journal::open(dir.path()).unwrap().state(), &old);
}

#[test]
fn an_unreadable_older_journal_is_moved_aside_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(LEGACY_FILE), b"{not json").unwrap();
    let j = Journal::open(dir.path()).unwrap();
    assert_eq!(j.state(), &JournalState::default());
    assert!(!dir.path().join(LEGACY_FILE).exists());
    assert_eq!(set_aside_files(dir.path()), 1);
}
