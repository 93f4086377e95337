//! Where user modules come from: the module roots of the workspace's `bylaw.toml`
//! (`[modules] paths = ["lib"]`), the directory of the file that says `use ./x`, and
//! the files themselves — read from disk, or from a bundle's sources in memory.
//!
//! Paths are handled lexically (`a/./b/../c` is `a/c`) and never made absolute, so
//! that diagnostics name files the way the user wrote them, and a bundle, whose files
//! have no disk, resolves its `use` lines exactly as the disk did.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The file name of a workspace's configuration.
pub const CONFIG_FILE: &str = "bylaw.toml";

/// How a policy's `use` lines find user modules. `std::…` needs none of it.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    /// The directory of the policy file: `use ./x` in the policy starts there. `None`
    /// when the policy was not read from a file (a string compiled by a host).
    policy_dir: Option<PathBuf>,
    /// `[modules] paths`, in order: `use acme::x` is the first `ROOT/acme/x.bylaw`.
    roots: Vec<PathBuf>,
    /// The `bylaw.toml` the roots came from, for messages.
    config: Option<PathBuf>,
    files: Files,
}

#[derive(Debug, Clone, Default)]
enum Files {
    #[default]
    Disk,
    Memory(BTreeMap<PathBuf, String>),
    /// `git show REV:./PATH`: a policy at a git revision uses its modules at that
    /// revision (`bylaw diff main:policy.bylaw policy.bylaw`).
    Git(String),
}

/// What reading a module file gave.
pub(super) enum Read {
    Text(String),
    Missing,
    Unreadable(String),
}

impl Loader {
    /// Standard-library modules only: a policy compiled from a string.
    pub fn stdlib_only() -> Self {
        Loader::default()
    }

    /// The loader for a policy read from `path`: relative `use` from its directory,
    /// module roots from the nearest `bylaw.toml` in it or above it.
    pub fn for_policy(path: &Path) -> Result<Self, String> {
        let dir = parent_dir(path);
        let mut loader = Loader {
            policy_dir: Some(dir.clone()),
            ..Loader::default()
        };
        if let Some(config) = find_config(&dir) {
            let text = std::fs::read_to_string(&config)
                .map_err(|e| format!("cannot read `{}`: {e}", config.display()))?;
            let paths = module_paths(&text).map_err(|e| format!("`{}`: {e}", config.display()))?;
            let base = parent_dir(&config);
            loader.roots = paths.iter().map(|p| normalize(&base.join(p))).collect();
            loader.config = Some(config);
        }
        Ok(loader)
    }

    /// A loader over files held in memory (a bundle's), keyed by the paths they had.
    pub fn in_memory(
        policy_dir: PathBuf,
        roots: Vec<PathBuf>,
        files: BTreeMap<PathBuf, String>,
    ) -> Self {
        Loader {
            policy_dir: Some(policy_dir),
            roots,
            config: None,
            files: Files::Memory(files),
        }
    }

    /// The same loader, reading module files as they are at a git revision.
    pub fn at_git_revision(self, revision: &str) -> Self {
        Loader {
            files: Files::Git(revision.to_string()),
            ..self
        }
    }

    pub fn policy_dir(&self) -> Option<&Path> {
        self.policy_dir.as_deref()
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The first module root holding `parts` as `ROOT/a/b/c.bylaw`.
    pub(super) fn find_in_roots(&self, parts: &[&str]) -> Option<PathBuf> {
        self.roots
            .iter()
            .map(|root| module_file(root, parts))
            .find(|path| self.exists(path))
    }

    fn exists(&self, path: &Path) -> bool {
        match &self.files {
            Files::Disk => path.is_file(),
            Files::Memory(files) => files.contains_key(path),
            Files::Git(_) => matches!(self.read(path), Read::Text(_)),
        }
    }

    pub(super) fn read(&self, path: &Path) -> Read {
        match &self.files {
            Files::Disk => match std::fs::read(path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => Read::Text(text),
                    Err(_) => Read::Unreadable("it is not UTF-8 text".to_string()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Read::Missing,
                Err(e) => Read::Unreadable(e.to_string()),
            },
            Files::Memory(files) => match files.get(path) {
                Some(text) => Read::Text(text.clone()),
                None => Read::Missing,
            },
            Files::Git(revision) => git_show(revision, path),
        }
    }
}

fn git_show(revision: &str, path: &Path) -> Read {
    let spec = if path.is_absolute() {
        format!("{revision}:{}", path.display())
    } else {
        format!("{revision}:./{}", path.display())
    };
    match std::process::Command::new("git")
        .args(["show", &spec])
        .output()
    {
        Ok(out) if out.status.success() => match String::from_utf8(out.stdout) {
            Ok(text) => Read::Text(text),
            Err(_) => Read::Unreadable("it is not UTF-8 text".to_string()),
        },
        Ok(_) => Read::Missing,
        Err(e) => Read::Unreadable(format!("cannot run git: {e}")),
    }
}

/// `ROOT/a/b/c.bylaw` for the parts `a`, `b`, `c`.
pub(super) fn module_file(dir: &Path, parts: &[&str]) -> PathBuf {
    let mut path = dir.to_path_buf();
    for part in parts {
        path.push(part);
    }
    path.set_extension("bylaw");
    normalize(&path)
}

/// The directory a file is in, `.` for a bare file name.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `a/./b/../c` → `a/c`; a leading `..` stays (it leaves the starting directory).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(component),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// `to` as a path from the directory `from`, lexically (`a/b`, `a/c/x` → `../c/x`).
/// Both are made absolute first when only one of them is.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (from, to) = if from.is_absolute() == to.is_absolute() {
        (normalize(from), normalize(to))
    } else {
        let absolute =
            |p: &Path| std::path::absolute(p).map_or_else(|_| normalize(p), |a| normalize(&a));
        (absolute(from), absolute(to))
    };
    let from: Vec<Component> = from
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let to_parts: Vec<Component> = to
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part.as_os_str());
    }
    out
}

