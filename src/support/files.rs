//! Files only their owner reads: the data folder, the SQLite database (SQLite
//! gives its `-wal` and `-shm` files the database file's permissions) and its
//! backups hold phone numbers and, during a conversation, answers. Elsewhere
//! than on Unix the platform's defaults apply.

use std::io;
use std::path::Path;

/// Owner only: read, write and enter.
#[cfg(unix)]
const PRIVATE_DIR: u32 = 0o700;
/// Owner only: read and write.
#[cfg(unix)]
const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` and any missing parents, each readable by its owner only.
/// Folders that exist keep their permissions: an operator may have chosen them.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR);
    builder.create(dir)
}

/// Creates the empty file `path`, readable by its owner only; fails with
/// `AlreadyExists` when something is there.
pub fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_their_owners_only() {
        let root = std::env::temp_dir().join(format!("uic-files-{}", crate::support::ids::token()));
        create_private_dir_all(&root.join("a/b")).unwrap();
        assert_eq!((mode(&root), mode(&root.join("a")), mode(&root.join("a/b"))), (0o700, 0o700, 0o700));
        create_private_file(&root.join("a/b/uic.db")).unwrap();
        assert_eq!(mode(&root.join("a/b/uic.db")), 0o600);
        let again = create_private_file(&root.join("a/b/uic.db")).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
