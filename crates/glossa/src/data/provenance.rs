//! Where a build's catalogs came from: every catalog read, with its checksum, and for a file an
//! installed Debian package owns (the system's `/usr/share/locale`), that package and its
//! version from dpkg's database. Two machines whose corpora differ can then say why.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

/// One catalog read into the corpus.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogUsed {
    pub path: String,
    /// xxh3-64 of the file's bytes.
    pub xxh3: String,
    /// The installed package that owns the file, when dpkg knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl CatalogUsed {
    pub fn new(path: &Path, bytes: &[u8]) -> Self {
        CatalogUsed {
            path: path.display().to_string(),
            xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
            package: None,
            version: None,
        }
    }
}

/// One checksum over every catalog's path and checksum, in order: equal on two machines when
/// they read the same catalogs.
pub fn digest(catalogs: &[CatalogUsed]) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for c in catalogs {
        hasher.update(c.path.as_bytes());
        hasher.update(&[0]);
        hasher.update(c.xxh3.as_bytes());
        hasher.update(&[0]);
    }
    format!("{:016x}", hasher.digest())
}

/// Fills in the package and version of the catalogs dpkg's database (`dpkg_dir`, normally
/// `/var/lib/dpkg`) lists as installed files. Only absolute paths are looked up; a machine
/// without dpkg leaves every entry as it was.
pub fn add_owners(catalogs: &mut [CatalogUsed], dpkg_dir: &Path) {
    if !catalogs.iter().any(|c| c.path.starts_with('/')) {
        return;
    }
    let wanted: HashMap<&str, usize> = catalogs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.path.as_str(), i))
        .collect();
    let mut owner: BTreeMap<usize, String> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dpkg_dir.join("info")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = name.strip_suffix(".list") else {
            continue;
        };
        // Multi-arch packages list as `name:arch.list`.
        let package = package.split(':').next().unwrap_or(package);
        let Ok(list) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in list.lines() {
            if let Some(&i) = wanted.get(line) {
                owner.insert(i, package.to_string());
            }
        }
    }
    let versions = installed_versions(&dpkg_dir.join("status"));
    for (i, package) in owner {
        catalogs[i].version = versions.get(&package).cloned();
        catalogs[i].package = Some(package);
    }
}

/// Package → version of the installed packages in dpkg's `status` file.
fn installed_versions(status: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(status) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).map(str::trim).map(str::to_string))
        };
        if let (Some(package), Some(version)) = (field("Package:"), field("Version:")) {
            out.insert(package, version);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_versions_come_from_dpkgs_database() {
        let dir = tempfile::tempdir().unwrap();
        let dpkg = dir.path();
        std::fs::create_dir_all(dpkg.join("info")).unwrap();
        std::fs::write(
            dpkg.join("info/bash.list"),
            "/.\n/usr/share/locale/de/LC_MESSAGES/bash.mo\n",
        )
        .unwrap();
        std::fs::write(
            dpkg.join("info/libc-bin:amd64.list"),
            "/usr/share/locale/de/LC_MESSAGES/libc.mo\n",
        )
        .unwrap();
        std::fs::write(
            dpkg.join("status"),
            "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\n\n\
             Package: libc-bin\nVersion: 2.36-9\n",
        )
        .unwrap();
        let mut catalogs = vec![
            CatalogUsed::new(Path::new("/usr/share/locale/de/LC_MESSAGES/bash.mo"), b"a"),
            CatalogUsed::new(Path::new("/usr/share/locale/de/LC_MESSAGES/libc.mo"), b"b"),
            CatalogUsed::new(Path::new("assets/games/de/LC_MESSAGES/x.mo"), b"c"),
        ];
        let before = digest(&catalogs);
        add_owners(&mut catalogs, dpkg);
        assert_eq!(catalogs[0].package.as_deref(), Some("bash"));
        assert_eq!(catalogs[0].version.as_deref(), Some("5.2.15-2+b7"));
        assert_eq!(catalogs[1].package.as_deref(), Some("libc-bin"));
        assert_eq!(catalogs[1].version.as_deref(), Some("2.36-9"));
        assert_eq!(catalogs[2].package, None);
        // The digest covers the files, not what dpkg says of them.
        assert_eq!(digest(&catalogs), before);
        catalogs[2].xxh3 = "0".into();
        assert_ne!(digest(&catalogs), before);
    }
}
