//! `skill.toml` cases, one folder each (Spin's layout): `skill.toml` and
//! `expected.txt`, which holds either `ok` or the exact error as
//! `LINE:COLUMN: message` (`0:0:` when it is about the file as a whole).
//! Set `TGW_BLESS=1` to write what the parser says into missing files.

use std::fs;
use std::path::Path;

use tgw::registry::Manifest;

#[test]
fn manifest_cases() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests");
    let mut dirs: Vec<_> = fs::read_dir(&cases)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    for dir in &dirs {
        let file = dir.join("skill.toml");
        let text = fs::read_to_string(&file).unwrap();
        let got = match Manifest::parse(&file, &text) {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                assert_eq!(e.file, file, "the error names the file");
                format!("{}:{}: {}", e.line, e.column, e.message)
            }
        };
        let expected_file = dir.join("expected.txt");
        match fs::read_to_string(&expected_file) {
            Ok(expected) if expected.trim_end() == got => {}
            Ok(expected) => failures.push(format!(
                "{}:\n  expected: {}\n  got:      {got}",
                dir.display(),
                expected.trim_end()
            )),
            Err(_) if std::env::var_os("TGW_BLESS").is_some() => {
                fs::write(&expected_file, format!("{got}\n")).unwrap();
            }
            Err(_) => failures.push(format!("{}: no expected.txt (got: {got})", dir.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(dirs.len() >= 20, "the cases folder went missing");
}

#[test]
fn the_deprecated_roles_key_keeps_roles_and_reads_other_names_as_groups() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests/access-roles-deprecated/skill.toml");
    let manifest = Manifest::parse(&file, &fs::read_to_string(&file).unwrap()).unwrap();
    let groups: Vec<&str> = manifest
        .audience
        .groups
        .iter()
        .map(tgw::ids::GroupName::as_str)
        .collect();
    assert_eq!(groups, ["billing"]);
    assert_eq!(manifest.audience.roles, [tgw::ids::Role::Approver]);
    assert!(
        manifest.audience.admits(tgw::ids::Role::Admin, &[]),
        "admins may use every skill"
    );
    assert!(!manifest.audience.admits(tgw::ids::Role::User, &[]));
}
