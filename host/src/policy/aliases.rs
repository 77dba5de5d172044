//! `[aliases]` in `policy.toml`: public names under which MCP clients see
//! and call tools. `tgw-conformance = "files.read_file"` lists
//! `files.read_file` as `tgw-conformance`; the proposal, the policy's
//! decision, the approval card and the audit log still name
//! `files.read_file`, so an alias changes what a client types and nothing
//! of what is decided.
//!
//! An alias is ASCII letters, digits, `_` and `-`: it has no `.`, so it can
//! never be taken for, or collide with, a `skill.tool` name. A tool has at
//! most one alias, and two aliases are two different names (TOML keys).

use std::collections::BTreeMap;

use tgw_parse::names::{SkillName, ToolName};

/// The aliases of a policy, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    /// Alias → `skill.tool`.
    targets: BTreeMap<String, String>,
    /// `skill.tool` → alias.
    names: BTreeMap<String, String>,
}

/// Whether `alias` may be an alias (see the module's docs).
fn is_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias.len() <= 128
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Aliases {
    /// Checks `table` (alias → `skill.tool`): every alias well formed,
    /// every target a skill and tool name, no tool with two aliases. The
    /// error names the alias.
    pub fn new<'a>(
        table: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Aliases, (String, String)> {
        let mut aliases = Aliases::default();
        for (alias, target) in table {
            let refused = |why: String| (alias.to_owned(), why);
            if !is_alias(alias) {
                return Err(refused(
                    "an alias is 1 to 128 ASCII letters, digits, `_` and `-` (no `.`, so it \
                     never collides with a skill.tool name)"
                        .into(),
                ));
            }
            let Some((skill, tool)) = target.split_once('.') else {
                return Err(refused(format!("{target:?} is not skill.tool")));
            };
            if SkillName::new(skill).is_err() || ToolName::new(tool).is_err() {
                return Err(refused(format!("{target:?} is not skill.tool")));
            }
            if let Some(other) = aliases.names.insert(target.to_owned(), alias.to_owned()) {
                return Err(refused(format!(
                    "{target} has the alias {other:?} already (a tool has one public name)"
                )));
            }
            aliases.targets.insert(alias.to_owned(), target.to_owned());
        }
        Ok(aliases)
    }

    /// The `skill.tool` an alias names.
    pub fn target(&self, alias: &str) -> Option<&str> {
        self.targets.get(alias).map(String::as_str)
    }

    /// The alias of `skill.tool`, if it has one.
    pub fn alias_of(&self, qualified: &str) -> Option<&str> {
        self.names.get(qualified).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_plain_names_of_skill_tools_one_each() {
        let ok = Aliases::new([("test_simple_text", "files.read_file")])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.target("test_simple_text"), Some("files.read_file"));
        assert_eq!(ok.alias_of("files.read_file"), Some("test_simple_text"));
        assert_eq!(ok.target("files.read_file"), None);
        for (alias, target, why) in [
            ("files.read", "files.read_file", "no `.`"),
            ("", "files.read_file", "1 to 128"),
            ("r\u{200b}ead", "files.read_file", "ASCII"),
            (&"a".repeat(129) as &str, "files.read_file", "1 to 128"),
            ("read", "files", "not skill.tool"),
            ("read", "Files.read_file", "not skill.tool"),
            ("read", "files.read file", "not skill.tool"),
        ] {
            let Err((named, refused)) = Aliases::new([(alias, target)]) else {
                panic!("{alias:?} = {target:?} was taken");
            };
            assert_eq!(named, alias);
            assert!(refused.contains(why), "{alias:?}: {refused}");
        }
        let Err((named, refused)) =
            Aliases::new([("a", "files.read_file"), ("b", "files.read_file")])
        else {
            panic!("one tool took two aliases");
        };
        assert_eq!(named, "b");
        assert!(refused.contains("has the alias \"a\""), "{refused}");
    }
}