/// The nearest `bylaw.toml` in `dir` or a directory above it.
fn find_config(dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(dir).ok()?;
    let found = start
        .ancestors()
        .map(|d| d.join(CONFIG_FILE))
        .find(|p| p.is_file())?;
    // Named relative to the working directory when it is under it, as the user's own
    // paths are.
    let cwd = std::env::current_dir().ok();
    Some(
        match cwd.and_then(|cwd| found.strip_prefix(&cwd).ok().map(Path::to_path_buf)) {
            Some(relative) => relative,
            None => found,
        },
    )
}

/// `[modules] paths = ["lib", …]` of a `bylaw.toml`; none when it has no `[modules]`.
pub fn module_paths(text: &str) -> Result<Vec<PathBuf>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let Some(modules) = table.get("modules") else {
        return Ok(Vec::new());
    };
    let modules = modules
        .as_table()
        .ok_or("`modules` must be a table: [modules]")?;
    if let Some(key) = modules.keys().find(|k| *k != "paths") {
        return Err(format!(
            "[modules] has no setting `{key}`; it has `paths`, a list of directories"
        ));
    }
    let Some(paths) = modules.get("paths") else {
        return Ok(Vec::new());
    };
    let paths = paths
        .as_array()
        .ok_or("[modules] paths must be a list of directories, such as [\"lib\"]")?;
    paths
        .iter()
        .map(|p| {
            p.as_str().map(PathBuf::from).ok_or_else(|| {
                "[modules] paths must be a list of directories, such as [\"lib\"]".to_string()
            })
        })
        .collect()
}

/// How a relative module is named in rule ids and messages: its path from the
/// policy's directory, `::`-separated, with `super` for each level above it
/// (`common/x.bylaw` → `common::x`, `../lib/x.bylaw` → `super::lib::x`).
pub(super) fn relative_name(policy_dir: &Path, file: &Path) -> String {
    let dir = normalize(policy_dir);
    let file = normalize(&file.with_extension(""));
    let dir: Vec<Component> = dir
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let file: Vec<Component> = file.components().collect();
    let common = dir.iter().zip(&file).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["super".to_string(); dir.len() - common];
    parts.extend(file[common..].iter().map(|c| match c {
        Component::ParentDir => "super".to_string(),
        other => other.as_os_str().to_string_lossy().to_string(),
    }));
    parts.join("::")
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "the configurations under test are known to parse, or known not to"
)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("./a/../../b")), PathBuf::from("../b"));
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
        assert_eq!(normalize(Path::new("a/..")), PathBuf::from("."));
    }

    #[test]
    fn relative_paths_go_up_and_down_from_a_directory() {
        assert_eq!(
            relative_path(Path::new("w/agents"), Path::new("w/common/x.bylaw")),
            PathBuf::from("../common/x.bylaw")
        );
        assert_eq!(
            relative_path(Path::new("."), Path::new("lib/x.bylaw")),
            PathBuf::from("lib/x.bylaw")
        );
        assert_eq!(
            relative_path(Path::new("w"), Path::new("w/./lib/../lib/x.bylaw")),
            PathBuf::from("lib/x.bylaw")
        );
    }

    #[test]
    fn relative_modules_are_named_from_the_policy_directory() {
        let dir = Path::new("policies");
        assert_eq!(
            relative_name(dir, Path::new("policies/common/x.bylaw")),
            "common::x"
        );
        assert_eq!(
            relative_name(dir, Path::new("lib/x.bylaw")),
            "super::lib::x"
        );
        assert_eq!(relative_name(Path::new("."), Path::new("x.bylaw")), "x");
    }

    #[test]
    fn module_paths_are_read_from_the_modules_table() {
        assert_eq!(
            module_paths("[modules]\npaths = [\"lib\", \"vendor\"]\n").unwrap(),
            [PathBuf::from("lib"), PathBuf::from("vendor")]
        );
        assert!(module_paths("[lint]\n").unwrap().is_empty());
        assert!(module_paths("[modules]\npaths = \"lib\"\n").is_err());
        assert!(
            module_paths("[modules]\npath = [\"lib\"]\n")
                .unwrap_err()
                .contains("no setting `path`")
        );
    }
}
