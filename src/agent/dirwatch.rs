//! A watched input directory that follows its path, not its inode.
//!
//! inotify watches an inode: after `mv dir dir.old; mkdir dir` or an atomic symlink swap
//! (`ln -sfn v2 tmp && mv -T tmp dir`), a watch set on `dir` keeps reporting the old directory
//! and the new content is never read. [`PathWatch`] remembers the device and inode the path
//! resolved to when it was watched; [`PathWatch::recheck`] (called every [`RECHECK`] by the
//! directory sources) resolves the path again and, when it names another directory now,
//! watches that one and says so, so that the caller loads it. A Kubernetes ConfigMap volume's
//! `..data` swap happens inside the directory and is seen by the watch itself.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// How often the directory sources resolve their path again.
pub const RECHECK: Duration = Duration::from_secs(1);

type Callback = Arc<dyn Fn() + Send + Sync>;

/// A watch on the directory a path names; see the module documentation.
pub struct PathWatch {
    dir: PathBuf,
    /// (device, inode) of the directory watched.
    watched: (u64, u64),
    on_change: Callback,
    // Kept alive for the watch to last.
    _watcher: notify::RecommendedWatcher,
}

fn identity(dir: &Path) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(dir)?;
    Ok((m.dev(), m.ino()))
}

fn watch(dir: &Path, on_change: &Callback) -> Result<notify::RecommendedWatcher, String> {
    let cb = on_change.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if !matches!(&ev, Ok(e) if matches!(e.kind, notify::EventKind::Access(_))) {
            cb();
        }
    })
    .map_err(|e| format!("watch {}: {e}", dir.display()))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("watch {}: {e}", dir.display()))?;
    Ok(watcher)
}

impl PathWatch {
    /// Watches the directory `dir` names; `on_change` is called (on notify's thread) for each
    /// file event other than an access.
    ///
    /// Errors: the directory cannot be watched (missing, no inotify instances left).
    pub fn new(dir: &Path, on_change: impl Fn() + Send + Sync + 'static) -> Result<Self, String> {
        let on_change: Callback = Arc::new(on_change);
        let watched = identity(dir).map_err(|e| format!("watch {}: {e}", dir.display()))?;
        let watcher = watch(dir, &on_change)?;
        Ok(PathWatch {
            dir: dir.to_path_buf(),
            watched,
            on_change,
            _watcher: watcher,
        })
    }

    /// Resolves the path again: `true` when it names another directory than the one watched
    /// (that one is watched from now on; the caller loads it). A path that names nothing for
    /// now keeps the old watch (`false`): it is watched again when it reappears.
    pub fn recheck(&mut self) -> bool {
        let Ok(now) = identity(&self.dir) else {
            return false;
        };
        if now == self.watched {
            return false;
        }
        match watch(&self.dir, &self.on_change) {
            Ok(w) => {
                tracing::info!(
                    "{}: the path names another directory now (moved or swapped): watching it",
                    self.dir.display()
                );
                self._watcher = w;
                self.watched = now;
                true
            }
            Err(e) => {
                tracing::warn!("{e}; retrying");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_replaced_directory_and_a_swapped_symlink_are_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (v1, v2, dir) = (
            tmp.path().join("v1"),
            tmp.path().join("v2"),
            tmp.path().join("dir"),
        );
        std::fs::create_dir(&v1).unwrap();
        std::fs::create_dir(&v2).unwrap();
        std::os::unix::fs::symlink(&v1, &dir).unwrap();
        let events = Arc::new(AtomicUsize::new(0));
        let seen = events.clone();
        let mut w = PathWatch::new(&dir, move || {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert!(!w.recheck(), "nothing moved");
        // ln -sfn v2 tmp && mv -T tmp dir
        let link = tmp.path().join("tmp");
        std::os::unix::fs::symlink(&v2, &link).unwrap();
        std::fs::rename(&link, &dir).unwrap();
        assert!(w.recheck(), "the symlink names v2 now");
        assert!(!w.recheck(), "once");
        let before = events.load(Ordering::SeqCst);
        std::fs::write(v2.join("a.yaml"), "x: 1\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while events.load(Ordering::SeqCst) == before && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(events.load(Ordering::SeqCst) > before, "v2 is watched");
        // mv dir dir.old; mkdir dir
        std::fs::rename(&dir, tmp.path().join("dir.old")).unwrap();
        assert!(!w.recheck(), "a path naming nothing keeps the old watch");
        std::fs::create_dir(&dir).unwrap();
        assert!(w.recheck(), "a new directory at the path");
    }
}
