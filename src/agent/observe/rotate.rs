//! A size-, count- and age-rotated log file that survives whatever happens to its directory.
//!
//! `np.log` is written until the next line would take it past `max_bytes`; it is then renamed
//! `np.log.1` (`np.log.1.gz` when compressed), older backups move up one number, and those past
//! `max_backups` or older than `max_age` are removed — the scheme of logrotate's `rotate N` and
//! of the lumberjack settings Antrea's agent exposes (`maxSize`, `maxBackups`, `maxAge`,
//! `compress`).
//!
//! Nothing the file system does stops the writer: a backup deleted by hand is simply missing
//! from the shift, the live file deleted or moved away (logrotate without `copytruncate`) is
//! noticed before the next line (its inode is no longer the one at `path`) and a new file is
//! opened, and a failed write drops the file and reopens it once. [`RotatingFile::reopen`] is
//! what SIGHUP calls.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How a [`RotatingFile`] rotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Size in bytes past which the file rotates (> 0).
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` .. `path.N`); 0 keeps none (the file is truncated).
    pub max_backups: usize,
    /// Rotated files older than this (by modification time) are removed; `None` keeps them.
    pub max_age: Option<Duration>,
    /// Rotated files are gzip-compressed (`path.1.gz`).
    pub compress: bool,
}

impl Default for Rotation {
    /// 100 MiB, 5 backups, no age limit, not compressed.
    fn default() -> Self {
        Rotation {
            max_bytes: 100 << 20,
            max_backups: 5,
            max_age: None,
            compress: false,
        }
    }
}

/// The writer; see the module docs. Each [`RotatingFile::write_line`] is one `write` of one
/// whole line, so a rotation never splits a line across files.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: Option<(File, u64)>,
    size: u64,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

impl RotatingFile {
    /// A writer of `path`; the file is opened (appended to, created 0600) at the first line.
    pub fn new(path: &Path, rotation: Rotation) -> Self {
        RotatingFile {
            path: path.to_path_buf(),
            rotation,
            file: None,
            size: 0,
        }
    }

    /// Closes the file; the next line opens `path` again (after `mv np.log np.log.old`, the
    /// next line goes to a new `np.log`).
    pub fn reopen(&mut self) {
        self.file = None;
    }

    fn backup(&self, n: usize) -> PathBuf {
        let suffix = if self.rotation.compress { ".gz" } else { "" };
        PathBuf::from(format!("{}.{n}{suffix}", self.path.display()))
    }

    fn open(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut open = std::fs::OpenOptions::new();
        open.create(true).append(true);
        // The lines hold pod addresses: owner-only, like the state directory's files.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(&self.path)?;
        let m = file.metadata()?;
        self.size = m.len();
        self.file = Some((file, inode(&m)));
        Ok(())
    }

    /// Whether the open file is still the one at `path` (not deleted, not moved away).
    fn still_there(&self) -> bool {
        match (&self.file, std::fs::metadata(&self.path)) {
            (Some((_, ino)), Ok(m)) => inode(&m) == *ino,
            _ => false,
        }
    }

    /// Shifts the backups up one number (removing the last), moves the file to `path.1`
    /// (compressing it when asked) and removes backups past `max_age`. Files missing on the way
    /// are skipped: someone deleted them, which is theirs to do.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let keep = self.rotation.max_backups;
        if keep == 0 {
            ignore_missing(std::fs::remove_file(&self.path))?;
            return Ok(());
        }
        ignore_missing(std::fs::remove_file(self.backup(keep)))?;
        for n in (1..keep).rev() {
            ignore_missing(std::fs::rename(self.backup(n), self.backup(n + 1)))?;
        }
        if self.rotation.compress {
            match compress(&self.path, &self.backup(1)) {
                Ok(()) => ignore_missing(std::fs::remove_file(&self.path))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else {
            ignore_missing(std::fs::rename(&self.path, self.backup(1)))?;
        }
        if let Some(age) = self.rotation.max_age {
            let now = SystemTime::now();
            for n in 1..=keep {
                let p = self.backup(n);
                let old = std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > age);
                if old {
                    ignore_missing(std::fs::remove_file(&p))?;
                }
            }
        }
        Ok(())
    }

    fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_some() && !self.still_there() {
            self.file = None;
        }
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && self.size + bytes.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
            self.open()?;
        }
        let (file, _) = self.file.as_mut().expect("opened above");
        file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Appends `line` and a newline, rotating first when the line would take the file past
    /// `max_bytes`. On an error the file is reopened and the line written once more.
    ///
    /// Errors: the second attempt failed too (the directory cannot be created, the disk is
    /// full); the line is lost and the next one tries again.
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let bytes = format!("{line}\n");
        self.try_write(bytes.as_bytes()).or_else(|_| {
            self.file = None;
            self.try_write(bytes.as_bytes())
        })
    }
}

fn ignore_missing(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn compress(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut input = File::open(from)?;
    let mut open = std::fs::OpenOptions::new();
    open.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut gz = flate2::write::GzEncoder::new(open.open(to)?, flate2::Compression::default());
    std::io::copy(&mut input, &mut gz)?;
    gz.finish()?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation(max_bytes: u64, max_backups: usize) -> Rotation {
        Rotation {
            max_bytes,
            max_backups,
            max_age: None,
            compress: false,
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_file_rotates_before_a_line_would_pass_its_size_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("np.log");
        let mut w = RotatingFile::new(&path, rotation(20, 2));
        for i in 0..8 {
            w.write_line(&format!("line {i:04}")).unwrap(); // 10 bytes each
        }
        assert_eq!(lines(&path), ["line 0006", "line 0007"]);
        assert_eq!(lines(&w.backup(1)), ["line 0004", "line 0005"]);
        assert_eq!(lines(&w.backup(2)), ["line 0002", "line 0003"]);
        assert!(!w.backup(3).exists(), "only two backups are kept");
    }

    #[test]
    fn deleting_backups_and_the_live_file_mid_run_loses_no_later_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("np.log");
        let mut w = RotatingFile::new(&path, rotation(20, 3));
        for i in 0..5 {
            w.write_line(&format!("line {i:04}")).unwrap();
        }
        // Every file of the directory goes, the open one included.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        for i in 5..9 {
            w.write_line(&format!("line {i:04}")).unwrap();
        }
        assert_eq!(lines(&path), ["line 0007", "line 0008"]);
        assert_eq!(lines(&w.backup(1)), ["line 0005", "line 0006"]);
        assert!(
            !w.backup(2).exists(),
            "deleted backups are not brought back"
        );
        // Even the directory itself.
        std::fs::remove_dir_all(dir.path()).unwrap();
        w.write_line("line 0009").unwrap();
        assert_eq!(lines(&path), ["line 0009"]);
    }

    #[test]
    fn a_moved_file_is_left_behind_after_reopen_and_new_lines_go_to_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("np.log");
        let moved = dir.path().join("np.log.moved");
        let mut w = RotatingFile::new(&path, rotation(1 << 20, 1));
        w.write_line("before").unwrap();
        std::fs::rename(&path, &moved).unwrap();
        w.reopen();
        w.write_line("after").unwrap();
        assert_eq!(lines(&moved), ["before"]);
        assert_eq!(lines(&path), ["after"]);
    }

    #[test]
    fn compressed_backups_are_gzip_of_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("np.log");
        let mut w = RotatingFile::new(
            &path,
            Rotation {
                compress: true,
                ..rotation(20, 1)
            },
        );
        for i in 0..3 {
            w.write_line(&format!("line {i:04}")).unwrap();
        }
        let gz = std::fs::read(dir.path().join("np.log.1.gz")).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        assert_eq!(text, "line 0000\nline 0001\n");
        assert_eq!(lines(&path), ["line 0002"]);
    }

    #[test]
    fn backups_past_their_age_are_removed_at_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("np.log");
        let mut w = RotatingFile::new(
            &path,
            Rotation {
                max_age: Some(Duration::from_secs(3600)),
                ..rotation(20, 3)
            },
        );
        for i in 0..4 {
            w.write_line(&format!("line {i:04}")).unwrap();
        }
        // np.log.1 holds lines 0 and 1; make it two hours old.
        let old = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(w.backup(1))
            .unwrap()
            .set_modified(old)
            .unwrap();
        for i in 4..6 {
            w.write_line(&format!("line {i:04}")).unwrap();
        }
        assert_eq!(lines(&w.backup(1)), ["line 0002", "line 0003"]);
        assert!(!w.backup(2).exists(), "the old backup is gone");
    }
}
