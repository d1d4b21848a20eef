//! The SQLite files of a real `uic serve` (issue #14, point 6): the data
//! folder it creates and the database, WAL and shared-memory files are
//! readable by their owner only, and once a conversation has ended its answers
//! cannot be read back from the database file or its WAL — as bytes, the way
//! anyone holding a copy of the folder would look.

use std::path::Path;
use std::time::Duration;

use crate::support::server::{TestServer, bounded, phone};

/// DRC answers with words found nowhere else: last name, first name, birth
/// year, birth city, gender.
const ANSWERS: [&str; 5] = ["Zebulonova", "Quintessa", "1994", "Tshikapa", "2"];
/// Someone who starts again mid-way: these answers go with the restart.
const ABANDONED: [&str; 2] = ["Wolfhardt", "Yseultine"];

/// Each answer word as typed and as normalised (upper case).
fn searched() -> Vec<String> {
    ANSWERS
        .iter()
        .chain(&ABANDONED)
        .filter(|answer| answer.len() >= 3 && answer.chars().all(char::is_alphabetic))
        .flat_map(|answer| [answer.to_string(), answer.to_uppercase()])
        .collect()
}

/// The answers found in the bytes of the database's files, with the file.
fn answers_in_files(db: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let path = format!("{}{suffix}", db.display());
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for word in searched() {
            if bytes.windows(word.len()).any(|window| window == word.as_bytes()) {
                found.push(format!("{word} in {path}"));
            }
        }
    }
    found
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn ended_conversations_leave_no_answer_in_the_sqlite_files_which_only_their_owner_reads() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("state").join("uic");
    let db = data.join("uic.db");
    let url = format!("sqlite://{}", db.display());
    let data_dir = data.display().to_string();
    let server = TestServer::start_with(&[("DATA_DIR", data_dir.as_str()), ("DATABASE_URL", url.as_str())]).await;

    // People mid-way, whose rows share the page of those who finish.
    for n in 10..16 {
        server.conversation(&phone(n), &["Bonjour", "MBE", "IBR"]).await;
    }
    // One abandoned by RESTART; one to its code, last, so that no later
    // write happens to reuse the space its row leaves. Each answer is a turn.
    server.conversation(&phone(2), &["Bonjour", ABANDONED[0], ABANDONED[1]]).await;
    // While a conversation goes on, its answers are in the files: the search works.
    assert!(!answers_in_files(&db).is_empty(), "an answer of a conversation going on is found");
    server.say(&phone(2), "RESTART").await;
    let done = server.conversation(&phone(1), &[&["Bonjour"][..], &ANSWERS[..]].concat()).await;
    assert!(done.text().contains("ZEBQUI4TS2"), "{}", done.raw);
    assert_eq!(server.count("conversation_sessions").await, 7, "the restarted one, with no answer, and those mid-way");

    // The server cuts the WAL after a second without writes; give it ten.
    let left = bounded("the files to be clean", async {
        for _ in 0..100 {
            if answers_in_files(&db).is_empty() {
                return Vec::new();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answers_in_files(&db)
    })
    .await;
    assert!(left.is_empty(), "answers readable after their conversations ended: {left:?}");

    #[cfg(unix)]
    {
        assert_eq!(mode(&root.path().join("state")), 0o700, "a folder the server made");
        assert_eq!(mode(&data), 0o700, "the data folder");
        for suffix in ["", "-wal", "-shm"] {
            let file = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
            if suffix != "-wal" || file.exists() {
                assert_eq!(mode(&file), 0o600, "{}", file.display());
            }
        }
    }
}
