//! Archive layers: a tar+gzip of one component's files (archive mode, spec §2.1).
//!
//! Writing is deterministic (fixed modes, owners and times, no gzip timestamp) so
//! the same files always give the same layer digest and identical layers de-duplicate.
//! Reading never unpacks to disk: readers find an archived file by the sha256 of its
//! content, exactly as the lock refers to it, so archive entry names cannot place
//! anything anywhere.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read as _, Write as _};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::digest::sha256_digest;

/// Builds a tar.gz of `files` (relative paths with `/` separators, and contents),
/// with a directory entry before the first file inside each directory.
pub(crate) fn build(files: &[(String, &[u8])]) -> io::Result<Vec<u8>> {
    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut dirs = HashSet::new();
    for (path, bytes) in files {
        let parts: Vec<&str> = path.split('/').collect();
        let mut parent = String::new();
        for part in &parts[..parts.len() - 1] {
            parent.push_str(part);
            parent.push('/');
            if dirs.insert(parent.clone()) {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_mtime(0);
                tar.append_data(&mut header, &parent, io::empty())?;
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        header.set_mtime(0);
        tar.append_data(&mut header, path, *bytes)?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// Reads the regular files of a tar.gz and keeps those whose digest is in `wanted`,
/// adding them to `found` by digest.
pub(crate) fn collect_wanted(
    bytes: &[u8],
    wanted: &HashSet<&str>,
    found: &mut HashMap<String, Vec<u8>>,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let mut content = Vec::with_capacity(entry.size().try_into().unwrap_or(0));
        entry.read_to_end(&mut content)?;
        let digest = sha256_digest(&content);
        if wanted.contains(digest.as_str()) {
            found.entry(digest).or_insert(content);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: &[u8]) -> Vec<String> {
        let mut tar = tar::Archive::new(GzDecoder::new(archive));
        tar.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn archives_are_deterministic_and_list_directories_first() {
        let files = vec![
            ("index.html".to_owned(), &b"<html>"[..]),
            ("css/site.css".to_owned(), &b"body{}"[..]),
            ("css/deep/x.css".to_owned(), &b"x"[..]),
        ];
        let a = build(&files).unwrap();
        assert_eq!(a, build(&files).unwrap());
        assert_eq!(
            names(&a),
            [
                "index.html",
                "css/",
                "css/site.css",
                "css/deep/",
                "css/deep/x.css"
            ]
        );
    }

    #[test]
    fn archived_files_are_found_by_content_digest_only_when_wanted() {
        let long_name = format!("{}/file.txt", "d".repeat(150));
        let files = vec![
            ("a.txt".to_owned(), &b"alpha"[..]),
            (long_name, &b"beta"[..]),
        ];
        let archive = build(&files).unwrap();
        let beta = sha256_digest(b"beta");
        let wanted: HashSet<&str> = [beta.as_str()].into();
        let mut found = HashMap::new();
        collect_wanted(&archive, &wanted, &mut found).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[&beta], b"beta");
    }

    #[test]
    fn a_corrupt_archive_is_an_error() {
        let mut found = HashMap::new();
        assert!(collect_wanted(b"not gzip", &HashSet::new(), &mut found).is_err());
    }
}
