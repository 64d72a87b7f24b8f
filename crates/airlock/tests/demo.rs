//! `airlock demo` end to end, as the README runs it: an embedded endpoint, the seed blueprint
//! applied, checked, verified and destroyed. No AWS CLI involved.

use std::process::Command;

fn demo(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("demo")
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

#[test]
fn demo_hardened_passes_every_check_and_cleans_up() {
    let (code, out) = demo(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("apply: 0 changed"), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(out.contains("Every layer holds"), "{out}");
    assert!(out.contains("destroy: "), "{out}");
    // stderr is a pipe here: no progress line, no carriage return or erase sequence
    assert!(!out.contains('\r') && !out.contains("\x1b[2K"), "{out:?}");
    assert!(
        !out.contains("… apply: step") && !out.contains("… verify"),
        "{out}"
    );
}

#[test]
fn demo_as_written_fails_exactly_the_expected_probes() {
    let (code, out) = demo(&["--as-written"]);
    assert_eq!(code, 0, "{out}");
    for probe in [
        "probe-other-kms-key",
        "probe-plain-http",
        "probe-other-principal",
    ] {
        assert!(
            out.contains(&format!("✗ {probe}")),
            "{probe} should fail:\n{out}"
        );
    }
    assert!(out.contains("3 failed"), "{out}");
    assert!(out.contains("Exactly those failed, as expected"), "{out}");
}
